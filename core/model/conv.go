package model

import (
	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
)

// The deq-conv kind: the convolutional implicit layer of the Deep Implicit
// Layers tutorial (chapter 4), the ResNet-style cell of MDEQ and of image
// DEQs. For an image x (c_in channels, H×W pixels):
//
//	x̃  = stem_norm(stem(x))
//	z* = f(z*),  f(z) = norm3(relu(z + norm2(x̃ + conv2(norm1(relu(conv1(z))))))),  z⁰ = 0
//	y  = head(flatten(avg_pool2d(head_norm(z*), P)))
//
// with every convolution 3×3, stride 1, padding 1, norm1..3 GroupNorm(G, ·)
// and stem_norm, head_norm BatchNorm2d in eval mode (their running
// statistics), ε = 1e-5 throughout (convnet.go). Its file has the metadata
// keys implicit.in_channels (c_in), implicit.height (H), implicit.width (W),
// implicit.groups (G) and implicit.pool (P, dividing H and W), and the
// tensors of the PyTorch module's state_dict, C channels and I inner
// channels from their shapes:
//
//	stem.weight [C, c_in, 3, 3], stem.bias [C]
//	stem_norm.weight, .bias, .running_mean, .running_var [C], .num_batches_tracked (I64 scalar)
//	cell.conv1.weight [I, C, 3, 3]; cell.norm1.weight, .bias [I]
//	cell.conv2.weight [C, I, 3, 3]; cell.norm2.weight, .bias, cell.norm3.weight, .bias [C]
//	head_norm.* as stem_norm
//	head.weight [q, C·(H/P)·(W/P)], head.bias [q]
//
// An input row is the c_in·H·W values of x.flatten(1) (channels first); the
// state z is C·H·W values channels last (pixel by pixel, each pixel's C
// channels together), the layout the convolutions run in.
const (
	kindConv   = "deq-conv"
	cellPrefix = "cell."
)

var convKind = Kind{Name: kindConv, Keys: frameKeys, Decode: decodeConv}

// Conv holds the parameters of a deq-conv model. Its fields mirror the model
// file; Channels (C), Inner (I) and the head's q follow from the tensors'
// shapes. A Conv must not change while a Model built from it is in use.
type Conv struct {
	ConvFrame
	Cell Cell
}

// Kind is "deq-conv".
func (c *Conv) Kind() string { return kindConv }

// Describe names the model: "C=16, I=32, G=4, 8×8×1 images, pool 2".
func (c *Conv) Describe() string { return c.describe() }

// DefaultMethod is Anderson.
func (c *Conv) DefaultMethod() api.Method { return nil }

// Metadata holds c_in, H, W, G and P.
func (c *Conv) Metadata() map[string]string { return c.metadata() }

// Tensors are the state_dict's, in the module's order.
func (c *Conv) Tensors() []Tensor {
	ts := append(c.stemTensors(), c.Cell.tensors(cellPrefix, c.Channels, c.Inner)...)
	return append(ts, c.headTensors()...)
}

// Zero returns a Conv of the same sizes with every tensor zero.
func (c *Conv) Zero() Architecture { return &Conv{ConvFrame: c.zero(), Cell: c.Cell.zero()} }

// Validate checks the sizes, every shape against them, the divisibility of
// the groups and the pool, and that every value is finite (and every
// running variance ≥ 0).
func (c *Conv) Validate() error {
	if err := c.validate(); err != nil {
		return err
	}
	return c.Cell.validate(cellPrefix, c.Channels, c.Inner)
}

func decodeConv(ts tensors, meta map[string]string) (Architecture, error) {
	f, err := decodeFrame(ts, meta, "a "+kindConv+" model", []string{cellPrefix}, nil)
	if err != nil {
		return nil, err
	}
	return &Conv{ConvFrame: *f, Cell: decodeCell(ts, cellPrefix)}, nil
}

// convLayer is a deq-conv model prepared to compute, on channels-last
// images.
type convLayer struct {
	frameLayer
	cell convCell
}

// Build packs the convolutions and the head for the kernel.
func (c *Conv) Build(p api.Precision) (Layer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &convLayer{frameLayer: c.build(p), cell: c.Cell.build(&c.ConvFrame, p)}, nil
}

// Problem is z = f(z) for the injections inj; it has no splitting.
func (l *convLayer) Problem(inj []float64, n int) fixedpoint.BatchProblem {
	var s cellScratch // a Problem is solved by one goroutine
	return fixedpoint.BatchProblem{Dim: l.state, Samples: n, F: func(dst, z []float64, rows []int) {
		l.cell.forward(dst, z, inj, rows, &s, nil)
	}}
}

// convBackward holds a batch's inputs, its fixed points and f's tape at
// them.
type convBackward struct {
	l     *convLayer
	x, z  []float64
	n     int
	tape  cellTape
	all   []int
	grads cellScratch
}

func (l *convLayer) Backward(x, inj, z []float64, n int) Backward {
	b := &convBackward{l: l, x: x, z: z, n: n, all: seq(n)}
	l.cell.forward(make([]float64, n*l.state), z, inj, b.all, &b.grads, &b.tape)
	return b
}

// Readout adds the head's and head_norm's gradients and returns ∂L/∂z*.
func (b *convBackward) Readout(grad Architecture, gy []float64) []float64 {
	return b.l.readoutBackward(&grad.(*Conv).ConvFrame, gy, b.z, b.n)
}

// Adjoint is u = J_f(z*)ᵀ u + gz, by vector-Jacobian products through f.
func (b *convBackward) Adjoint(gz []float64) fixedpoint.BatchProblem {
	var s cellScratch
	ch := b.l.state
	return fixedpoint.BatchProblem{Dim: ch, Samples: b.n, F: func(dst, u []float64, rows []int) {
		b.l.cell.vjp(dst, u, rows, &b.tape, &s, nil)
		for k, i := range rows {
			addTo(dst[k*ch:(k+1)*ch], gz[i*ch:(i+1)*ch])
		}
	}}
}

// StateVJP sets dst = J_f(z)ᵀ u through the tape.
func (b *convBackward) StateVJP(dst, u []float64) {
	b.l.cell.vjp(dst, u, b.all, &b.tape, &b.grads, nil)
}

// JacobianFree returns u = gz.
func (b *convBackward) JacobianFree(gz []float64) []float64 { return gz }

// Params adds the gradients of f's, the stem's and stem_norm's parameters
// for the adjoint u.
func (b *convBackward) Params(grad Architecture, u []float64) {
	g := grad.(*Conv)
	cg := newCellGrads(&g.Cell, b.n, b.l.state)
	b.l.cell.vjp(make([]float64, b.n*b.l.state), u, b.all, &b.tape, &b.grads, cg)
	b.l.stemBackward(&g.ConvFrame, cg.inj, b.x, b.n, &b.grads.conv)
}
