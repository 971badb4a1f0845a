package gemm

import (
	"math/rand/v2"
	"testing"
)

// The Go kernels sum each output in the order of l, like the plain loops
// below, so they must agree exactly, for every k including the tails of
// the unrolled loops.
func TestGenericKernelsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for k := 0; k <= 41; k++ {
		a, b := randSlice(rng, k*mr), randSlice(rng, k*nr)
		const ldc = nr + 3
		c := randSlice(rng, (mr-1)*ldc+nr)
		want := append([]float64(nil), c...)
		for r := 0; r < mr; r++ {
			for q := 0; q < nr; q++ {
				var s float64
				for l := 0; l < k; l++ {
					s += a[l*mr+r] * b[l*nr+q]
				}
				want[r*ldc+q] += s
			}
		}
		genericKern6x8(k, a, b, c, ldc)
		for i := range c {
			if c[i] != want[i] {
				t.Fatalf("6x8 k=%d: c[%d] = %v, want %v", k, i, c[i], want[i])
			}
		}

		row := a[:k]
		c = randSlice(rng, nr)
		want = append(want[:0], c...)
		for q := 0; q < nr; q++ {
			var s float64
			for l := 0; l < k; l++ {
				s += row[l] * b[l*nr+q]
			}
			want[q] += s
		}
		genericKern1x8(k, row, b, c)
		for i := range c {
			if c[i] != want[i] {
				t.Fatalf("1x8 k=%d: c[%d] = %v, want %v", k, i, c[i], want[i])
			}
		}
	}
}
