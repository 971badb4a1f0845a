;; WebAssembly SIMD kernels for the implicit module's matrix product, the
;; product its solves spend their time in (core/internal/gemm). The Go guest
;; imports them as implicit_kernels.f64_muladd through its host (package
;; host, wasm/js), which instantiates this module against the guest's own
;; memory (imported as implicit.memory).
;;
;; f64_muladd(c, a, b, m, k, np, ldc) sets C += A·B for the np full panels
;; of B: A is m×k (row-major, at byte offset a), B is packed as the gemm
;; package packs it (panels of 8 columns, k rows of 8 values each, one after
;; the other from b), C's rows are ldc values apart (from c). Each output is
;; summed as the Go kernels sum it: one accumulator from +0, a product then
;; an addition (two roundings, no fused multiply-add) for each l in order,
;; then added to C. So the results are the Go kernels' bit for bit. Rows go
;; in pairs (eight f64x2 accumulators, two rows by eight columns): m is even
;; (an odd m leaves the last row alone). The guest runs a last odd row, and a
;; single sample, in Go, whose sparse kernel skips a relu's zeros without a
;; branch per element.
;;
;; Build: wat2wasm kernels.wat -o ../kernels.wasm (wabt 1.0.32, Debian's;
;; go run ./wasm/internal/build -check verifies the committed file).
(module
  (import "implicit" "memory" (memory 0))
  (func (export "f64_muladd")
    (param $c i32) (param $a i32) (param $b i32) (param $m i32) (param $k i32) (param $np i32) (param $ldc i32)
    (local $i i32) (local $j i32)
    (local $rowa i32) (local $la0 i32) (local $la1 i32)
    (local $pb i32) (local $pe i32) (local $pc i32)
    (local $ldcb i32) (local $ldab i32) (local $psize i32)
    (local $x0 v128) (local $x1 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local $c0 v128)
    (local $c1 v128)
    (local $c2 v128)
    (local $c3 v128)
    (local $c4 v128)
    (local $c5 v128)
    (local $c6 v128)
    (local $c7 v128)
    (local.set $ldcb (i32.shl (local.get $ldc) (i32.const 3)))
    (local.set $ldab (i32.shl (local.get $k) (i32.const 3)))
    (local.set $psize (i32.shl (local.get $k) (i32.const 6)))
    ;; Rows in pairs.
    (block $pairsdone
      (loop $pairs
        (br_if $pairsdone (i32.gt_s (i32.add (local.get $i) (i32.const 2)) (local.get $m)))
        (local.set $rowa (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $ldab))))
        (local.set $j (i32.const 0))
        (block $panelsdone
          (loop $panels
            (br_if $panelsdone (i32.ge_s (local.get $j) (local.get $np)))
            (local.set $pb (i32.add (local.get $b) (i32.mul (local.get $j) (local.get $psize))))
            (local.set $pe (i32.add (local.get $pb) (local.get $psize)))
            (local.set $la0 (local.get $rowa))
            (local.set $la1 (i32.add (local.get $rowa) (local.get $ldab)))
            (local.set $c0 (v128.const i64x2 0 0))
            (local.set $c1 (v128.const i64x2 0 0))
            (local.set $c2 (v128.const i64x2 0 0))
            (local.set $c3 (v128.const i64x2 0 0))
            (local.set $c4 (v128.const i64x2 0 0))
            (local.set $c5 (v128.const i64x2 0 0))
            (local.set $c6 (v128.const i64x2 0 0))
            (local.set $c7 (v128.const i64x2 0 0))
            (block $kdone
              (loop $steps
                (br_if $kdone (i32.ge_u (local.get $pb) (local.get $pe)))
            (local.set $b0 (v128.load offset=0 (local.get $pb)))
            (local.set $b1 (v128.load offset=16 (local.get $pb)))
            (local.set $b2 (v128.load offset=32 (local.get $pb)))
            (local.set $b3 (v128.load offset=48 (local.get $pb)))
                (local.set $x0 (f64x2.splat (f64.load (local.get $la0))))
                (local.set $x1 (f64x2.splat (f64.load (local.get $la1))))
            (local.set $c0 (f64x2.add (local.get $c0) (f64x2.mul (local.get $x0) (local.get $b0))))
            (local.set $c1 (f64x2.add (local.get $c1) (f64x2.mul (local.get $x0) (local.get $b1))))
            (local.set $c2 (f64x2.add (local.get $c2) (f64x2.mul (local.get $x0) (local.get $b2))))
            (local.set $c3 (f64x2.add (local.get $c3) (f64x2.mul (local.get $x0) (local.get $b3))))
            (local.set $c4 (f64x2.add (local.get $c4) (f64x2.mul (local.get $x1) (local.get $b0))))
            (local.set $c5 (f64x2.add (local.get $c5) (f64x2.mul (local.get $x1) (local.get $b1))))
            (local.set $c6 (f64x2.add (local.get $c6) (f64x2.mul (local.get $x1) (local.get $b2))))
            (local.set $c7 (f64x2.add (local.get $c7) (f64x2.mul (local.get $x1) (local.get $b3))))
                (local.set $pb (i32.add (local.get $pb) (i32.const 64)))
                (local.set $la0 (i32.add (local.get $la0) (i32.const 8)))
                (local.set $la1 (i32.add (local.get $la1) (i32.const 8)))
                (br $steps)))
            (local.set $pc (i32.add (local.get $c)
              (i32.add (i32.mul (local.get $i) (local.get $ldcb)) (i32.shl (local.get $j) (i32.const 6)))))
            (v128.store offset=0 (local.get $pc) (f64x2.add (v128.load offset=0 (local.get $pc)) (local.get $c0)))
            (v128.store offset=16 (local.get $pc) (f64x2.add (v128.load offset=16 (local.get $pc)) (local.get $c1)))
            (v128.store offset=32 (local.get $pc) (f64x2.add (v128.load offset=32 (local.get $pc)) (local.get $c2)))
            (v128.store offset=48 (local.get $pc) (f64x2.add (v128.load offset=48 (local.get $pc)) (local.get $c3)))
            (local.set $pc (i32.add (local.get $pc) (local.get $ldcb)))
            (v128.store offset=0 (local.get $pc) (f64x2.add (v128.load offset=0 (local.get $pc)) (local.get $c4)))
            (v128.store offset=16 (local.get $pc) (f64x2.add (v128.load offset=16 (local.get $pc)) (local.get $c5)))
            (v128.store offset=32 (local.get $pc) (f64x2.add (v128.load offset=32 (local.get $pc)) (local.get $c6)))
            (v128.store offset=48 (local.get $pc) (f64x2.add (v128.load offset=48 (local.get $pc)) (local.get $c7)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $panels)))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $pairs)))
  )
)
