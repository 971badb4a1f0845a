package fixedpoint

import (
	"fmt"

	"github.com/implicitlab/implicit/api"
)

func startPicard(m *api.Picard) (iterator, error) {
	beta := m.Damping
	if beta == 0 {
		beta = 1
	}
	if !(beta > 0 && beta <= 1) {
		return nil, fmt.Errorf("%w: picard damping %v (want 0 < β ≤ 1)", api.ErrProblem, m.Damping)
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
