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
)

func (g GradientMode) String() string {
	if g == JacobianFree {
		return "jacobian-free"
	}
	return "implicit"
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
}

// Gradient returns the mean loss of the batch x (n×In) against target and
// its gradient with respect to every parameter of m. It never stores the
// forward iterations: the gradient depends only on the fixed point.
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
	fwd, err := m.Settings(gs.Forward)
	if err != nil {
		return nil, err
	}
	fwd.NoTrace = true
	layer := m.Layer()
	inj := layer.Inject(x, n)
	prob := layer.Problem(inj, n)
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
	return &GradientResult{Loss: l, Grad: grad, Y: y, Forward: res, Backward: adjoint}, nil
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
