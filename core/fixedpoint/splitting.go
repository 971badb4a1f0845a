package fixedpoint

import (
	"fmt"
	"math"

	"github.com/implicitlab/implicit/api"
)

func startForwardBackward(m *api.ForwardBackward, sv *Solver) (iterator, error) {
	sp, err := split(sv, m, m.Alpha)
	if err != nil {
		return nil, err
	}
	return sv.prepared([]func() (Work, error){boundsWork(sp)}, func() (iterator, error) {
		return beginForwardBackward(m, sv)
	})
}

// split returns the problem's Splitting, or says why the method cannot be
// used: no Splitting, or a step α given that is not positive and finite.
func split(sv *Solver, meth api.Method, alpha float64) (*Splitting, error) {
	sp := sv.p.Split
	if sp == nil || sp.Linear == nil || sp.Prox == nil || sp.Bounds == nil {
		return nil, fmt.Errorf("%w: %s needs a monotone layer (a problem with a Splitting)", api.ErrProblem, meth)
	}
	if alpha != 0 && !(alpha > 0 && !math.IsInf(alpha, 0)) {
		return nil, fmt.Errorf("%w: %s step %v (want > 0)", api.ErrProblem, meth, alpha)
	}
	return sp, nil
}

// boundsWork is the stage of a preparation that makes sp.Bounds quick.
func boundsWork(sp *Splitting) func() (Work, error) {
	return func() (Work, error) {
		if sp.PrepareBounds == nil {
			return nil, nil
		}
		return sp.PrepareBounds(), nil
	}
}

func beginForwardBackward(m *api.ForwardBackward, sv *Solver) (iterator, error) {
	sp, mono, lip, err := splitting(sv, m)
	if err != nil {
		return nil, err
	}
	alpha := m.Alpha
	if alpha == 0 {
		alpha = mono / (lip * lip)
	}
	if !(alpha > 0) || math.IsInf(alpha, 0) {
		return nil, fmt.Errorf("%w: forward-backward step %v (want > 0)", api.ErrProblem, alpha)
	}
	return &fbIter{sp: sp, alpha: alpha, fz: make([]float64, sv.dim)}, nil
}

// splitting returns the problem's Splitting and its bounds m and L, or says
// why the method cannot be used.
func splitting(sv *Solver, meth api.Method) (sp *Splitting, m, lip float64, err error) {
	sp = sv.p.Split
	if sp == nil || sp.Linear == nil || sp.Prox == nil || sp.Bounds == nil {
		return nil, 0, 0, fmt.Errorf("%w: %s needs a monotone layer (a problem with a Splitting)", api.ErrProblem, meth)
	}
	if m, lip, err = sp.Bounds(); err != nil {
		return nil, 0, 0, err
	}
	if !(m > 0) || !(lip > 0) || math.IsInf(lip, 0) {
		return nil, 0, 0, fmt.Errorf("%w: %s needs a monotone layer, I − W ⪰ mI with m > 0, and a finite bound L on ‖I − W‖₂ (this layer has m=%.3g, L=%.3g)", api.ErrProblem, meth, m, lip)
	}
	return sp, m, lip, nil
}

type fbIter struct {
	sp    *Splitting
	alpha float64
	fz    []float64 // scratch: σ(W z + u) of one sample
}

func (it *fbIter) iterate(sv *Solver) {
	zc := sv.gather()
	lc := sv.fc[:len(zc)]
	it.sp.Linear(lc, zc, sv.active)
	d, fz := sv.dim, it.fz
	for k, i := range sv.active {
		z, l := zc[k*d:(k+1)*d], lc[k*d:(k+1)*d]
		copy(fz, l)
		it.sp.Prox(fz, sv.active[k:k+1], 1)
		if sv.check(i, z, fz) {
			continue
		}
		next := sv.row(sv.z, i)
		for j := range next {
			next[j] = z[j] + it.alpha*(l[j]-z[j])
		}
		it.sp.Prox(next, sv.active[k:k+1], it.alpha)
	}
}

func startPeacemanRachford(m *api.PeacemanRachford, sv *Solver) (iterator, error) {
	sp, err := split(sv, m, m.Alpha)
	if err != nil {
		return nil, err
	}
	if sp.Resolvent == nil {
		return nil, fmt.Errorf("%w: %s needs the layer's resolvent", api.ErrProblem, m)
	}
	resolvent := func() (Work, error) {
		if sp.PrepareResolvent == nil {
			return nil, nil
		}
		alpha, err := peacemanRachfordStep(m, sv)
		if err != nil {
			return nil, err
		}
		return sp.PrepareResolvent(alpha), nil
	}
	return sv.prepared([]func() (Work, error){boundsWork(sp), resolvent}, func() (iterator, error) {
		return beginPeacemanRachford(m, sv)
	})
}

// peacemanRachfordStep is the method's step α: its own, or 1/L.
func peacemanRachfordStep(m *api.PeacemanRachford, sv *Solver) (float64, error) {
	_, _, lip, err := splitting(sv, m)
	if err != nil {
		return 0, err
	}
	alpha := m.Alpha
	if alpha == 0 {
		alpha = 1 / lip
	}
	if !(alpha > 0) || math.IsInf(alpha, 0) {
		return 0, fmt.Errorf("%w: peaceman-rachford step %v (want > 0)", api.ErrProblem, alpha)
	}
	return alpha, nil
}

func beginPeacemanRachford(m *api.PeacemanRachford, sv *Solver) (iterator, error) {
	alpha, err := peacemanRachfordStep(m, sv)
	if err != nil {
		return nil, err
	}
	sp := sv.p.Split
	res, err := sp.Resolvent(alpha)
	if err != nil {
		return nil, err
	}
	u := make([]float64, len(sv.z))
	copy(u, sv.z)
	return &prIter{sp: sp, alpha: alpha, resolvent: res, u: u, live: make([]int, 0, sv.n)}, nil
}

type prIter struct {
	sp        *Splitting
	alpha     float64
	resolvent func(dst, v []float64, rows []int)
	u         []float64 // n×dim: the splitting's auxiliary variable, z = σ(u)
	live      []int     // scratch: the samples that go on this iteration
}

func (it *prIter) iterate(sv *Solver) {
	zc := sv.gather()
	fc := sv.fc[:len(zc)]
	it.sp.Linear(fc, zc, sv.active)
	it.sp.Prox(fc, sv.active, 1)
	d := sv.dim
	// Rows that go on are packed at the front of zc, as v = 2z − u.
	live := it.live[:0]
	for k, i := range sv.active {
		z, fz := zc[k*d:(k+1)*d], fc[k*d:(k+1)*d]
		if sv.check(i, z, fz) {
			continue
		}
		v := zc[len(live)*d : (len(live)+1)*d]
		u := sv.row(it.u, i)
		for j := range v {
			v[j] = 2*z[j] - u[j]
		}
		live = append(live, i)
	}
	if len(live) == 0 {
		return
	}
	vc, hc := zc[:len(live)*d], fc[:len(live)*d]
	it.resolvent(hc, vc, live)
	for k, i := range live {
		v, h := vc[k*d:(k+1)*d], hc[k*d:(k+1)*d]
		u, next := sv.row(it.u, i), sv.row(sv.z, i)
		for j := range u {
			u[j] = 2*h[j] - v[j]
		}
		copy(next, u)
		it.sp.Prox(next, live[k:k+1], it.alpha)
	}
}
