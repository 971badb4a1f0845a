package gemm

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// fma32 is a·b + c rounded once to float32, as VFMADD231PS computes it, for
// results within float32's range. The product is exact in float64 (24 + 24
// bits) and TwoSum gives s + e = p + c exactly. Every float32 rounding
// boundary is a float64, so none lies strictly between s and p + c: s
// rounds as p + c does unless s is itself a boundary (a tie), where the
// sign of e decides. float32(math.FMA(...)) rounds such ties to even.
func fma32(a, b, c float32) float32 {
	p, z := float64(a)*float64(b), float64(c)
	s := p + z
	bb := s - p
	e := (p - (s - bb)) + (z - bb)
	if e == 0 || e != e || !tie32(s) {
		return float32(s)
	}
	return float32(math.Nextafter(s, math.Copysign(math.Inf(1), e)))
}

// tie32 reports whether s lies halfway between two float32 values.
func tie32(s float64) bool {
	r := float32(s)
	if float64(r) == s || math.IsInf(float64(r), 0) {
		return false
	}
	o := math.Nextafter32(r, float32(math.Inf(1)))
	if s < float64(r) {
		o = math.Nextafter32(r, float32(math.Inf(-1)))
	}
	return (float64(r)+float64(o))/2 == s
}

// fma32Big is fma32 by math/big: the sum exact at 2000 bits, then one
// rounding to float32 (subnormals included).
func fma32Big(a, b, c float32) float32 {
	x := new(big.Float).SetPrec(2000).SetFloat64(float64(a) * float64(b))
	x.Add(x, new(big.Float).SetFloat64(float64(c)))
	f, _ := x.Float32()
	if f == 0 && float64(a)*float64(b)+float64(c) == 0 {
		// math/big's zero sign differs from IEEE's on exact cancellation.
		return float32(float64(a)*float64(b) + float64(c))
	}
	return f
}

// doubleRounding is a·b + c whose float64 sum is a float32 tie although the
// exact sum is not: c = 1 + 2⁻²³, a·b = 2⁻²⁴(1 − 2⁻⁴⁶), so the sum is 2⁻⁷⁰
// below the midpoint 1 + 3·2⁻²⁴, which float64 rounds to and float32 then
// rounds up to even (1 + 2⁻²²). Fused once, the answer is c. Unfused
// (product rounded to 2⁻²⁴ first) gives 1 + 2⁻²² as well.
func doubleRounding() (a, b, c, want float32) {
	u := float32(math.Ldexp(1, -23))
	return float32(math.Ldexp(1, -24)) * (1 + u), 1 - u, 1 + u, 1 + u
}

func TestFMA32Emulation(t *testing.T) {
	a, b, c, want := doubleRounding()
	if got := fma32(a, b, c); got != want {
		t.Fatalf("fma32 crafted: %v, want %v", got, want)
	}
	if got := fma32Big(a, b, c); got != want {
		t.Fatalf("fma32Big crafted: %v, want %v", got, want)
	}
	if naive := float32(math.FMA(float64(a), float64(b), float64(c))); naive == want {
		t.Fatalf("the crafted case does not double-round (%v)", naive)
	}

	rng := rand.New(rand.NewPCG(21, 22))
	check := func(a, b, c float32) {
		t.Helper()
		if got, want := fma32(a, b, c), fma32Big(a, b, c); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fma32(%g, %g, %g) = %g, want %g", a, b, c, got, want)
		}
	}
	wide := func(lo, hi int) float32 {
		v := float32(math.Ldexp(1+rng.Float64(), lo+rng.IntN(hi-lo)))
		if rng.IntN(2) == 0 {
			v = -v
		}
		return v
	}
	ties := 0
	for range 50000 {
		check(wide(-40, 40), wide(-40, 40), wide(-60, 60))
		check(wide(-80, -60), wide(-80, -60), wide(-150, -126)) // subnormal sums
		// Near ties like the crafted one: a·b just off half an ulp of c.
		c := wide(-10, 10)
		ulp := math.Nextafter32(c, float32(math.Inf(1))) - c
		i := float32(1 + rng.IntN(300))
		u := float32(math.Ldexp(1, -23))
		a, b := ulp/2*(1+i*u), 1-i*u
		if rng.IntN(2) == 0 {
			a = -a
		}
		if fma32(a, b, c) != float32(math.FMA(float64(a), float64(b), float64(c))) {
			ties++
		}
		check(a, b, c)
	}
	if ties == 0 {
		t.Fatal("no double-rounding case among the near ties")
	}
}

// ref32 is c += a·B with A and B rounded to float32 and each output summed
// in float32 by step, from +0 in the order of l, then added in float64.
func ref32(c, a, b []float64, m, k, n int, step func(a, b, acc float32) float32) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for l := 0; l < k; l++ {
				s = step(float32(a[i*k+l]), float32(b[l*n+j]), s)
			}
			c[i*n+j] += float64(s)
		}
	}
}

func plainStep(a, b, acc float32) float32 { return acc + a*b }

// buildStep is the float32 step the build's kernels take: one fused
// multiply-add in the assembly, a product and a sum in Go.
func buildStep() func(a, b, acc float32) float32 {
	if Accelerated {
		return fma32
	}
	return plainStep
}

// MulAdd in float32 must be the reference loop bit for bit, across the
// shapes that reach every kernel, a partial panel and a partial block.
func TestFloat32Exact(t *testing.T) {
	t.Logf("accelerated: %v", Accelerated)
	step := buildStep()
	rng := rand.New(rand.NewPCG(23, 24))
	for m := 1; m <= 13; m++ {
		for _, k := range []int{1, 7, 64, 130} {
			for _, n := range []int{1, 5, 8, 15, 16, 17, 40, 64, 100} {
				a, b, c := randSlice(rng, m*k), randSlice(rng, k*n), randSlice(rng, m*n)
				want := append([]float64(nil), c...)
				ref32(want, a, b, m, k, n, step)
				p := PackFloat32(b, k, n)
				p.MulAdd(c, a, m, &Scratch{})
				for i := range c {
					if math.Float64bits(c[i]) != math.Float64bits(want[i]) {
						t.Fatalf("m=%d k=%d n=%d: c[%d] = %v, want %v", m, k, n, i, c[i], want[i])
					}
				}
			}
		}
	}
}

// The crafted double-rounding case through every kernel: the assembly fuses
// each step, so it gets c exactly where a double-rounding emulation (or an
// unfused step) would not; the Go kernels round the product first.
func TestFloat32CraftedFMA(t *testing.T) {
	x, y, acc, fused := doubleRounding()
	want := fused
	if !Accelerated {
		want = plainStep(x, y, acc)
	}
	const k = 8 // two nonzeros, so sparse rows qualify
	for _, m := range []int{1, 6, 7} {
		for _, n := range []int{16, 32, 64, 100} {
			b := make([]float64, k*n)
			for j := 0; j < n; j++ {
				b[j], b[n+j] = float64(acc), float64(y)
			}
			a := make([]float64, m*k)
			for i := 0; i < m; i++ {
				a[i*k], a[i*k+1] = 1, float64(x)
			}
			for _, sparse := range []bool{false, true} {
				c := make([]float64, m*n)
				PackFloat32(b, k, n).MulAdd(c, a, m, &Scratch{Sparse: sparse})
				for i, v := range c {
					if v != float64(want) {
						t.Fatalf("m=%d n=%d sparse=%v: c[%d] = %v, want %v", m, n, sparse, i, v, want)
					}
				}
			}
		}
	}
}

func TestFloat32Pack(t *testing.T) {
	if Pack(nil, 0, 0).Float32() || !PackFloat32(nil, 0, 0).Float32() {
		t.Fatal("Float32 does not tell the precisions apart")
	}
	if k, n := PackFloat32(make([]float64, 12), 3, 4).Dims(); k != 3 || n != 4 {
		t.Fatalf("Dims = %d, %d", k, n)
	}
	// Empty products leave c alone.
	c := []float64{1, 2}
	PackFloat32(nil, 0, 2).MulAdd(c, nil, 1, &Scratch{})
	PackFloat32(nil, 3, 0).MulAdd(nil, make([]float64, 3), 1, &Scratch{})
	if c[0] != 1 || c[1] != 2 {
		t.Fatalf("k = 0 changed c: %v", c)
	}
}

// As TestSparseRowsExact: the float32 sparse kernel must give the dense
// kernel's bits, including on float64 values that round to float32 zeros.
func TestSparseRowsExactFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for _, k := range []int{1, 2, 3, 7, 8, 33, 64, 255, 256} {
		for _, n := range []int{16, 17, 40, 64, 65, 100, 128, 256} {
			p := PackFloat32(randSlice(rng, k*n), k, n)
			for _, zeros := range []float64{0, 0.2, 0.5, 0.9, 1} {
				for m := 1; m <= 7; m++ {
					a := randSlice(rng, m*k)
					for i := range a {
						switch u := rng.Float64(); {
						case u < zeros/4:
							a[i] = 0
						case u < zeros/2:
							a[i] = math.Copysign(0, -1)
						case u < 3*zeros/4:
							a[i] = 1e-50 // float32 +0
						case u < zeros:
							a[i] = -1e-50 // float32 −0
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

// As TestRowsIndependentOfBatch, in float32.
func TestRowsIndependentOfBatchFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	for _, k := range []int{1, 5, 33, 64, 130} {
		for _, n := range []int{3, 8, 16, 20, 32, 40, 64, 72, 100, 128} {
			p := PackFloat32(randSlice(rng, k*n), k, n)
			const m = 13
			a := randSlice(rng, m*k)
			for i := range a {
				if rng.Float64() < 0.5 {
					a[i] = 0
				}
			}
			c0 := randSlice(rng, m*n)
			for _, sparse := range []bool{false, true} {
				whole := append([]float64(nil), c0...)
				p.MulAdd(whole, a, m, &Scratch{Sparse: sparse})
				for _, split := range [][2]int{{0, 1}, {5, 6}, {12, 13}, {1, 7}, {3, 12}, {0, 6}, {6, 13}} {
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

// float32 results must be close to the float64 product: within 1e-5 of
// Σ_l |a_l·b_lj|, the scale of the rounding errors (which a plain relative
// error would blow up where the sum cancels).
func TestFloat32Accuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	for _, sh := range [][3]int{{1, 64, 64}, {7, 100, 37}, {13, 256, 256}, {6, 1024, 40}, {2, 1024, 1024}} {
		m, k, n := sh[0], sh[1], sh[2]
		a, b, c := randSlice(rng, m*k), randSlice(rng, k*n), randSlice(rng, m*n)
		want := append([]float64(nil), c...)
		naive(want, a, b, m, k, n)
		PackFloat32(b, k, n).MulAdd(c, a, m, &Scratch{})
		worst := 0.0
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var scale float64
				for l := 0; l < k; l++ {
					scale += math.Abs(a[i*k+l] * b[l*n+j])
				}
				worst = max(worst, math.Abs(c[i*n+j]-want[i*n+j])/scale)
			}
		}
		if worst > 1e-5 {
			t.Fatalf("m=%d k=%d n=%d: error %.2g of Σ|a·b|", m, k, n, worst)
		}
		t.Logf("m=%d k=%d n=%d: worst error %.2g of Σ|a·b|", m, k, n, worst)
	}
}

// A's rows are rounded to float32 by the assembly where there is some; it
// must round as float32(v) does, ties, overflow and subnormals included.
func TestFloat32Conversion(t *testing.T) {
	specials := []float64{1 + 0x1p-24, 1 + 3*0x1p-24, -(1 + 0x1p-24), 0x1p-24 * (1 + 0x1p-30), math.MaxFloat32 * (1 + 0x1p-25), math.MaxFloat32 * (1 + 0x1p-23),
		-math.MaxFloat64, 1e-40, -1e-45, 0x1p-150, 0x1p-150 * (1 + 0x1p-40), 1e-50, math.Copysign(0, -1), 0, math.Inf(1), math.Inf(-1), math.NaN()}
	rng := rand.New(rand.NewPCG(33, 34))
	for k := 1; k <= 13; k++ {
		a := make([]float64, mr*k)
		for i := range a {
			if rng.IntN(2) == 0 {
				a[i] = specials[rng.IntN(len(specials))]
			} else {
				a[i] = rng.NormFloat64() * math.Ldexp(1, rng.IntN(300)-150)
			}
		}
		row := make([]float32, len(a))
		toFloat32(row, a)
		ap := make([]float32, mr*k)
		packRows32(ap, a, k)
		for i, v := range a {
			want := math.Float32bits(float32(v))
			if got := math.Float32bits(row[i]); got != want {
				t.Fatalf("k=%d: toFloat32(%g) = %#x, want %#x", k, v, got, want)
			}
			r, l := i/k, i%k
			if got := math.Float32bits(ap[l*mr+r]); got != want {
				t.Fatalf("k=%d: packRows32 row %d step %d of %g = %#x, want %#x", k, r, l, v, got, want)
			}
		}
	}
}
