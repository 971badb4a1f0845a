package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice32(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// The Go float32 kernels sum each output as acc += a·b in float32, in the
// order of l, so they must agree with these plain loops exactly, for every
// k including the tails of the unrolled loops (in every build: the
// assembly does not replace these functions).
func TestGenericKernelsFloat32Exact(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	same := func(what string, k int, got, want []float64) {
		t.Helper()
		for i := range got {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("%s k=%d: c[%d] = %v, want %v", what, k, i, got[i], want[i])
			}
		}
	}
	for k := 0; k <= 41; k++ {
		a, b := randSlice32(rng, k*mr), randSlice32(rng, 4*k*nr32)
		const ldc = nr32 + 3
		c := randSlice(rng, (mr-1)*ldc+nr32)
		want := append([]float64(nil), c...)
		for r := 0; r < mr; r++ {
			for q := 0; q < nr32; q++ {
				var s float32
				for l := 0; l < k; l++ {
					s += a[l*mr+r] * b[l*nr32+q]
				}
				want[r*ldc+q] += float64(s)
			}
		}
		genericKern6x16F32(k, a, b[:k*nr32], c, ldc)
		same("6x16", k, c, want)

		// One, two and four panels, dense and over a subset of the steps.
		row := a[:k]
		var idx []int32
		for l := 0; l < k; l++ {
			if rng.IntN(3) > 0 {
				idx = append(idx, int32(l))
			}
		}
		for _, np := range []int{1, 2, 4} {
			for _, sparse := range []bool{false, true} {
				bp := b[:np*k*nr32]
				c = randSlice(rng, np*nr32)
				want = append(want[:0], c...)
				for p := 0; p < np; p++ {
					for q := 0; q < nr32; q++ {
						var s float32
						for l := 0; l < k; l++ {
							if sparse && !containsIdx(idx, l) {
								continue
							}
							s += row[l] * bp[p*k*nr32+l*nr32+q]
						}
						want[p*nr32+q] += float64(s)
					}
				}
				switch {
				case sparse:
					genericKern1xNSparseF32(idx, row, bp, c, np)
				case np == 1:
					genericKern1x16F32(k, row, bp, c)
				default:
					genericKern1xNF32(k, row, bp, c, np)
				}
				what := "1x" + itoa(np*nr32)
				if sparse {
					what += " sparse"
				}
				same(what, k, c, want)
			}
		}
	}
}

func containsIdx(idx []int32, l int) bool {
	for _, v := range idx {
		if int(v) == l {
			return true
		}
	}
	return false
}
