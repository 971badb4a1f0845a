package main

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"time"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
)

// Scale maps physical fields to the models' scale and back: one factor for
// all points and channels (the training set's RMS), which keeps the
// operator's translation equivariance, and makes the MSE the models train
// on the physical squared error up to a constant.
type Scale float64

// FitScale returns the RMS of x.
func FitScale(x []float64) (Scale, error) {
	s := Scale(rms(x))
	if !(s > 0) || math.IsInf(float64(s), 0) {
		return 0, errors.New("the fields are zero or not finite")
	}
	return s, nil
}

// Apply returns x/s; Invert returns z·s.
func (s Scale) Apply(x []float64) []float64  { return scaled(x, 1/float64(s)) }
func (s Scale) Invert(z []float64) []float64 { return scaled(z, float64(s)) }

func scaled(x []float64, a float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = a * v
	}
	return out
}

// RelativeL2 is the benchmark's error measure: the mean over samples of
// ‖prediction − truth‖₂ / ‖truth‖₂, fields of p values.
func RelativeL2(pred, truth []float64, p int) float64 {
	n := len(truth) / p
	var sum float64
	for i := range n {
		var d, t float64
		for j := i * p; j < (i+1)*p; j++ {
			d += (pred[j] - truth[j]) * (pred[j] - truth[j])
			t += truth[j] * truth[j]
		}
		sum += math.Sqrt(d / t)
	}
	return sum / float64(n)
}

// Arch is the size of the Fourier models.
type Arch struct {
	Width, Modes, Blocks int
}

// newFNO initialises an fno-deq (or, explicit, fno) model for the flow's
// grid: two input channels (f₁, f₂), one output (w), drawn as PyTorch
// initialises the FNO-DEQ code's modules. Both kinds have the same tensors,
// so the same seed gives the explicit model the implicit one's initial
// weights.
func newFNO(f Flow, a Arch, explicit bool, seed uint64) (*model.FNO, error) {
	m, err := model.NewFNO(model.FNOConfig{Explicit: explicit, InChannels: 2, Out: 1, Height: f.N, Width: f.N,
		Channels: a.Width, Modes1: a.Modes, Modes2: a.Modes, Blocks: a.Blocks}, rand.New(rand.NewPCG(seed, 0xf0)))
	if err != nil {
		return nil, err
	}
	// The forward solves of inference and of the analyses: Anderson, as
	// the FNO-DEQ code solves.
	m.Defaults.MaxIter = solveLimit
	return m, nil
}

// solveLimit bounds the iterations of a solve to the fixed point.
const solveLimit = 500

// Training is how a model is trained: Adam on the MSE of scaled fields,
// with the gradient mode and the forward (and adjoint) solves' limits.
type Training struct {
	Epochs, Batch int
	LR            float64
	Mode          train.GradientMode
	// SolveIters bounds the forward (and adjoint) solves of a training
	// step, which stop at relative residual SolveTol: the FNO-DEQ code's
	// thresholds (32 and 1e-3 there).
	SolveIters int
	SolveTol   float64
	Seed       uint64
	// JacobianPenalty is γ of train's Jacobian penalty (0: none), for an
	// implicit model, and JacobianPowerSteps its probes' power steps.
	JacobianPenalty    float64
	JacobianPowerSteps int
}

// epochStats is one epoch's mean training loss, solver iterations and,
// with a Jacobian penalty, estimate of ‖J‖²_F / State.
type epochStats struct {
	Loss, ForwardIters, BackwardIters, Jacobian, Seconds float64
}

// fit trains a in place on data and returns each epoch's statistics.
func fit(ctx context.Context, a model.Architecture, data train.Data, tr Training, onEpoch func(int, epochStats)) ([]epochStats, error) {
	solve := api.Settings{MaxIter: tr.SolveIters, RelTol: tr.SolveTol}
	gs := train.GradientSettings{Mode: tr.Mode, Forward: solve, Backward: solve, AllowUnconverged: true,
		JacobianPenalty: tr.JacobianPenalty, JacobianPowerSteps: tr.JacobianPowerSteps}
	t, err := train.NewTrainer(a, train.TrainSettings{BatchSize: tr.Batch, LearningRate: tr.LR, Seed: tr.Seed, Loss: train.MSE{}, Gradient: gs})
	if err != nil {
		return nil, err
	}
	var out []epochStats
	for e := range tr.Epochs {
		start := time.Now()
		var st epochStats
		var samples int
		if err := t.Epoch(ctx, data, func(s train.StepStats) {
			w := float64(s.Samples)
			st.Loss += s.Loss * w
			st.ForwardIters += s.ForwardIters * w
			st.BackwardIters += s.BackwardIters * w
			st.Jacobian += s.Jacobian * w
			samples += s.Samples
		}); err != nil {
			return nil, err
		}
		st.Loss /= float64(samples)
		st.ForwardIters /= float64(samples)
		st.BackwardIters /= float64(samples)
		st.Jacobian /= float64(samples)
		st.Seconds = time.Since(start).Seconds()
		out = append(out, st)
		if onEpoch != nil {
			onEpoch(e+1, st)
		}
	}
	return out, nil
}

// predict returns the model's outputs on x after exactly t iterations from
// z⁰ = 0 (t > 0), or at the fixed point (t = 0: relative residual 1e-6, or
// the last iterate of solveLimit, which the result's status and residual
// tell), with the solve's result.
func predict(ctx context.Context, m *model.Model, x []float64, t int) ([]float64, *api.Result, error) {
	s := api.Settings{RelTol: 1e-6, MaxIter: solveLimit}
	if t > 0 {
		s = api.Settings{MaxIter: t, RelTol: -1}
	}
	o, err := m.Infer(ctx, x, s)
	if err != nil {
		return nil, nil, err
	}
	return o.Y, o.Result, nil
}

// perturbation is a sinusoidal mode of the forcing: sin 2π(kx·x + ky·y) in
// one component, scaled to ‖δ‖₂ = norm over the input row.
type perturbation struct{ Channel, KX, KY int }

// perturbations are the modes L_t is measured on.
var perturbations = []perturbation{{0, 1, 0}, {1, 0, 1}, {0, 1, 1}, {1, 2, 1}}

// perturbationNorm is ‖δ‖₂ in physical forcing units.
const perturbationNorm = 1e-2

// delta returns the perturbation's input row (2·n² values).
func (p perturbation) delta(n int) []float64 {
	d := make([]float64, 2*n*n)
	var ss float64
	for i := range n {
		for j := range n {
			v := math.Sin(2 * math.Pi * float64(p.KX*j+p.KY*i) / float64(n))
			d[p.Channel*n*n+i*n+j] = v
			ss += v * v
		}
	}
	for i := range d {
		d[i] *= perturbationNorm / math.Sqrt(ss)
	}
	return d
}

// perturbed returns the k input rows x (of size p each) followed by every
// perturbation of each.
func perturbed(x []float64, k, n int) []float64 {
	p := 2 * n * n
	out := append([]float64(nil), x[:k*p]...)
	for _, pt := range perturbations {
		d := pt.delta(n)
		for i := range k {
			row := x[i*p : (i+1)*p]
			for j, v := range row {
				out = append(out, v+d[j])
			}
		}
	}
	return out
}

// lipschitz returns max ‖y(x + δ) − y(x)‖₂/‖δ‖₂ over the k samples and the
// perturbations, for the outputs y of perturbed's rows (fields of p values).
func lipschitz(y []float64, k, p int) float64 {
	var best float64
	for j := range perturbations {
		for i := range k {
			base, pert := y[i*p:(i+1)*p], y[((j+1)*k+i)*p:((j+1)*k+i+1)*p]
			var d float64
			for q := range base {
				d += (pert[q] - base[q]) * (pert[q] - base[q])
			}
			best = math.Max(best, math.Sqrt(d)/perturbationNorm)
		}
	}
	return best
}
