package core

import (
	"errors"
	"fmt"
	"math"
)

// Activation is the nonlinearity σ of a deq-dense layer. Each is the
// proximal operator of a convex function, which the splitting methods rely
// on.
type Activation string

const (
	ReLU     Activation = "relu"
	Tanh     Activation = "tanh"
	Identity Activation = "identity"
)

// prox sets v = prox_{αf}(v) elementwise, where f is the convex function
// whose proximal operator is σ (prox_f = σ). The splitting methods take
// steps of size α, so they need the scaled operator: for ReLU (f the
// indicator of x ≥ 0) and identity (f = 0) it is σ for every α; for tanh it
// solves (1 − α) x + α atanh(x) = v.
func (a Activation) prox(v []float64, alpha float64) {
	if a != Tanh || alpha == 1 {
		a.apply(v)
		return
	}
	for i, x := range v {
		v[i] = tanhProx(x, alpha)
	}
}

// tanhProx solves (1 − α) x + α atanh(x) = v for x in (−1, 1). With
// x = tanh(s) that is h(s) = α s + (1 − α) tanh(s) − v = 0, where
// h'(s) = α + (1 − α) sech²(s) ≥ min(α, 1) > 0 and h is nearly linear, so
// Newton's method from s = v converges in a few steps.
func tanhProx(v, alpha float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return math.Tanh(v)
	}
	s := v
	for range 50 {
		t := math.Tanh(s)
		h := alpha*s + (1-alpha)*t - v
		dh := alpha + (1-alpha)*(1-t*t)
		step := h / dh
		s -= step
		if math.Abs(step) <= 1e-15*(1+math.Abs(s)) {
			break
		}
	}
	return math.Tanh(s)
}

// apply sets v = σ(v) elementwise.
func (a Activation) apply(v []float64) {
	switch a {
	case ReLU:
		for i, x := range v {
			if !(x > 0) && !math.IsNaN(x) {
				v[i] = 0
			}
		}
	case Tanh:
		for i, x := range v {
			v[i] = math.Tanh(x)
		}
	}
}

// Parametrization says how a deq-dense layer's W is stored.
type Parametrization string

const (
	// Direct stores W itself. A unique fixed point is not guaranteed; the
	// iteration converges when, for instance, ‖W‖₂ < 1 with a 1-Lipschitz σ.
	Direct Parametrization = "direct"
	// Monotone stores A and B with W = (1 − m) I − AᵀA + B − Bᵀ, so that
	// I − W ⪰ m I: the layer has exactly one fixed point for any A, B and
	// m > 0 (Winston & Kolter 2020), whatever ‖W‖₂.
	Monotone Parametrization = "monotone"
)

// Matrix is a dense row-major matrix.
type Matrix struct {
	Rows, Cols int
	Data       []float64 // Rows×Cols values, row by row
}

// NewMatrix returns a zero rows×cols matrix.
func NewMatrix(rows, cols int) Matrix {
	return Matrix{Rows: rows, Cols: cols, Data: make([]float64, rows*cols)}
}

// SolverDefaults are a model's own solver settings, stored in its file and
// used where a caller sets none.
type SolverDefaults struct {
	Solver  string  // a MethodByName name; "" means anderson
	Tol     float64 // relative tolerance; 0 means the Settings default
	MaxIter int     // 0 means the Settings default
}

// Dense holds the parameters of a deq-dense model:
//
//	z* = σ(W z* + U x + b),  y = C z* + c,  z⁰ = 0,
//
// with h hidden units, p inputs and q outputs. Its fields mirror the model
// file (see DecodeDense). A Dense must not change while a Model built from it
// is in use.
type Dense struct {
	Activation Activation
	Param      Parametrization
	// Monotone is m > 0 of the monotone parametrisation.
	Monotone float64
	// W is h×h (Direct); A and B are h×h (Monotone). The unused ones are empty.
	W, A, B Matrix
	U       Matrix    // h×p, the input injection (encoder.weight)
	Bias    []float64 // b, h values (encoder.bias)
	C       Matrix    // q×h, the readout (decoder.weight)
	OutBias []float64 // c, q values (decoder.bias)

	Defaults SolverDefaults
}

// ErrModel wraps every complaint about a model's parameters or file.
var ErrModel = errors.New("invalid model")

func modelErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrModel, fmt.Sprintf(format, args...))
}

// Sizes returns h, p and q: hidden units, inputs and outputs.
func (d *Dense) Sizes() (h, p, q int) { return d.U.Rows, d.U.Cols, d.C.Rows }

// Validate checks that the parameters describe a deq-dense model: known
// activation and parametrisation, consistent shapes, finite values.
func (d *Dense) Validate() error {
	switch d.Activation {
	case ReLU, Tanh, Identity:
	default:
		return modelErrorf("activation %q (want relu, tanh or identity)", d.Activation)
	}
	h, p, q := d.Sizes()
	if h <= 0 || p <= 0 || q <= 0 {
		return modelErrorf("sizes h=%d, p=%d, q=%d (all must be positive)", h, p, q)
	}
	check := func(name string, m Matrix, rows, cols int) error {
		if m.Rows != rows || m.Cols != cols {
			return modelErrorf("%s is %d×%d, want %d×%d", name, m.Rows, m.Cols, rows, cols)
		}
		return checkValues(name, m.Data, rows*cols)
	}
	empty := func(name string, m Matrix) error {
		if m.Rows != 0 || m.Cols != 0 || len(m.Data) != 0 {
			return modelErrorf("%s is set, but the %s parametrisation does not use it", name, d.Param)
		}
		return nil
	}
	var errs []error
	switch d.Param {
	case Direct:
		errs = append(errs, check("W (core.weight)", d.W, h, h), empty("A (core.A)", d.A), empty("B (core.B)", d.B))
		if d.Monotone != 0 {
			errs = append(errs, modelErrorf("monotone m=%v is set for a direct model", d.Monotone))
		}
	case Monotone:
		errs = append(errs, check("A (core.A)", d.A, h, h), check("B (core.B)", d.B, h, h), empty("W (core.weight)", d.W))
		// |(AᵀA)ᵢⱼ| ≤ ‖A‖²_F, so these bounds on m, A and B keep W finite.
		const limit = math.MaxFloat64 / 4
		if !(d.Monotone > 0 && d.Monotone < limit) {
			errs = append(errs, modelErrorf("monotone m=%v (want a finite m > 0)", d.Monotone))
		}
		if s := dot(d.A.Data, d.A.Data); len(d.A.Data) == h*h && !(s < limit) {
			errs = append(errs, modelErrorf("A (core.A) is too large: ‖A‖²_F = %v overflows W = (1 − m) I − AᵀA + B − Bᵀ", s))
		}
		for i, b := range d.B.Data {
			if !(math.Abs(b) < limit) {
				errs = append(errs, modelErrorf("B (core.B) is too large: %v at index %d overflows W = (1 − m) I − AᵀA + B − Bᵀ", b, i))
				break
			}
		}
	default:
		return modelErrorf("parametrisation %q (want direct or monotone)", d.Param)
	}
	errs = append(errs,
		check("U (encoder.weight)", d.U, h, p),
		checkValues("b (encoder.bias)", d.Bias, h),
		check("C (decoder.weight)", d.C, q, h),
		checkValues("c (decoder.bias)", d.OutBias, q),
		d.Defaults.validate(),
	)
	return firstError(errs)
}

// firstError returns the first non-nil error: one clear complaint reads
// better than a list that repeats the ErrModel prefix.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func checkValues(name string, v []float64, n int) error {
	if len(v) != n {
		return modelErrorf("%s has %d values, want %d", name, len(v), n)
	}
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return modelErrorf("%s holds %v at index %d", name, x, i)
		}
	}
	return nil
}

func (s SolverDefaults) validate() error {
	if s.Solver != "" {
		if _, err := MethodByName(s.Solver); err != nil {
			return modelErrorf("default solver %q is unknown", s.Solver)
		}
	}
	if !(s.Tol >= 0) || math.IsInf(s.Tol, 0) {
		return modelErrorf("default tolerance %v (want a finite value ≥ 0)", s.Tol)
	}
	if s.MaxIter < 0 {
		return modelErrorf("default max iterations %d (want ≥ 0)", s.MaxIter)
	}
	return nil
}

// EffectiveW returns the h×h matrix W of the layer: W itself, or
// (1 − m) I − AᵀA + B − Bᵀ for the monotone parametrisation.
func (d *Dense) EffectiveW() Matrix {
	h, _, _ := d.Sizes()
	if d.Param != Monotone {
		w := NewMatrix(h, h)
		copy(w.Data, d.W.Data)
		return w
	}
	w := NewMatrix(h, h)
	gemmTN(-1, d.A.Data, d.A.Data, h, h, h, w.Data) // −AᵀA
	b := d.B.Data
	for i := 0; i < h; i++ {
		for j := 0; j < h; j++ {
			w.Data[i*h+j] += b[i*h+j] - b[j*h+i]
		}
		w.Data[i*h+i] += 1 - d.Monotone
	}
	return w
}
