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

// ConvConfig describes a deq-conv model to initialise.
type ConvConfig struct {
	InChannels, Height, Width int // c_in, H, W of an input image
	Channels, Inner           int // C and I
	Groups, Pool              int // G and P
	Out                       int // q
	// CellStd is the standard deviation of the cell's convolution
	// weights; 0 means 0.01, the Deep Implicit Layers tutorial's, which
	// starts f close to z ↦ norm3(relu(z + norm2(x̃))) and the solve easy.
	CellStd float64
}

// NewConv returns a deq-conv model with random parameters drawn from rng:
// the stem and the head as PyTorch initialises nn.Conv2d and nn.Linear
// (uniform on ±1/√fan_in), the cell's convolutions normal with standard
// deviation CellStd, the normalisations at γ = 1, β = 0 and the running
// statistics at mean 0, variance 1.
func NewConv(cfg ConvConfig, rng *rand.Rand) (*Conv, error) {
	std := cfg.CellStd
	if std == 0 {
		std = 0.01
	}
	c := &Conv{InChannels: cfg.InChannels, Height: cfg.Height, Width: cfg.Width, Channels: cfg.Channels, Inner: cfg.Inner, Groups: cfg.Groups, Pool: cfg.Pool}
	if err := c.sizeError(); err != nil {
		return nil, err
	}
	if cfg.Out <= 0 || !(std > 0) || math.IsInf(std, 0) {
		return nil, modelErrorf("deq-conv q=%d outputs, cell standard deviation %v (want both > 0)", cfg.Out, std)
	}
	cc, ii := c.Channels, c.Inner
	uniform := func(n, fanIn int) []float64 { return uniformMatrix(rng, 1, n, fanIn).Data }
	normal := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = std * rng.NormFloat64()
		}
		return v
	}
	fill := func(n int, x float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = x
		}
		return v
	}
	bn := func() BatchNorm {
		return BatchNorm{Weight: fill(cc, 1), Bias: fill(cc, 0), RunningMean: fill(cc, 0), RunningVar: fill(cc, 1)}
	}
	gn := func(ch int) Norm { return Norm{Weight: fill(ch, 1), Bias: fill(ch, 0)} }
	fanStem := 9 * c.InChannels
	c.Stem = Conv2d{Weight: uniform(cc*fanStem, fanStem), Bias: uniform(cc, fanStem)}
	c.StemNorm, c.HeadNorm = bn(), bn()
	c.Conv1, c.Norm1 = Conv2d{Weight: normal(ii * cc * 9)}, gn(ii)
	c.Conv2, c.Norm2, c.Norm3 = Conv2d{Weight: normal(cc * ii * 9)}, gn(cc), gn(cc)
	feat := cc * (c.Height / c.Pool) * (c.Width / c.Pool)
	c.Head, c.HeadBias = uniformMatrix(rng, cfg.Out, feat, feat), uniform(cfg.Out, feat)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("initialising: %w", err)
	}
	return c, nil
}
