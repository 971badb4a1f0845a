package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/implicitlab/implicit/core/internal/vec"
)

// DenseConfig describes a deq-dense model to initialise.
type DenseConfig struct {
	Hidden, In, Out int // h, p, q
	Activation      Activation
	Param           Parametrization
	// Monotone is m of the monotone parametrisation; 0 means 0.5.
	Monotone float64
}

// NewDense returns a deq-dense model with random parameters drawn from rng,
// initialised as PyTorch's nn.Linear does (uniform on ±1/√fan_in). A direct W
// is then scaled, if need be, to ‖W‖₂ ≤ 0.9, so that plain iteration
// converges from the start of training.
func NewDense(cfg DenseConfig, rng *rand.Rand) (*Dense, error) {
	h, p, q := cfg.Hidden, cfg.In, cfg.Out
	if h <= 0 || p <= 0 || q <= 0 {
		return nil, modelErrorf("sizes h=%d, p=%d, q=%d (all must be positive)", h, p, q)
	}
	uniform := func(rows, cols, fanIn int) Matrix { return uniformMatrix(rng, rows, cols, fanIn) }
	d := &Dense{
		Activation: cfg.Activation, Param: cfg.Param,
		U: uniform(h, p, p), Bias: uniform(1, h, p).Data,
		C: uniform(q, h, h), OutBias: uniform(1, q, h).Data,
	}
	switch cfg.Param {
	case Monotone:
		d.Monotone = cfg.Monotone
		if d.Monotone == 0 {
			d.Monotone = 0.5
		}
		d.A, d.B = uniform(h, h, h), uniform(h, h, h)
	case Direct:
		d.W = uniform(h, h, h)
		if s := powerNorm(d.W, rng); s > 0.9 {
			for i := range d.W.Data {
				d.W.Data[i] *= 0.9 / s
			}
		}
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("initialising: %w", err)
	}
	return d, nil
}

// powerNorm estimates ‖M‖₂ by power iteration on MᵀM, from slightly above:
// the estimate converges from below, so it is padded by 1%.
func powerNorm(m Matrix, rng *rand.Rand) float64 {
	v := make([]float64, m.Cols)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	mv := make([]float64, m.Rows)
	var s float64
	for range 100 {
		nv := math.Sqrt(vec.Dot(v, v))
		if nv == 0 {
			return 0
		}
		for i := range v {
			v[i] /= nv
		}
		for i := range mv {
			mv[i] = vec.Dot(m.Data[i*m.Cols:(i+1)*m.Cols], v)
		}
		clear(v)
		for i, x := range mv {
			vec.Axpy(x, m.Data[i*m.Cols:(i+1)*m.Cols], v)
		}
		s = math.Sqrt(math.Sqrt(vec.Dot(v, v)))
	}
	return 1.01 * s
}

// uniformMatrix draws a rows×cols matrix uniform on ±1/√fanIn, as PyTorch's
// nn.Linear initialises its weight and bias.
func uniformMatrix(rng *rand.Rand, rows, cols, fanIn int) Matrix {
	m := NewMatrix(rows, cols)
	bound := 1 / math.Sqrt(float64(fanIn))
	for i := range m.Data {
		m.Data[i] = bound * (2*rng.Float64() - 1)
	}
	return m
}

// MLPConfig describes an mlp model to initialise.
type MLPConfig struct {
	Hidden, In, Out int // h, p, q
	Activation      Activation
}

// NewMLP returns an mlp model with random parameters drawn from rng,
// initialised as PyTorch's nn.Linear does, in the order NewDense draws the
// same tensors: a deq-dense model and an mlp from the same seed start from
// the same U, b, C and c.
func NewMLP(cfg MLPConfig, rng *rand.Rand) (*MLP, error) {
	h, p, q := cfg.Hidden, cfg.In, cfg.Out
	if h <= 0 || p <= 0 || q <= 0 {
		return nil, modelErrorf("sizes h=%d, p=%d, q=%d (all must be positive)", h, p, q)
	}
	m := &MLP{
		Activation: cfg.Activation,
		U:          uniformMatrix(rng, h, p, p), Bias: uniformMatrix(rng, 1, h, p).Data,
		C: uniformMatrix(rng, q, h, h), OutBias: uniformMatrix(rng, 1, q, h).Data,
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("initialising: %w", err)
	}
	return m, nil
}
