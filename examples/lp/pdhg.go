package main

import (
	"gonum.org/v1/gonum/mat"
)

// pdhg runs the primal-dual hybrid gradient method (Chambolle & Pock) on
// min cᵀx s.t. A x ≤ b, x ≥ 0 from x = 0, y = 0,
//
//	x⁺ = (x − τ (c + Aᵀy))₊,  y⁺ = (y + σ (A (2x⁺ − x) − b))₊,
//
// with τ = σ = 0.9/‖A‖₂, and returns the primal iterate after each of the
// iteration counts in budgets (increasing). It is the classical first-order
// method that learned LP solvers in the paper's line of work imitate; here
// it is the non-learned baseline at the same iteration budgets.
func pdhg(a *mat.Dense, c, b []float64, budgets []int) [][]float64 {
	m, n := a.Dims()
	step := 0.9 / mat.Norm(a, 2)
	x, xPrev, y := make([]float64, n), make([]float64, n), make([]float64, m)
	aty, ax := make([]float64, n), make([]float64, m)
	bar := make([]float64, n)
	var out [][]float64
	t := 0
	for _, budget := range budgets {
		for ; t < budget; t++ {
			copy(xPrev, x)
			mulTVec(a, y, aty)
			for j := range x {
				x[j] = max(x[j]-step*(c[j]+aty[j]), 0)
				bar[j] = 2*x[j] - xPrev[j]
			}
			mulVec(a, bar, ax)
			for i := range y {
				y[i] = max(y[i]+step*(ax[i]-b[i]), 0)
			}
		}
		out = append(out, append([]float64(nil), x...))
	}
	return out
}
