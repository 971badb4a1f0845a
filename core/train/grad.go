package train

import (
	"context"
	"errors"
	"fmt"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
	"github.com/implicitlab/implicit/core/model"
)

// GradientMode chooses how the gradient passes through the fixed point.
type GradientMode int

const (
	// Implicit differentiation: solve the adjoint fixed point
	// u = J_f(z*)ᵀ u + ∂L/∂z* with vector-Jacobian products, the exact
	// gradient of the loss at the solved fixed point.
	Implicit GradientMode = iota
	// JacobianFree takes u = ∂L/∂z* (Fung et al. 2022): one backward step
	// through f at z*, no adjoint solve. It is cheaper and, for contractive
	// layers, a descent direction; the exact gradient is preferable when
	// the layer is far from contractive or accuracy matters.
	JacobianFree
	// Unrolled runs exactly Steps iterations z ← (1 − τ) z + τ f(z) from
	// z⁰ = 0 (τ = Damping, default 1) and back-propagates through all of
	// them: the exact gradient of the Steps-step model, whose memory grows
	// with Steps. No forward solve: the model trained is the unrolled one.
	Unrolled
	// Phantom solves the fixed point z*, then runs Steps damped iterations
	// from it (τ = Damping, default 0.8; Steps default 3) and
	// back-propagates through those alone, z* held constant: the phantom
	// gradient of Geng et al. (2021).
	Phantom
)

var modeNames = [...]string{"implicit", "jacobian-free", "unrolled", "phantom"}

func (g GradientMode) String() string {
	if g < 0 || int(g) >= len(modeNames) {
		return fmt.Sprintf("GradientMode(%d)", int(g))
	}
	return modeNames[g]
}

// gradientModeByName returns the mode String names.
func gradientModeByName(name string) (GradientMode, bool) {
	for k, n := range modeNames {
		if n == name {
			return GradientMode(k), true
		}
	}
	return 0, false
}

// GradientSettings control one gradient computation.
type GradientSettings struct {
	Mode GradientMode
	// Forward solves the fixed point; Backward the adjoint (Implicit only).
	// Zero fields take the model's defaults, as Model.Settings gives them
	// (so a monotone model solves both with Peaceman-Rachford); their
	// traces are not kept, so memory does not grow with iterations.
	Forward, Backward api.Settings
	// AllowUnconverged accepts a forward or adjoint solve that stopped at
	// its iteration limit; the gradient is then only approximate. Without
	// it, that is an error (ErrNotConverged).
	AllowUnconverged bool
	// Steps and Damping are the iterations Unrolled and Phantom
	// back-propagate through and their damping τ in (0, 1]; zero means
	// the mode's default (Unrolled: Steps is required, τ = 1; Phantom: 3
	// steps, τ = 0.8).
	Steps   int
	Damping float64
	// JacobianPenalty γ ≥ 0 adds γ·‖J_f(z*)‖²_F / State to the loss, the
	// Jacobian regularisation of Bai et al. (2021), which keeps the map
	// contractive at its fixed points; 0 means none. (Unrolled takes the
	// Jacobian at its last iterate.) JacobianSeed draws its probes; a
	// Trainer sets it from its Seed and step.
	JacobianPenalty float64
	JacobianSeed    uint64
	// JacobianPowerSteps k > 0 turns each sample's probe into its
	// Jacobian's top right singular vector by k steps of power iteration
	// on JᵀJ, so that the penalty is γ·σ_max(J_f(z*))², the square of the
	// contraction factor itself, rather than the mean square of all the
	// singular values. At most 100.
	JacobianPowerSteps int
}

// maxUnrolledSteps bounds Steps: every step's iterate is kept.
const maxUnrolledSteps = 10000

// unrolling returns the steps and damping of an unrolled or phantom
// gradient.
func (gs GradientSettings) unrolling() (int, float64, error) {
	steps, tau := gs.Steps, gs.Damping
	if gs.Mode == Phantom {
		if steps == 0 {
			steps = 3
		}
		if tau == 0 {
			tau = 0.8
		}
	}
	if tau == 0 {
		tau = 1
	}
	if steps < 1 || steps > maxUnrolledSteps {
		return 0, 0, fmt.Errorf("%w: %s gradient through %d steps (want 1 to %d)", api.ErrProblem, gs.Mode, steps, maxUnrolledSteps)
	}
	if !(tau > 0 && tau <= 1) {
		return 0, 0, fmt.Errorf("%w: %s gradient's damping %v (want 0 < τ ≤ 1)", api.ErrProblem, gs.Mode, tau)
	}
	return steps, tau, nil
}

// ErrNotConverged reports a forward or adjoint solve of a gradient that
// stopped at its iteration limit.
var ErrNotConverged = errors.New("did not converge")

// ErrAdjoint wraps a failure of the adjoint (backward) solve.
var ErrAdjoint = errors.New("adjoint solve failed")

// GradientResult is the loss of a batch, its gradient and the solves' stats.
type GradientResult struct {
	Loss float64
	// Grad holds ∂L/∂θ in the model's own layout: an architecture of the
	// model's kind and shapes (a *model.Dense for deq-dense), whose tensors
	// are the gradients of the model's.
	Grad model.Architecture
	// Y are the outputs (n×q); Forward and Backward the solves' results
	// (Backward is nil for JacobianFree and for an explicit model).
	Y                 []float64
	Forward, Backward *api.Result
	// Jacobian is the estimate of ‖J_f(z*)‖²_F / State (of σ_max² with
	// power steps), the batch's mean, when the settings set a
	// JacobianPenalty (else 0). Loss leaves out the penalty, γ times it;
	// Grad includes it.
	Jacobian float64
}

// Gradient returns the mean loss of the batch x (n×In) against target and
// its gradient with respect to every parameter of m. It never stores the
// forward iterations: the gradient depends only on the fixed point. It
// computes in m's own precision (Model.Layer), which is float32 for a model
// loaded from an F32 file; a Trainer's models are float64 (model.New).
func Gradient(ctx context.Context, m *model.Model, x, target []float64, loss Loss, gs GradientSettings) (*GradientResult, error) {
	info := m.Info()
	p, q := info.In, info.Out
	if len(x)%p != 0 {
		return nil, fmt.Errorf("%w: %d input values are not a whole number of samples of %d features", api.ErrProblem, len(x), p)
	}
	n := len(x) / p
	if len(target) != n*loss.TargetLen(q) {
		return nil, fmt.Errorf("%w: %d target values for %d samples (want %d)", api.ErrProblem, len(target), n, n*loss.TargetLen(q))
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: an empty batch has no loss", api.ErrProblem)
	}
	switch gs.Mode {
	case Implicit, JacobianFree:
		return implicitGradient(ctx, m, x, target, loss, gs, n)
	case Unrolled, Phantom:
		return unrolledGradient(ctx, m, x, target, loss, gs, n)
	}
	return nil, fmt.Errorf("%w: gradient mode %v", api.ErrProblem, gs.Mode)
}

// implicitGradient is Gradient through the solved fixed point.
func implicitGradient(ctx context.Context, m *model.Model, x, target []float64, loss Loss, gs GradientSettings, n int) (*GradientResult, error) {
	q := m.Info().Out
	fwd, err := m.Settings(gs.Forward)
	if err != nil {
		return nil, err
	}
	fwd.NoTrace = true
	layer := m.Layer()
	inj := layer.Inject(x, n)
	prob := layer.Problem(inj, n)
	if err := gs.checkJacobianPenaltyOn(prob); err != nil {
		return nil, err
	}
	res, err := fixedpoint.SolveBatch(ctx, prob, n, fwd)
	if err == nil {
		err = gs.converged("forward", res)
	}
	if err != nil {
		return nil, err
	}
	z := res.Z
	y, err := m.Readout(z)
	if err != nil {
		return nil, err
	}
	gy := make([]float64, n*q)
	l, err := loss.Loss(y, target, n, q, gy)
	if err != nil {
		return nil, err
	}

	grad := m.Architecture().Zero()
	back := layer.Backward(x, inj, z, n)
	gz := back.Readout(grad, gy)
	// w carries ∂L/∂z* through the fixed point; the Jacobian-free gradient
	// takes one step, which for a map that ignores z is exact.
	var (
		w       []float64
		adjoint *api.Result
	)
	if gs.Mode == Implicit && !prob.Constant {
		bs, err := m.Settings(gs.Backward)
		if err != nil {
			return nil, err
		}
		bs.NoTrace = true
		adjoint, err = fixedpoint.SolveBatch(ctx, back.Adjoint(gz), n, bs)
		if err == nil {
			err = gs.converged("adjoint", adjoint)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrAdjoint, err)
		}
		w = adjoint.Z
	} else {
		w = back.JacobianFree(gz)
	}
	back.Params(grad, w)
	out := &GradientResult{Loss: l, Grad: grad, Y: y, Forward: res, Backward: adjoint}
	if gs.JacobianPenalty > 0 {
		out.Jacobian = addJacobianPenalty(layer, prob, x, inj, z, n, gs, grad)
	}
	return out, nil
}

// unrolledGradient back-propagates through steps damped iterations
// z ← (1 − τ) z + τ f(z): from 0 (Unrolled) or from the solved fixed point
// (Phantom, which holds it constant).
func unrolledGradient(ctx context.Context, m *model.Model, x, target []float64, loss Loss, gs GradientSettings, n int) (*GradientResult, error) {
	steps, tau, err := gs.unrolling()
	if err != nil {
		return nil, err
	}
	info := m.Info()
	q, dim := info.Out, info.State
	layer := m.Layer()
	inj := layer.Inject(x, n)
	prob := layer.Problem(inj, n)
	if err := gs.checkJacobianPenaltyOn(prob); err != nil {
		return nil, err
	}
	z0 := make([]float64, n*dim)
	var res *api.Result
	if gs.Mode == Phantom {
		fwd, err := m.Settings(gs.Forward)
		if err != nil {
			return nil, err
		}
		fwd.NoTrace = true
		if res, err = fixedpoint.SolveBatch(ctx, prob, n, fwd); err == nil {
			err = gs.converged("forward", res)
		}
		if err != nil {
			return nil, err
		}
		copy(z0, res.Z)
	}
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	zs := [][]float64{z0}
	for k := 0; k < steps; k++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		next := make([]float64, n*dim)
		prob.F(next, zs[k], rows)
		if tau != 1 {
			for i, v := range zs[k] {
				next[i] = (1-tau)*v + tau*next[i]
			}
		}
		zs = append(zs, next)
	}
	if res == nil {
		res = unrolledResult(zs[steps], n, steps)
	}
	y, err := m.Readout(zs[steps])
	if err != nil {
		return nil, err
	}
	gy := make([]float64, n*q)
	l, err := loss.Loss(y, target, n, q, gy)
	if err != nil {
		return nil, err
	}
	grad := m.Architecture().Zero()
	g := layer.Backward(x, inj, zs[steps], n).Readout(grad, gy)
	tg, vjp := make([]float64, n*dim), make([]float64, n*dim)
	for k := steps - 1; k >= 0; k-- {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		back := layer.Backward(x, inj, zs[k], n)
		for i, v := range g {
			tg[i] = tau * v
		}
		back.Params(grad, back.JacobianFree(tg))
		if k == 0 {
			break
		}
		back.StateVJP(vjp, tg)
		for i := range g {
			g[i] = (1-tau)*g[i] + vjp[i]
		}
	}
	out := &GradientResult{Loss: l, Grad: grad, Y: y, Forward: res}
	if gs.JacobianPenalty > 0 {
		at := zs[steps] // Unrolled's model ends there
		if gs.Mode == Phantom {
			at = zs[0] // the fixed point
		}
		out.Jacobian = addJacobianPenalty(layer, prob, x, inj, at, n, gs, grad)
	}
	return out, nil
}

// unrolledResult describes the Unrolled forward pass as a solve that ran
// exactly steps iterations from zero.
func unrolledResult(z []float64, n, steps int) *api.Result {
	r := &api.Result{Z: z, Status: api.IterationLimit, Stats: api.Stats{Iterations: steps, FuncEvals: n * steps}, Samples: make([]api.Sample, n)}
	for i := range r.Samples {
		r.Samples[i] = api.Sample{Status: api.IterationLimit, Stats: api.Stats{Iterations: steps, FuncEvals: steps}}
	}
	return r
}

// converged says whether a gradient's solve may be used: an error unless it
// converged or the settings allow it.
func (gs GradientSettings) converged(which string, r *api.Result) error {
	if r.Status == api.Converged || gs.AllowUnconverged {
		return nil
	}
	stopped := 0
	for _, s := range r.Samples {
		if s.Status != api.Converged {
			stopped++
		}
	}
	return fmt.Errorf("%s solve %w: %d of %d samples stopped at %d iterations (relative residual up to %.3g); raise MaxIter, loosen the tolerance or set AllowUnconverged",
		which, ErrNotConverged, stopped, len(r.Samples), r.Iterations, r.RelResidual)
}
