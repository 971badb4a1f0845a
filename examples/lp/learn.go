package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
)

// dataset is instances as gnn-lp rows and their solutions y*.
type dataset struct {
	insts []*lpInstance
	x, y  []float64
}

func newDataset(insts []*lpInstance) dataset {
	d := dataset{insts: insts}
	for _, in := range insts {
		d.x = append(d.x, in.row()...)
		d.y = append(d.y, in.y...)
	}
	return d
}

func (d dataset) data() train.Data { return train.Data{X: d.x, Target: d.y, N: len(d.insts)} }

// schedule is a training run: epochs of Adam on mini-batches, each phase
// with its learning rate (and, for the unrolled gradient, its steps).
type schedule struct {
	batch  int
	phases []phase
	// jacobianPenalty is γ of train's Jacobian penalty (0: none), and
	// jacobianPower its probes' power steps.
	jacobianPenalty float64
	jacobianPower   int
}

type phase struct {
	epochs int
	lr     float64
	steps  int // unrolled iterations; 0 for the implicit gradient
	// fixedPoint trains at the solved fixed point by the phantom gradient
	// (3 damped steps from it), whatever fit's mode.
	fixedPoint bool
}

// fit trains a in place by the schedule, on MSE, and returns the last
// epoch's mean training loss.
func fit(ctx context.Context, a model.Architecture, d dataset, s schedule, seed uint64, mode train.GradientMode, log func(string)) (float64, error) {
	var last float64
	for k, ph := range s.phases {
		gs := train.GradientSettings{Mode: mode, Steps: ph.steps, JacobianPenalty: s.jacobianPenalty, JacobianPowerSteps: s.jacobianPower}
		// The paper's map need not be a contraction: solve each fixed
		// point, and each adjoint, as far as 30 Anderson iterations take
		// it, without the divergence test (an adjoint that grows for a
		// while must not end the run).
		st := api.Settings{Method: &api.Anderson{}, MaxIter: 30, RelTol: 1e-5, DivergenceRatio: -1}
		switch {
		case ph.fixedPoint:
			gs = train.GradientSettings{Mode: train.Phantom, Forward: st, AllowUnconverged: true, JacobianPenalty: s.jacobianPenalty, JacobianPowerSteps: s.jacobianPower}
		case mode == train.Implicit:
			gs = train.GradientSettings{Mode: train.Implicit, Forward: st, Backward: st, AllowUnconverged: true, JacobianPenalty: s.jacobianPenalty, JacobianPowerSteps: s.jacobianPower}
		}
		tr, err := train.NewTrainer(a, train.TrainSettings{BatchSize: s.batch, LearningRate: ph.lr, Seed: seed + uint64(k), Loss: train.MSE{}, Gradient: gs})
		if err != nil {
			return 0, err
		}
		for e := range ph.epochs {
			var sum float64
			var n int
			start := time.Now()
			err := tr.Epoch(ctx, d.data(), func(st train.StepStats) { sum += st.Loss * float64(st.Samples); n += st.Samples })
			if err != nil {
				return 0, err
			}
			last = sum / float64(n)
			if log != nil && (e == ph.epochs-1 || (e+1)%10 == 0) {
				log(fmt.Sprintf("phase %d epoch %d/%d: training loss %.4g (%.1f s an epoch)", k+1, e+1, ph.epochs, last, time.Since(start).Seconds()))
			}
		}
	}
	return last, nil
}

// relErr is the paper's metric, ‖ŷ − y*‖₂ / (‖y*‖₂ + 1), averaged over the
// instances (n variables each).
func relErr(yhat, y []float64, n int) float64 {
	var s float64
	k := len(y) / n
	for i := range k {
		var d2, y2 float64
		for j := i * n; j < (i+1)*n; j++ {
			d2 += (yhat[j] - y[j]) * (yhat[j] - y[j])
			y2 += y[j] * y[j]
		}
		s += math.Sqrt(d2) / (math.Sqrt(y2) + 1)
	}
	return s / float64(k)
}

// chunk bounds the instances a model evaluates at once.
const chunk = 250

// outputsByT returns ŷ_t for t = 0 … maxT of a gnn-lp model on the rows x:
// plain iteration from y⁰ = 0, as the paper runs it (t = 0 reads out
// [S_v, y⁰]). The explicit kind has one output, returned for every t.
func outputsByT(m *model.Model, x []float64, maxT int) ([][]float64, error) {
	info := m.Info()
	k := len(x) / info.In
	out := make([][]float64, maxT+1)
	for lo := 0; lo < k; lo += chunk {
		hi := min(lo+chunk, k)
		prob, err := m.Problem(x[lo*info.In : hi*info.In])
		if err != nil {
			return nil, err
		}
		nk := hi - lo
		rows := make([]int, nk)
		for i := range rows {
			rows[i] = i
		}
		z := make([]float64, nk*info.State)
		next := make([]float64, len(z))
		prob.F(next, z, rows)
		if info.Explicit {
			y, err := m.Readout(next)
			if err != nil {
				return nil, err
			}
			for t := range out {
				out[t] = append(out[t], y...)
			}
			continue
		}
		// z⁰ = [S_v, 0]: f's S_v part, and y = 0 (the last n values).
		copy(z, next)
		n := info.Out
		for i := range nk {
			clear(z[(i+1)*info.State-n : (i+1)*info.State])
		}
		for t := range out {
			if t > 0 {
				prob.F(next, z, rows)
				z, next = next, z
			}
			y, err := m.Readout(z)
			if err != nil {
				return nil, err
			}
			out[t] = append(out[t], y...)
		}
	}
	return out, nil
}

// errorByT is the mean relative error of ŷ_t, t = 0 … maxT.
func errorByT(m *model.Model, d dataset, maxT int) ([]float64, error) {
	ys, err := outputsByT(m, d.x, maxT)
	if err != nil {
		return nil, err
	}
	errs := make([]float64, len(ys))
	for t, y := range ys {
		errs[t] = relErr(y, d.y, m.Info().Out)
	}
	return errs, nil
}

// perturbKinds are the paper's five perturbations: A's nonzeros, b, c, l
// or u.
var perturbKinds = []string{"A", "b", "c", "l", "u"}

// perturbed returns a copy of in with one block moved by a random
// direction of norm radius.
func perturbed(in *lpInstance, kind string, radius float64, rng *rand.Rand) *lpInstance {
	p := *in
	p.a, p.b, p.c, p.l, p.u, p.y = append([]float64(nil), in.a...), append([]float64(nil), in.b...), append([]float64(nil), in.c...), append([]float64(nil), in.l...), append([]float64(nil), in.u...), nil
	var vals []*float64
	switch kind {
	case "A":
		for _, k := range in.nz {
			vals = append(vals, &p.a[k])
		}
	case "b":
		for i := range p.b {
			vals = append(vals, &p.b[i])
		}
	case "c":
		for j := range p.c {
			vals = append(vals, &p.c[j])
		}
	case "l":
		for j := range p.l {
			vals = append(vals, &p.l[j])
		}
	case "u":
		for j := range p.u {
			vals = append(vals, &p.u[j])
		}
	}
	dir := make([]float64, len(vals))
	for i := range dir {
		dir[i] = rng.NormFloat64()
	}
	s := radius / norm(dir)
	for i, v := range vals {
		*v += s * dir[i]
	}
	return &p
}

// lipschitz is the empirical Lipschitz number against t: the ratio
// ‖ŷ_t(x + δ) − ŷ_t(x)‖ / ‖δ‖, ‖δ‖ = radius, averaged over the instances
// and the five perturbations; and the same ratio of the exact solutions,
// y*(x + δ) against y*(x), each perturbed instance solved again (the
// perturbations that leave an instance infeasible are left out of it).
type lipschitz struct {
	byT      []float64
	solution float64
	pairs    int // (instance, perturbation) pairs measured
	dropped  int // perturbed instances infeasible or unsolved
}

func measureLipschitz(m *model.Model, insts []*lpInstance, maxT int, radius float64, rng *rand.Rand) (lipschitz, error) {
	var base, pert []*lpInstance
	var sol float64
	l := lipschitz{byT: make([]float64, maxT+1)}
	for _, in := range insts {
		for _, kind := range perturbKinds {
			p := perturbed(in, kind, radius, rng)
			if err := p.solve(); err != nil {
				l.dropped++
				continue
			}
			base, pert = append(base, in), append(pert, p)
			var d2 float64
			for j := range in.y {
				d2 += (p.y[j] - in.y[j]) * (p.y[j] - in.y[j])
			}
			sol += math.Sqrt(d2) / radius
		}
	}
	l.pairs = len(base)
	if l.pairs == 0 {
		return l, fmt.Errorf("lipschitz: every perturbed instance was infeasible")
	}
	l.solution = sol / float64(l.pairs)
	y0, err := outputsByT(m, newDataset(base).x, maxT)
	if err != nil {
		return l, err
	}
	y1, err := outputsByT(m, newDataset(pert).x, maxT)
	if err != nil {
		return l, err
	}
	n := m.Info().Out
	for t := range y0 {
		var s float64
		for k := range l.pairs {
			var d2 float64
			for j := k * n; j < (k+1)*n; j++ {
				d2 += (y1[t][j] - y0[t][j]) * (y1[t][j] - y0[t][j])
			}
			s += math.Sqrt(d2) / radius
		}
		l.byT[t] = s / float64(l.pairs)
	}
	return l, nil
}
