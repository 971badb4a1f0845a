package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Axpy gives the plain loop's bits (a product, then a sum, per element), so
// that swapping its implementation changes no result.
func TestAxpyIsThePlainLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 3, 4, 7, 16, 255, 1000} {
		x, y := make([]float64, n), make([]float64, n)
		for i := range x {
			x[i], y[i] = rng.NormFloat64()*1e3, rng.NormFloat64()
		}
		a := rng.NormFloat64()
		want := append([]float64(nil), y...)
		for i, v := range x {
			want[i] += a * v
		}
		Axpy(a, x, y)
		for i := range y {
			if math.Float64bits(y[i]) != math.Float64bits(want[i]) {
				t.Fatalf("n=%d: y[%d] = %v, the loop gives %v", n, i, y[i], want[i])
			}
		}
	}
}
