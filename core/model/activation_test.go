package model

import (
	"math"
	"testing"
)

func TestTanhProx(t *testing.T) {
	// x = prox_{αf}(v) must satisfy (1 − α) x + α atanh(x) = v.
	for _, alpha := range []float64{0.01, 0.3, 1, 2.5} {
		for _, v := range []float64{-30, -2, -0.1, 0, 0.5, 3, 40} {
			x := tanhProx(v, alpha)
			if !(x >= -1 && x <= 1) {
				t.Fatalf("α=%v v=%v: x=%v outside [−1, 1]", alpha, v, x)
			}
			if math.Abs(x) < 1-1e-8 { // nearer ±1, atanh amplifies rounding
				if got := (1-alpha)*x + alpha*math.Atanh(x); math.Abs(got-v) > 1e-9*(1+math.Abs(v)) {
					t.Errorf("α=%v v=%v: x=%v gives %v", alpha, v, x, got)
				}
			}
		}
	}
	if tanhProx(0.7, 1) != math.Tanh(0.7) {
		t.Errorf("α=1 must be tanh")
	}
}

// relu keeps a NaN a NaN (so that the solver sees it), sends −0 and every
// negative value to +0, and leaves the rest.
func TestReLUSpecialValues(t *testing.T) {
	in := []float64{math.NaN(), math.Copysign(0, -1), 0, -1e-300, -3, math.Inf(-1), 2, math.Inf(1), 5e-324}
	want := []float64{math.NaN(), 0, 0, 0, 0, 0, 2, math.Inf(1), 5e-324}
	v := append([]float64(nil), in...)
	ReLU.apply(v)
	for i := range v {
		if math.IsNaN(want[i]) {
			if !math.IsNaN(v[i]) {
				t.Errorf("relu(%v) = %v, want NaN", in[i], v[i])
			}
			continue
		}
		if math.Float64bits(v[i]) != math.Float64bits(want[i]) {
			t.Errorf("relu(%v) = %v (bits %x), want %v", in[i], v[i], math.Float64bits(v[i]), want[i])
		}
	}
}
