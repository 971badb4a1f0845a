;; WebAssembly SIMD kernels for the implicit module's matrix product, the
;; product its solves spend their time in (core/internal/gemm), in float64
;; and in float32. The Go guest imports them as implicit_kernels.f64_muladd
;; and f32_muladd through its host (package host, wasm/js), which
;; instantiates this module against the guest's own memory (imported as
;; implicit.memory).
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

  ;; f32_muladd(c, a, b, m, k, np, ldc) is f64_muladd in float32 (the gemm
  ;; package's PackFloat32): B is packed as panels of 16 float32 columns (k
  ;; rows of 16 values each), A is m×k float32 (the guest rounds A's rows to
  ;; float32 as it copies them), C is float64 as before. Each output is a lane
  ;; of an f32x4 accumulator, summed as the Go float32 kernels sum it: from
  ;; +0, an f32x4.mul then an f32x4.add for each l in order, then promoted to
  ;; float64 (exactly) and added to C in float64, the Go kernels'
  ;; c += float64(acc). Rows go in pairs (eight f32x4 accumulators, two rows
  ;; by sixteen columns), four steps of l at a time: a v128 load brings four
  ;; values of each row, whose lanes are splat in turn. Under wazero that is
  ;; about 1.5x a step at a time (with v128.load32_splat) and a little ahead
  ;; of four steps with four splat loads.
  (func (export "f32_muladd")
    (param $c i32) (param $a i32) (param $b i32) (param $m i32) (param $k i32) (param $np i32) (param $ldc i32)
    (local $i i32) (local $j i32)
    (local $rowa i32) (local $la0 i32) (local $la1 i32)
    (local $pb i32) (local $pe i32) (local $pc i32)
    (local $ldcb i32) (local $ldab i32) (local $psize i32)
    (local $a0 v128) (local $a1 v128)
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
    (local.set $ldab (i32.shl (local.get $k) (i32.const 2)))
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
            ;; Four steps while four are left.
            (block $fourdone
              (loop $fours
                (br_if $fourdone (i32.lt_u (i32.sub (local.get $pe) (local.get $pb)) (i32.const 256)))
                (local.set $a0 (v128.load (local.get $la0)))
                (local.set $a1 (v128.load (local.get $la1)))
                (local.set $b0 (v128.load offset=0 (local.get $pb)))
                (local.set $b1 (v128.load offset=16 (local.get $pb)))
                (local.set $b2 (v128.load offset=32 (local.get $pb)))
                (local.set $b3 (v128.load offset=48 (local.get $pb)))
                (local.set $x0 (f32x4.splat (f32x4.extract_lane 0 (local.get $a0))))
                (local.set $x1 (f32x4.splat (f32x4.extract_lane 0 (local.get $a1))))
                (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $x0) (local.get $b0))))
                (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $x0) (local.get $b1))))
                (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (local.get $x0) (local.get $b2))))
                (local.set $c3 (f32x4.add (local.get $c3) (f32x4.mul (local.get $x0) (local.get $b3))))
                (local.set $c4 (f32x4.add (local.get $c4) (f32x4.mul (local.get $x1) (local.get $b0))))
                (local.set $c5 (f32x4.add (local.get $c5) (f32x4.mul (local.get $x1) (local.get $b1))))
                (local.set $c6 (f32x4.add (local.get $c6) (f32x4.mul (local.get $x1) (local.get $b2))))
                (local.set $c7 (f32x4.add (local.get $c7) (f32x4.mul (local.get $x1) (local.get $b3))))
                (local.set $b0 (v128.load offset=64 (local.get $pb)))
                (local.set $b1 (v128.load offset=80 (local.get $pb)))
                (local.set $b2 (v128.load offset=96 (local.get $pb)))
                (local.set $b3 (v128.load offset=112 (local.get $pb)))
                (local.set $x0 (f32x4.splat (f32x4.extract_lane 1 (local.get $a0))))
                (local.set $x1 (f32x4.splat (f32x4.extract_lane 1 (local.get $a1))))
                (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $x0) (local.get $b0))))
                (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $x0) (local.get $b1))))
                (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (local.get $x0) (local.get $b2))))
                (local.set $c3 (f32x4.add (local.get $c3) (f32x4.mul (local.get $x0) (local.get $b3))))
                (local.set $c4 (f32x4.add (local.get $c4) (f32x4.mul (local.get $x1) (local.get $b0))))
                (local.set $c5 (f32x4.add (local.get $c5) (f32x4.mul (local.get $x1) (local.get $b1))))
                (local.set $c6 (f32x4.add (local.get $c6) (f32x4.mul (local.get $x1) (local.get $b2))))
                (local.set $c7 (f32x4.add (local.get $c7) (f32x4.mul (local.get $x1) (local.get $b3))))
                (local.set $b0 (v128.load offset=128 (local.get $pb)))
                (local.set $b1 (v128.load offset=144 (local.get $pb)))
                (local.set $b2 (v128.load offset=160 (local.get $pb)))
                (local.set $b3 (v128.load offset=176 (local.get $pb)))
                (local.set $x0 (f32x4.splat (f32x4.extract_lane 2 (local.get $a0))))
                (local.set $x1 (f32x4.splat (f32x4.extract_lane 2 (local.get $a1))))
                (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $x0) (local.get $b0))))
                (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $x0) (local.get $b1))))
                (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (local.get $x0) (local.get $b2))))
                (local.set $c3 (f32x4.add (local.get $c3) (f32x4.mul (local.get $x0) (local.get $b3))))
                (local.set $c4 (f32x4.add (local.get $c4) (f32x4.mul (local.get $x1) (local.get $b0))))
                (local.set $c5 (f32x4.add (local.get $c5) (f32x4.mul (local.get $x1) (local.get $b1))))
                (local.set $c6 (f32x4.add (local.get $c6) (f32x4.mul (local.get $x1) (local.get $b2))))
                (local.set $c7 (f32x4.add (local.get $c7) (f32x4.mul (local.get $x1) (local.get $b3))))
                (local.set $b0 (v128.load offset=192 (local.get $pb)))
                (local.set $b1 (v128.load offset=208 (local.get $pb)))
                (local.set $b2 (v128.load offset=224 (local.get $pb)))
                (local.set $b3 (v128.load offset=240 (local.get $pb)))
                (local.set $x0 (f32x4.splat (f32x4.extract_lane 3 (local.get $a0))))
                (local.set $x1 (f32x4.splat (f32x4.extract_lane 3 (local.get $a1))))
                (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $x0) (local.get $b0))))
                (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $x0) (local.get $b1))))
                (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (local.get $x0) (local.get $b2))))
                (local.set $c3 (f32x4.add (local.get $c3) (f32x4.mul (local.get $x0) (local.get $b3))))
                (local.set $c4 (f32x4.add (local.get $c4) (f32x4.mul (local.get $x1) (local.get $b0))))
                (local.set $c5 (f32x4.add (local.get $c5) (f32x4.mul (local.get $x1) (local.get $b1))))
                (local.set $c6 (f32x4.add (local.get $c6) (f32x4.mul (local.get $x1) (local.get $b2))))
                (local.set $c7 (f32x4.add (local.get $c7) (f32x4.mul (local.get $x1) (local.get $b3))))
                (local.set $pb (i32.add (local.get $pb) (i32.const 256)))
                (local.set $la0 (i32.add (local.get $la0) (i32.const 16)))
                (local.set $la1 (i32.add (local.get $la1) (i32.const 16)))
                (br $fours)))
            ;; The last one to three.
            (block $kdone
              (loop $steps
                (br_if $kdone (i32.ge_u (local.get $pb) (local.get $pe)))
                (local.set $b0 (v128.load offset=0 (local.get $pb)))
                (local.set $b1 (v128.load offset=16 (local.get $pb)))
                (local.set $b2 (v128.load offset=32 (local.get $pb)))
                (local.set $b3 (v128.load offset=48 (local.get $pb)))
                (local.set $x0 (v128.load32_splat (local.get $la0)))
                (local.set $x1 (v128.load32_splat (local.get $la1)))
                (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $x0) (local.get $b0))))
                (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $x0) (local.get $b1))))
                (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (local.get $x0) (local.get $b2))))
                (local.set $c3 (f32x4.add (local.get $c3) (f32x4.mul (local.get $x0) (local.get $b3))))
                (local.set $c4 (f32x4.add (local.get $c4) (f32x4.mul (local.get $x1) (local.get $b0))))
                (local.set $c5 (f32x4.add (local.get $c5) (f32x4.mul (local.get $x1) (local.get $b1))))
                (local.set $c6 (f32x4.add (local.get $c6) (f32x4.mul (local.get $x1) (local.get $b2))))
                (local.set $c7 (f32x4.add (local.get $c7) (f32x4.mul (local.get $x1) (local.get $b3))))
                (local.set $pb (i32.add (local.get $pb) (i32.const 64)))
                (local.set $la0 (i32.add (local.get $la0) (i32.const 4)))
                (local.set $la1 (i32.add (local.get $la1) (i32.const 4)))
                (br $steps)))
            ;; Lanes 0, 1 of an accumulator by promote_low, lanes 2, 3 by
            ;; promote_low after a shuffle that brings them down.
            (local.set $pc (i32.add (local.get $c)
              (i32.add (i32.mul (local.get $i) (local.get $ldcb)) (i32.shl (local.get $j) (i32.const 7)))))
            (v128.store offset=0 (local.get $pc) (f64x2.add (v128.load offset=0 (local.get $pc)) (f64x2.promote_low_f32x4 (local.get $c0))))
            (v128.store offset=16 (local.get $pc) (f64x2.add (v128.load offset=16 (local.get $pc))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $c0) (local.get $c0)))))
            (v128.store offset=32 (local.get $pc) (f64x2.add (v128.load offset=32 (local.get $pc)) (f64x2.promote_low_f32x4 (local.get $c1))))
            (v128.store offset=48 (local.get $pc) (f64x2.add (v128.load offset=48 (local.get $pc))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $c1) (local.get $c1)))))
            (v128.store offset=64 (local.get $pc) (f64x2.add (v128.load offset=64 (local.get $pc)) (f64x2.promote_low_f32x4 (local.get $c2))))
            (v128.store offset=80 (local.get $pc) (f64x2.add (v128.load offset=80 (local.get $pc))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $c2) (local.get $c2)))))
            (v128.store offset=96 (local.get $pc) (f64x2.add (v128.load offset=96 (local.get $pc)) (f64x2.promote_low_f32x4 (local.get $c3))))
            (v128.store offset=112 (local.get $pc) (f64x2.add (v128.load offset=112 (local.get $pc))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $c3) (local.get $c3)))))
            (local.set $pc (i32.add (local.get $pc) (local.get $ldcb)))
            (v128.store offset=0 (local.get $pc) (f64x2.add (v128.load offset=0 (local.get $pc)) (f64x2.promote_low_f32x4 (local.get $c4))))
            (v128.store offset=16 (local.get $pc) (f64x2.add (v128.load offset=16 (local.get $pc))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $c4) (local.get $c4)))))
            (v128.store offset=32 (local.get $pc) (f64x2.add (v128.load offset=32 (local.get $pc)) (f64x2.promote_low_f32x4 (local.get $c5))))
            (v128.store offset=48 (local.get $pc) (f64x2.add (v128.load offset=48 (local.get $pc))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $c5) (local.get $c5)))))
            (v128.store offset=64 (local.get $pc) (f64x2.add (v128.load offset=64 (local.get $pc)) (f64x2.promote_low_f32x4 (local.get $c6))))
            (v128.store offset=80 (local.get $pc) (f64x2.add (v128.load offset=80 (local.get $pc))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $c6) (local.get $c6)))))
            (v128.store offset=96 (local.get $pc) (f64x2.add (v128.load offset=96 (local.get $pc)) (f64x2.promote_low_f32x4 (local.get $c7))))
            (v128.store offset=112 (local.get $pc) (f64x2.add (v128.load offset=112 (local.get $pc))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $c7) (local.get $c7)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $panels)))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $pairs)))
  )
)
