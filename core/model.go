package core

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"gonum.org/v1/gonum/mat"

	"github.com/implicitlab/implicit/core/internal/gemm"
)

// Model runs a deq-dense model. It is safe for concurrent use.
type Model struct {
	d       *Dense
	h, p, q int
	weff    []float64 // W (h×h), as given or from the monotone parametrisation
	// The layer's products, z·Wᵀ, x·Uᵀ and z·Cᵀ, with the right-hand
	// matrices packed for the kernel.
	wt, ut, ct *gemm.Packed
	// u·W, for the adjoint of training, packed on first use.
	wOnce sync.Once
	w     *gemm.Packed

	splitOnce sync.Once
	split     splitInfo
	mu        sync.Mutex
	resolvent map[resolventKey]*gemm.Packed
}

// resolventKey names a factored resolvent: its step α, and whether it is
// (I + α(I − Wᵀ))⁻¹, the adjoint's, rather than (I + α(I − W))⁻¹.
type resolventKey struct {
	alpha     float64
	transpose bool
}

// splitInfo holds the layer's monotonicity m and Lipschitz bound L of I − W,
// computed on first use by a splitting method.
type splitInfo struct {
	m, lip float64
	err    error
}

// NewModel validates d and prepares it for inference. d must not change
// while the Model is in use.
func NewModel(d *Dense) (*Model, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	h, p, q := d.Sizes()
	m := &Model{d: d, h: h, p: p, q: q, resolvent: map[resolventKey]*gemm.Packed{}}
	m.weff = d.EffectiveW().Data
	m.wt = gemm.Pack(transposed(m.weff, h, h), h, h)
	m.ut = gemm.Pack(transposed(d.U.Data, h, p), p, h)
	m.ct = gemm.Pack(transposed(d.C.Data, q, h), h, q)
	return m, nil
}

func transposed(a []float64, rows, cols int) []float64 {
	t := make([]float64, len(a))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			t[j*rows+i] = a[i*cols+j]
		}
	}
	return t
}

// Dense returns the model's parameters.
func (m *Model) Dense() *Dense { return m.d }

// Sizes returns h, p and q: hidden units, inputs and outputs.
func (m *Model) Sizes() (h, p, q int) { return m.h, m.p, m.q }

// Output is the result of inference on a batch of n samples.
type Output struct {
	Y      []float64 // n×q outputs, row-major
	Z      []float64 // n×h fixed points
	Result *Result   // the solve's status and statistics
}

// Settings returns s completed with the model's own defaults (its file's
// solver, tolerance and iteration limit) where s leaves them unset. A
// monotone model without a solver of its own defaults to Peaceman-Rachford,
// a direct one to Anderson.
func (m *Model) Settings(s Settings) (Settings, error) {
	def := m.d.Defaults
	switch {
	case s.Method != nil:
	case def.Solver != "":
		meth, err := MethodByName(def.Solver)
		if err != nil {
			return s, err
		}
		s.Method = meth
	case m.d.Param == Monotone:
		// Guaranteed to converge on a monotone layer, however large ‖W‖₂;
		// Anderson usually is faster but can diverge there.
		s.Method = &PeacemanRachford{}
	}
	if s.MaxIter == 0 {
		s.MaxIter = def.MaxIter
	}
	if s.AbsTol == 0 && s.RelTol == 0 && def.Tol > 0 {
		s.RelTol = def.Tol
	}
	return s, nil
}

// Infer runs the model on n = len(x)/p samples, x row-major, solving each
// sample's fixed point with s completed by the model's defaults (see
// Settings). Errors are those of SolveBatch; the Output holds what was
// computed so far when the solve fails.
func (m *Model) Infer(ctx context.Context, x []float64, s Settings) (*Output, error) {
	sv, err := m.NewSolver(x, s)
	if err != nil {
		return nil, err
	}
	res, err := sv.Run(ctx)
	y, rerr := m.Readout(res.Z)
	if err == nil {
		err = rerr
	}
	return &Output{Y: y, Z: res.Z, Result: res}, err
}

// NewSolver prepares a solve of the samples x (n×p, row-major) that can run
// in bounded steps, with s completed by the model's defaults; Readout turns
// its Result's Z into outputs.
func (m *Model) NewSolver(x []float64, s Settings) (*Solver, error) {
	if len(x)%m.p != 0 {
		return nil, fmt.Errorf("%w: %d input values are not a whole number of samples of %d features", ErrProblem, len(x), m.p)
	}
	s, err := m.Settings(s)
	if err != nil {
		return nil, err
	}
	return NewSolver(m.Problem(x), len(x)/m.p, s)
}

// Readout returns y = C z + c for the fixed points z (n×h, row-major).
func (m *Model) Readout(z []float64) ([]float64, error) {
	if len(z)%m.h != 0 {
		return nil, fmt.Errorf("%w: %d values are not a whole number of fixed points of %d hidden units", ErrProblem, len(z), m.h)
	}
	n := len(z) / m.h
	y := make([]float64, n*m.q)
	for i := 0; i < n; i++ {
		copy(y[i*m.q:(i+1)*m.q], m.d.OutBias)
	}
	m.ct.MulAdd(y, z, n, new(gemm.Scratch))
	return y, nil
}

// Inject returns U x + b for n = len(x)/p samples (n×h, row-major).
func (m *Model) Inject(x []float64) []float64 {
	n := len(x) / m.p
	u := make([]float64, n*m.h)
	for i := 0; i < n; i++ {
		copy(u[i*m.h:(i+1)*m.h], m.d.Bias)
	}
	m.ut.MulAdd(u, x, n, new(gemm.Scratch))
	return u
}

// Problem returns the fixed-point problem of the samples x (row-major, p
// features each; a trailing partial sample is ignored): z = σ(W z + U x + b).
// It carries the layer's Splitting, so every method applies.
func (m *Model) Problem(x []float64) BatchProblem {
	inj := m.Inject(x)
	h := m.h
	act := m.d.Activation
	// A Problem is solved by one goroutine. After a relu about half of z
	// is zero, and a single row's product can skip it.
	scratch := gemm.Scratch{Sparse: act == ReLU}
	linear := func(dst, z []float64, rows []int) {
		for k, i := range rows {
			copy(dst[k*h:(k+1)*h], inj[i*h:(i+1)*h])
		}
		m.wt.MulAdd(dst, z, len(rows), &scratch)
	}
	return BatchProblem{
		Dim:     h,
		Samples: len(x) / m.p,
		F: func(dst, z []float64, rows []int) {
			linear(dst, z, rows)
			act.apply(dst)
		},
		Split: &Splitting{
			Linear: linear,
			Prox:   func(v []float64, _ []int, alpha float64) { act.prox(v, alpha) },
			Resolvent: func(alpha float64) (func(dst, v []float64, rows []int), error) {
				return m.resolventFunc(alpha, false, inj)
			},
			Bounds: m.bounds,
		},
	}
}

// bounds returns the monotonicity m of I − W and a bound on ‖I − W‖₂,
// which I − Wᵀ shares.
func (m *Model) bounds() (float64, float64, error) {
	s := m.splitting()
	return s.m, s.lip, s.err
}

func eye(n int) *mat.Dense {
	e := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		e.Set(i, i, 1)
	}
	return e
}

// splitting computes, once, the monotonicity m of I − W (exact for the
// monotone parametrisation, the smallest eigenvalue of its symmetric part
// for a direct W) and a bound on ‖I − W‖₂.
func (m *Model) splitting() splitInfo {
	m.splitOnce.Do(func() {
		h := m.h
		iw := mat.NewDense(h, h, nil) // I − W
		iw.Sub(eye(h), mat.NewDense(h, h, m.weff))
		if m.d.Param == Monotone {
			m.split.m = m.d.Monotone
		} else {
			sym := mat.NewSymDense(h, nil)
			for i := 0; i < h; i++ {
				for j := i; j < h; j++ {
					sym.SetSym(i, j, (iw.At(i, j)+iw.At(j, i))/2)
				}
			}
			var eig mat.EigenSym
			if !eig.Factorize(sym, false) {
				m.split.err = fmt.Errorf("%w: eigendecomposition of the layer failed", ErrProblem)
				return
			}
			m.split.m = eig.Values(nil)[0]
		}
		// ‖I − W‖₂ by power iteration, padded 5%, and never above the
		// guaranteed bound √(‖·‖₁‖·‖∞). Cheaper than an SVD by far (which
		// dominated a WebAssembly guest's first solve), and precise enough:
		// Peaceman-Rachford converges for any step, and forward-backward's
		// default step is half the largest safe one.
		ml := Matrix{Rows: h, Cols: h, Data: iw.RawMatrix().Data}
		est := 1.04 * powerNorm(ml, rand.New(rand.NewPCG(1, 2))) // powerNorm adds 1%
		m.split.lip = math.Min(est, math.Sqrt(mat.Norm(iw, 1)*mat.Norm(iw, math.Inf(1))))
	})
	return m.split
}

// resolventFunc returns dst = (I + α(I − W))⁻¹ (v + α u_i) for each row,
// or with Wᵀ for W if transpose is set; the matrix is factored once per α
// and kept.
func (m *Model) resolventFunc(alpha float64, transpose bool, inj []float64) (func(dst, v []float64, rows []int), error) {
	if err := m.splitting().err; err != nil {
		return nil, err
	}
	key := resolventKey{alpha, transpose}
	m.mu.Lock()
	rt, ok := m.resolvent[key]
	if !ok {
		h := m.h
		// I + α(I − W) = (1 + α) I − α W
		a := mat.NewDense(h, h, nil)
		a.Scale(-alpha, mat.NewDense(h, h, m.weff))
		for i := 0; i < h; i++ {
			a.Set(i, i, a.At(i, i)+1+alpha)
		}
		var inv mat.Dense
		if err := inv.Inverse(a); err != nil {
			m.mu.Unlock()
			return nil, fmt.Errorf("%w: I + α(I − W) is singular for α=%v: %v", ErrProblem, alpha, err)
		}
		// Rows are multiplied on the right: by the inverse's transpose, and
		// for the adjoint, whose inverse is that transpose, by the inverse.
		r := inv.RawMatrix().Data
		if !transpose {
			r = transposed(r, h, h)
		}
		rt = gemm.Pack(r, h, h)
		if len(m.resolvent) > 8 {
			clear(m.resolvent) // a few step sizes are in use at a time
		}
		m.resolvent[key] = rt
	}
	m.mu.Unlock()
	h := m.h
	var (
		tmp     []float64
		scratch gemm.Scratch
	)
	return func(dst, v []float64, rows []int) {
		n := len(rows)
		if cap(tmp) < n*h {
			tmp = make([]float64, n*h)
		}
		t := tmp[:n*h]
		for k, i := range rows {
			tk, vk, uk := t[k*h:(k+1)*h], v[k*h:(k+1)*h], inj[i*h:(i+1)*h]
			for j := range tk {
				tk[j] = vk[j] + alpha*uk[j]
			}
		}
		clear(dst[:n*h])
		rt.MulAdd(dst, t, n, &scratch)
	}, nil
}
