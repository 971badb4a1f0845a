package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// smallestByLAPACK is the smallest eigenvalue of a by gonum's dsyev.
func smallestByLAPACK(t *testing.T, a []float64, n int) float64 {
	t.Helper()
	var eig mat.EigenSym
	if !eig.Factorize(mat.NewSymDense(n, append([]float64(nil), a...)), false) {
		t.Fatal("gonum's eigendecomposition failed")
	}
	return eig.Values(nil)[0]
}

func runMinEigen(a []float64, n, ops int) float64 {
	m := newMinEigen(append([]float64(nil), a...), n)
	for !m.step(ops) {
	}
	return m.value()
}

// TestMinEigen checks minEigen against LAPACK's eigenvalues on random
// symmetric matrices, matrices of known spectrum with repeated and
// clustered eigenvalues, and degenerate ones, and that the size of the
// steps does not change the result.
func TestMinEigen(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sym := func(n int, scale float64) []float64 {
		a := make([]float64, n*n)
		for i := range n {
			for j := 0; j <= i; j++ {
				v := scale * rng.NormFloat64()
				a[i*n+j], a[j*n+i] = v, v
			}
		}
		return a
	}
	// known returns Q diag(values) Qᵀ for a random orthogonal Q.
	known := func(values []float64) []float64 {
		n := len(values)
		var qr mat.QR
		qr.Factorize(mat.NewDense(n, n, sym(n, 1)))
		var q mat.Dense
		qr.QTo(&q)
		var a mat.Dense
		a.Mul(&q, mat.NewDiagDense(n, values))
		a.Mul(&a, q.T())
		out := a.RawMatrix().Data
		for i := range n { // exactly symmetric
			for j := 0; j < i; j++ {
				out[i*n+j] = out[j*n+i]
			}
		}
		return out
	}
	cases := []struct {
		name string
		n    int
		a    []float64
	}{
		{"1x1", 1, []float64{-2.5}},
		{"2x2", 2, []float64{2, 1, 1, 2}},
		{"zero", 5, make([]float64, 25)},
		{"diagonal", 4, []float64{3, 0, 0, 0, 0, -1, 0, 0, 0, 0, 7, 0, 0, 0, 0, 2}},
		{"random 3", 3, sym(3, 1)},
		{"random 10", 10, sym(10, 1)},
		{"random 64 large", 64, sym(64, 1e6)},
		{"random 64 small", 64, sym(64, 1e-7)},
		{"random 200", 200, sym(200, 1)},
		{"repeated smallest", 30, known(append([]float64{-1, -1, -1}, make([]float64, 27)...))},
		{"clustered", 40, known(func() []float64 {
			v := make([]float64, 40)
			for i := range v {
				v[i] = 1 + 1e-9*float64(i)
			}
			return v
		}())},
		{"positive definite", 50, known(func() []float64 {
			v := make([]float64, 50)
			for i := range v {
				v[i] = 0.25 + float64(i)
			}
			return v
		}())},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := smallestByLAPACK(t, c.a, c.n)
			got := runMinEigen(c.a, c.n, math.MaxInt)
			scale := 0.0
			for _, v := range c.a {
				scale = max(scale, math.Abs(v))
			}
			if tol := 1e-13*float64(c.n)*scale + 1e-300; math.Abs(got-want) > tol {
				t.Errorf("smallest eigenvalue %v, LAPACK's %v (tolerance %g)", got, want, tol)
			}
			if stepped := runMinEigen(c.a, c.n, 1); stepped != got {
				t.Errorf("a column a step gives %v, all at once %v", stepped, got)
			}
		})
	}
	if v := runMinEigen([]float64{1, math.NaN(), math.NaN(), 1}, 2, 1); !math.IsNaN(v) {
		t.Errorf("a NaN matrix gives %v, want NaN", v)
	}
	if v := runMinEigen([]float64{1, math.Inf(1), math.Inf(1), 1}, 2, 1); !math.IsNaN(v) {
		t.Errorf("an infinite matrix gives %v, want NaN", v)
	}
}
