package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naive is the reference: c += a·b, row-major.
func naive(c, a, b []float64, m, k, n int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for l := 0; l < k; l++ {
				s += a[i*k+l] * b[l*n+j]
			}
			c[i*n+j] += s
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = rng.NormFloat64()
	}
	return s
}

func checkShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s Scratch
	for m := 0; m <= 14; m++ {
		for _, k := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 33} {
			for _, n := range []int{1, 3, 7, 8, 9, 15, 16, 17, 24, 31} {
				a, b := randSlice(rng, m*k), randSlice(rng, k*n)
				c := randSlice(rng, m*n)
				want := append([]float64(nil), c...)
				naive(want, a, b, m, k, n)
				Pack(b, k, n).MulAdd(c, a, m, &s)
				for i := range c {
					if math.Abs(c[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
						t.Fatalf("m=%d k=%d n=%d: c[%d] = %v, want %v", m, k, n, i, c[i], want[i])
					}
				}
			}
		}
	}
}

func TestMulAdd(t *testing.T) {
	t.Logf("accelerated: %v", Accelerated)
	checkShapes(t)
}

// The Go kernels must agree too, wherever the assembly runs.
func TestGenericKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{1, 4, 5, 64} {
		a, b := randSlice(rng, k*mr), randSlice(rng, k*nr)
		c1, c2 := randSlice(rng, mr*nr), make([]float64, mr*nr)
		copy(c2, c1)
		kern6x8(k, a, b, c1, nr)
		genericKern6x8(k, a, b, c2, nr)
		for i := range c1 {
			if math.Abs(c1[i]-c2[i]) > 1e-12*(1+math.Abs(c1[i])) {
				t.Fatalf("6x8 k=%d: %v vs %v", k, c1[i], c2[i])
			}
		}
		r1, r2 := randSlice(rng, nr), make([]float64, nr)
		copy(r2, r1)
		kern1x8(k, a[:k], b, r1)
		genericKern1x8(k, a[:k], b, r2)
		for i := range r1 {
			if math.Abs(r1[i]-r2[i]) > 1e-12*(1+math.Abs(r1[i])) {
				t.Fatalf("1x8 k=%d: %v vs %v", k, r1[i], r2[i])
			}
		}
	}
}

// BenchmarkMulAdd times both precisions on the same shapes; with
// `benchstat -col /prec` they come side by side.
func BenchmarkMulAdd(b *testing.B) {
	type shape struct {
		m, k, n int
		relu    bool // half of A zero, as after a relu, with Scratch.Sparse
	}
	var shapes []shape
	for _, m := range []int{1, 6, 64, 256} {
		for _, kn := range []int{64, 256, 1024} {
			shapes = append(shapes, shape{m, kn, kn, false})
			if m == 1 {
				shapes = append(shapes, shape{m, kn, kn, true})
			}
		}
	}
	for _, sh := range shapes {
		rng := rand.New(rand.NewPCG(5, 6))
		a, bm, c := randSlice(rng, sh.m*sh.k), randSlice(rng, sh.k*sh.n), make([]float64, sh.m*sh.n)
		name := fmtShape(sh.m, sh.k, sh.n)
		if sh.relu {
			for i := range a {
				a[i] = max(a[i], 0)
			}
			name += "/relu"
		}
		for _, prec := range []string{"f64", "f32"} {
			p := Pack(bm, sh.k, sh.n)
			if prec == "f32" {
				p = PackFloat32(bm, sh.k, sh.n)
			}
			s := Scratch{Sparse: sh.relu}
			b.Run(name+"/prec="+prec, func(b *testing.B) {
				for b.Loop() {
					p.MulAdd(c, a, sh.m, &s)
				}
				b.ReportMetric(2*float64(sh.m*sh.k*sh.n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

func fmtShape(m, k, n int) string {
	return "m=" + itoa(m) + "/k=" + itoa(k) + "/n=" + itoa(n)
}

func itoa(i int) string {
	s := ""
	for {
		s = string(rune('0'+i%10)) + s
		i /= 10
		if i == 0 {
			return s
		}
	}
}

// Rows that are mostly zeros, as after a relu, go through the sparse kernel
// where there is one; the result must be the dense kernel's bit for bit.
func TestSparseRowsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, k := range []int{1, 2, 3, 7, 8, 33, 64, 255, 256} {
		for _, n := range []int{8, 16, 17, 40, 64, 256} {
			b := randSlice(rng, k*n)
			p := Pack(b, k, n)
			for _, zeros := range []float64{0, 0.2, 0.5, 0.9, 1} {
				for m := 1; m <= 7; m++ {
					a := randSlice(rng, m*k)
					for i := range a {
						switch u := rng.Float64(); {
						case u < zeros/2:
							a[i] = 0
						case u < zeros:
							a[i] = math.Copysign(0, -1)
						}
					}
					c0 := randSlice(rng, m*n)
					dense, sparse := append([]float64(nil), c0...), append([]float64(nil), c0...)
					p.MulAdd(dense, a, m, &Scratch{})
					p.MulAdd(sparse, a, m, &Scratch{Sparse: true})
					for i := range dense {
						if math.Float64bits(dense[i]) != math.Float64bits(sparse[i]) {
							t.Fatalf("k=%d n=%d m=%d zeros %.1f: c[%d] = %v sparse, %v dense", k, n, m, zeros, i, sparse[i], dense[i])
						}
					}
				}
			}
		}
	}
}

// A row's result must not depend on the rest of the batch: its place in A,
// the number of rows, or whether it went through the 6×8 block or a
// single-row kernel. Splitting a batch over workers relies on this.
func TestRowsIndependentOfBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, k := range []int{1, 5, 33, 64} {
		for _, n := range []int{3, 8, 10, 16, 24, 40, 64, 72} {
			p := Pack(randSlice(rng, k*n), k, n)
			const m = 13
			a := randSlice(rng, m*k)
			for i := range a {
				if rng.Float64() < 0.5 {
					a[i] = 0 // relu-like rows exercise the sparse kernel
				}
			}
			c0 := randSlice(rng, m*n)
			for _, sparse := range []bool{false, true} {
				whole := append([]float64(nil), c0...)
				p.MulAdd(whole, a, m, &Scratch{Sparse: sparse})
				for _, split := range [][2]int{{0, 1}, {5, 6}, {12, 13}, {1, 7}, {3, 12}, {0, 6}} {
					lo, hi := split[0], split[1]
					part := append([]float64(nil), c0[lo*n:hi*n]...)
					p.MulAdd(part, a[lo*k:hi*k], hi-lo, &Scratch{Sparse: sparse})
					for q := range part {
						if math.Float64bits(part[q]) != math.Float64bits(whole[lo*n+q]) {
							t.Fatalf("k=%d n=%d sparse=%v rows %d..%d: c[%d] = %v, in the whole batch %v", k, n, sparse, lo, hi, lo*n+q, part[q], whole[lo*n+q])
						}
					}
				}
			}
		}
	}
}

// The assembly's order is one fused multiply-add per l, in order, from +0,
// then the sum added to c: exactly this loop.
func TestAssemblyOrder(t *testing.T) {
	if !Accelerated {
		t.Skip("no assembly kernels in this build")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for _, m := range []int{1, 2, 6, 7} {
		for _, k := range []int{1, 7, 64} {
			for _, n := range []int{8, 20, 32, 48} {
				a, b, c := randSlice(rng, m*k), randSlice(rng, k*n), randSlice(rng, m*n)
				want := append([]float64(nil), c...)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						var s float64
						for l := 0; l < k; l++ {
							s = math.FMA(a[i*k+l], b[l*n+j], s)
						}
						want[i*n+j] += s
					}
				}
				Pack(b, k, n).MulAdd(c, a, m, &Scratch{})
				for i := range c {
					if math.Float64bits(c[i]) != math.Float64bits(want[i]) {
						t.Fatalf("m=%d k=%d n=%d: c[%d] = %v, want %v", m, k, n, i, c[i], want[i])
					}
				}
			}
		}
	}
}
