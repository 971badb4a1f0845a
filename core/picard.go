package core

import "fmt"

// Picard is damped fixed-point iteration, z ← (1 − β) z + β f(z). It
// converges for contractions; damping (β < 1) widens that to maps whose
// Jacobian has eigenvalues with real part below 1, at a slower rate.
type Picard struct {
	// Damping is β in (0, 1]; 0 means 1 (plain iteration).
	Damping float64
}

func (m *Picard) String() string { return "picard" }

func (m *Picard) start(*Solver) (iterator, error) {
	beta := m.Damping
	if beta == 0 {
		beta = 1
	}
	if !(beta > 0 && beta <= 1) {
		return nil, fmt.Errorf("%w: picard damping %v (want 0 < β ≤ 1)", ErrProblem, m.Damping)
	}
	return picardIter{beta: beta}, nil
}

type picardIter struct{ beta float64 }

func (p picardIter) iterate(sv *Solver) {
	sv.iterateMap(func(_, _ int, z, fz, next []float64) {
		if p.beta == 1 {
			copy(next, fz)
			return
		}
		for j := range next {
			next[j] = z[j] + p.beta*(fz[j]-z[j])
		}
	})
}
