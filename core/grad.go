package core

import (
	"context"
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/implicitlab/implicit/core/internal/gemm"
)

// Loss is a training loss on a model's outputs.
type Loss interface {
	// Loss returns the mean loss over the n samples of y (n×q) and sets
	// grad (n×q) to its gradient with respect to y. target holds what the
	// loss compares y with.
	Loss(y, target []float64, n, q int, grad []float64) (float64, error)
	// TargetLen is the number of target values one sample has.
	TargetLen(q int) int
}

// CrossEntropy is the softmax cross-entropy of class scores y against class
// labels: target holds one label, 0 ≤ label < q, a sample.
type CrossEntropy struct{}

// TargetLen is 1: the class label.
func (CrossEntropy) TargetLen(int) int { return 1 }

// Loss implements Loss.
func (CrossEntropy) Loss(y, target []float64, n, q int, grad []float64) (float64, error) {
	var total float64
	for i := 0; i < n; i++ {
		label := int(target[i])
		if float64(label) != target[i] || label < 0 || label >= q {
			return 0, fmt.Errorf("%w: sample %d has label %v (want a whole number 0 to %d)", ErrProblem, i, target[i], q-1)
		}
		row, g := y[i*q:(i+1)*q], grad[i*q:(i+1)*q]
		top := row[0]
		for _, v := range row {
			top = math.Max(top, v)
		}
		var sum float64
		for j, v := range row {
			g[j] = math.Exp(v - top)
			sum += g[j]
		}
		total += math.Log(sum) + top - row[label]
		for j := range g {
			g[j] /= sum * float64(n)
		}
		g[label] -= 1 / float64(n)
	}
	return total / float64(n), nil
}

// MSE is the mean over samples of the squared error ½‖y − target‖², target
// holding q values a sample.
type MSE struct{}

// TargetLen is q.
func (MSE) TargetLen(q int) int { return q }

// Loss implements Loss.
func (MSE) Loss(y, target []float64, n, _ int, grad []float64) (float64, error) {
	var total float64
	for i, v := range y {
		d := v - target[i]
		total += d * d / 2
		grad[i] = d / float64(n)
	}
	return total / float64(n), nil
}

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
	Forward, Backward Settings
	// AllowUnconverged accepts a forward or adjoint solve that stopped at
	// its iteration limit; the gradient is then only approximate. Without
	// it, that is an error (ErrNotConverged).
	AllowUnconverged bool
}

// ErrNotConverged reports a forward or adjoint solve of a gradient that
// stopped at its iteration limit.
var ErrNotConverged = errors.New("did not converge")

// GradientResult is the loss of a batch, its gradient and the solves' stats.
type GradientResult struct {
	Loss float64
	// Grad holds ∂L/∂θ in the model's own layout: W (direct) or A and B
	// (monotone), U, Bias, C and OutBias.
	Grad *Dense
	// Y are the outputs (n×q); Forward and Backward the solves' results
	// (Backward is nil for JacobianFree).
	Y                 []float64
	Forward, Backward *Result
}

// ErrAdjoint wraps a failure of the adjoint (backward) solve.
var ErrAdjoint = errors.New("adjoint solve failed")

// Gradient returns the mean loss of the batch x (n×p) against target and its
// gradient with respect to every parameter. It never stores the forward
// iterations: the gradient depends only on the fixed point.
func (m *Model) Gradient(ctx context.Context, x, target []float64, loss Loss, gs GradientSettings) (*GradientResult, error) {
	if len(x)%m.p != 0 {
		return nil, fmt.Errorf("%w: %d input values are not a whole number of samples of %d features", ErrProblem, len(x), m.p)
	}
	n, h, q := len(x)/m.p, m.h, m.q
	if len(target) != n*loss.TargetLen(q) {
		return nil, fmt.Errorf("%w: %d target values for %d samples (want %d)", ErrProblem, len(target), n, n*loss.TargetLen(q))
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: an empty batch has no loss", ErrProblem)
	}
	fwd, err := m.Settings(gs.Forward)
	if err != nil {
		return nil, err
	}
	fwd.NoTrace = true
	prob := m.Problem(x)
	res, err := SolveBatch(ctx, prob, n, fwd)
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

	g := &Dense{Activation: m.d.Activation, Param: m.d.Param, Monotone: m.d.Monotone}
	g.C = NewMatrix(q, h)
	gemmTN(1, gy, z, n, q, h, g.C.Data) // ∂C = gyᵀ z
	g.OutBias = colSums(gy, n, q)

	// ∂L/∂z* = gy C, then D = σ'(W z* + U x + b).
	gz := make([]float64, n*h)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1,
		blas64.General{Rows: n, Cols: q, Stride: q, Data: gy},
		blas64.General{Rows: q, Cols: h, Stride: h, Data: m.d.C.Data},
		0, blas64.General{Rows: n, Cols: h, Stride: h, Data: gz})
	deriv := m.activationDerivative(prob, z, n)

	// v = ∂L/∂(W z* + U x + b) = D u, where u = ∂L/∂z* through the fixed
	// point; the Jacobian-free gradient takes u = gz.
	var (
		v    []float64
		back *Result
	)
	if gs.Mode == Implicit {
		bs, err := m.Settings(gs.Backward)
		if err != nil {
			return nil, err
		}
		bs.NoTrace = true
		back, err = SolveBatch(ctx, m.adjointProblem(gz, deriv), n, bs)
		if err == nil {
			err = gs.converged("adjoint", back)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrAdjoint, err)
		}
		v = back.Z
	} else {
		v = make([]float64, n*h)
		for i := range v {
			v[i] = deriv[i] * gz[i]
		}
	}
	g.U = NewMatrix(h, m.p)
	gemmTN(1, v, x, n, h, m.p, g.U.Data)
	g.Bias = colSums(v, n, h)
	gw := NewMatrix(h, h)
	gemmTN(1, v, z, n, h, h, gw.Data) // ∂W = vᵀ z*
	if m.d.Param == Monotone {
		// W = (1 − m) I − AᵀA + B − Bᵀ: ∂A = −A (G + Gᵀ), ∂B = G − Gᵀ.
		sym := NewMatrix(h, h)
		g.B = NewMatrix(h, h)
		for i := 0; i < h; i++ {
			for j := 0; j < h; j++ {
				sym.Data[i*h+j] = gw.Data[i*h+j] + gw.Data[j*h+i]
				g.B.Data[i*h+j] = gw.Data[i*h+j] - gw.Data[j*h+i]
			}
		}
		g.A = NewMatrix(h, h)
		blas64.Gemm(blas.NoTrans, blas.NoTrans, -1,
			blas64.General{Rows: h, Cols: h, Stride: h, Data: m.d.A.Data},
			blas64.General{Rows: h, Cols: h, Stride: h, Data: sym.Data},
			0, blas64.General{Rows: h, Cols: h, Stride: h, Data: g.A.Data})
	} else {
		g.W = gw
	}
	return &GradientResult{Loss: l, Grad: g, Y: y, Forward: res, Backward: back}, nil
}

// activationDerivative returns σ'(W z + U x + b) for the fixed points z.
func (m *Model) activationDerivative(prob BatchProblem, z []float64, n int) []float64 {
	d := make([]float64, n*m.h)
	switch m.d.Activation {
	case Identity:
		for i := range d {
			d[i] = 1
		}
	case Tanh:
		// σ(pre) is f(z*), which is z* itself up to the solve's tolerance;
		// recomputing it keeps the derivative exact at the point used.
		prob.Split.Linear(d, z, seq(n))
		for i, p := range d {
			t := math.Tanh(p)
			d[i] = 1 - t*t
		}
	case ReLU:
		prob.Split.Linear(d, z, seq(n))
		for i, p := range d {
			if p > 0 {
				d[i] = 1
			} else {
				d[i] = 0
			}
		}
	}
	return d
}

// adjointProblem is the adjoint fixed point u = J_f(z*)ᵀ u + gz, with
// J_f = D W, written for v = D u: v = D (Wᵀ v + gz), solved row by row as
// v ← D ⊙ (v W + gz), a vector-Jacobian product, never a dense Jacobian.
//
// In this form the adjoint of a monotone layer is itself a monotone
// equilibrium problem, so the splittings apply to it: I − Wᵀ has the same
// monotonicity and norm as I − W, and v ↦ D ⊙ v is the proximal operator of
// φ(v) = ½ Σ (1/dᵢ − 1) vᵢ² (plus the constraint vᵢ = 0 where dᵢ = 0), as
// 0 ≤ dᵢ ≤ 1 for relu, tanh and identity. Its scaled form,
// prox_{αφ}(v)ᵢ = vᵢ dᵢ / (dᵢ + α(1 − dᵢ)), is what the splitting steps need.
func (m *Model) adjointProblem(gz, deriv []float64) BatchProblem {
	h := m.h
	w := m.packedW()
	var scratch gemm.Scratch
	linear := func(dst, v []float64, rows []int) {
		for k, i := range rows {
			copy(dst[k*h:(k+1)*h], gz[i*h:(i+1)*h])
		}
		w.MulAdd(dst, v, len(rows), &scratch)
	}
	prox := func(v []float64, rows []int, alpha float64) {
		for k, i := range rows {
			vk, dk := v[k*h:(k+1)*h], deriv[i*h:(i+1)*h]
			for j, d := range dk {
				if alpha == 1 {
					vk[j] *= d
				} else {
					vk[j] *= d / (d + alpha*(1-d))
				}
			}
		}
	}
	return BatchProblem{
		Dim:     h,
		Samples: len(gz) / h,
		F: func(dst, v []float64, rows []int) {
			linear(dst, v, rows)
			prox(dst, rows, 1)
		},
		Split: &Splitting{
			Linear: linear,
			Prox:   prox,
			Resolvent: func(alpha float64) (func(dst, v []float64, rows []int), error) {
				return m.resolventFunc(alpha, true, gz)
			},
			Bounds: m.bounds,
		},
	}
}

// converged says whether a gradient's solve may be used: an error unless it
// converged or the settings allow it.
func (gs GradientSettings) converged(which string, r *Result) error {
	if r.Status == Converged || gs.AllowUnconverged {
		return nil
	}
	stopped := 0
	for _, s := range r.Samples {
		if s.Status != Converged {
			stopped++
		}
	}
	return fmt.Errorf("%s solve %w: %d of %d samples stopped at %d iterations (relative residual up to %.3g); raise MaxIter, loosen the tolerance or set AllowUnconverged",
		which, ErrNotConverged, stopped, len(r.Samples), r.Iterations, r.RelResidual)
}

// packedW returns W itself packed for the kernel (rows times W), built on
// first use: only training needs it.
func (m *Model) packedW() *gemm.Packed {
	m.wOnce.Do(func() {
		m.w = gemm.Pack(m.weff, m.h, m.h)
	})
	return m.w
}

func colSums(a []float64, rows, cols int) []float64 {
	s := make([]float64, cols)
	for i := 0; i < rows; i++ {
		axpy(1, a[i*cols:(i+1)*cols], s)
	}
	return s
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
