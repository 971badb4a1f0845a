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

func (cfg ConvConfig) cellStd() float64 {
	if cfg.CellStd == 0 {
		return 0.01
	}
	return cfg.CellStd
}

// newFrame draws the stem and the head as PyTorch initialises nn.Conv2d and
// nn.Linear (uniform on ±1/√fan_in), with BatchNorms at γ = 1, β = 0, mean
// 0, variance 1.
func newFrame(cfg ConvConfig, rng *rand.Rand) (*ConvFrame, error) {
	f := &ConvFrame{InChannels: cfg.InChannels, Height: cfg.Height, Width: cfg.Width, Channels: cfg.Channels, Inner: cfg.Inner, Groups: cfg.Groups, Pool: cfg.Pool}
	if err := f.sizeError(); err != nil {
		return nil, err
	}
	if std := cfg.cellStd(); cfg.Out <= 0 || !(std > 0) || math.IsInf(std, 0) {
		return nil, modelErrorf("convolutional model of q=%d outputs, cell standard deviation %v (want both > 0)", cfg.Out, std)
	}
	cc := f.Channels
	uniform := func(n, fanIn int) []float64 { return uniformMatrix(rng, 1, n, fanIn).Data }
	bn := func() BatchNorm {
		return BatchNorm{Weight: filled(cc, 1), Bias: filled(cc, 0), RunningMean: filled(cc, 0), RunningVar: filled(cc, 1)}
	}
	fan := 9 * f.InChannels
	f.Stem = Conv2d{Weight: uniform(cc*fan, fan), Bias: uniform(cc, fan)}
	f.StemNorm, f.HeadNorm = bn(), bn()
	feat := cc * (f.Height / f.Pool) * (f.Width / f.Pool)
	f.Head, f.HeadBias = uniformMatrix(rng, cfg.Out, feat, feat), uniform(cfg.Out, feat)
	return f, nil
}

// newCell draws a cell: its convolutions normal with standard deviation std,
// its GroupNorms at γ = 1, β = 0.
func newCell(f *ConvFrame, std float64, rng *rand.Rand) Cell {
	normal := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = std * rng.NormFloat64()
		}
		return v
	}
	gn := func(ch int) Norm { return Norm{Weight: filled(ch, 1), Bias: filled(ch, 0)} }
	cc, ii := f.Channels, f.Inner
	return Cell{Conv1: Conv2d{Weight: normal(ii * cc * 9)}, Norm1: gn(ii), Conv2: Conv2d{Weight: normal(cc * ii * 9)}, Norm2: gn(cc), Norm3: gn(cc)}
}

func filled(n int, x float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = x
	}
	return v
}

// NewConv returns a deq-conv model with random parameters drawn from rng:
// the stem and the head as PyTorch initialises nn.Conv2d and nn.Linear
// (uniform on ±1/√fan_in), the cell's convolutions normal with standard
// deviation CellStd, the normalisations at γ = 1, β = 0 and the running
// statistics at mean 0, variance 1.
func NewConv(cfg ConvConfig, rng *rand.Rand) (*Conv, error) {
	f, err := newFrame(cfg, rng)
	if err != nil {
		return nil, err
	}
	c := &Conv{ConvFrame: *f, Cell: newCell(f, cfg.cellStd(), rng)}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("initialising: %w", err)
	}
	return c, nil
}

// NewCNN returns a cnn model of depth cells, drawn as NewConv draws
// deq-conv's frame and cell, in the same order: a cnn of depth 1 starts from
// the weights of the deq-conv model of the same configuration and seed.
func NewCNN(cfg ConvConfig, depth int, rng *rand.Rand) (*CNN, error) {
	if depth < 1 || depth > maxDepth {
		return nil, modelErrorf("cnn depth %d (want 1 to %d cells)", depth, maxDepth)
	}
	f, err := newFrame(cfg, rng)
	if err != nil {
		return nil, err
	}
	c := &CNN{ConvFrame: *f, Cells: make([]Cell, depth)}
	for l := range c.Cells {
		c.Cells[l] = newCell(f, cfg.cellStd(), rng)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("initialising: %w", err)
	}
	return c, nil
}
