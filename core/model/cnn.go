package model

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
)

// The cnn kind: deq-conv's explicit counterpart, its layers stacked without
// weight tying and evaluated once, a residual network of depth L:
//
//	x̃ = stem_norm(stem(x)),  z₀ = x̃,  z_l = cell_l(z_{l−1}, x̃) for l = 1…L,
//	y = head(flatten(avg_pool2d(head_norm(z_L), P)))
//
// with deq-conv's cell, stem and head (convnet.go). With L = 1 it has
// exactly the parameters of a deq-conv model of the same sizes: the same
// network, run once instead of to its fixed point. Its file has deq-conv's
// metadata keys and implicit.depth (L), and deq-conv's tensors with the
// cells under cells.0. … cells.{L−1}. instead of cell.. Starting from z₀ = x̃
// rather than 0 gives the first cell's convolutions something to see.
const (
	kindCNN   = "cnn"
	metaDepth = "implicit.depth"
	maxDepth  = 1024
)

var cnnKind = Kind{Name: kindCNN, Keys: append([]string{metaDepth}, frameKeys...), Explicit: true, Decode: decodeCNN}

// CNN holds the parameters of a cnn model: the frame and its L cells.
type CNN struct {
	ConvFrame
	Cells []Cell
}

func cnnPrefix(l int) string { return "cells." + strconv.Itoa(l) + "." }

// Kind is "cnn".
func (c *CNN) Kind() string { return kindCNN }

// Describe names the model: "explicit, depth 2, C=16, I=32, …".
func (c *CNN) Describe() string {
	return fmt.Sprintf("explicit, depth %d, %s", len(c.Cells), c.describe())
}

// DefaultMethod is nil: no method iterates a cnn.
func (c *CNN) DefaultMethod() api.Method { return nil }

// Metadata holds c_in, H, W, G, P and L.
func (c *CNN) Metadata() map[string]string {
	m := c.metadata()
	m[metaDepth] = strconv.Itoa(len(c.Cells))
	return m
}

// Tensors are the stem's, the cells' in order, and the head's.
func (c *CNN) Tensors() []Tensor {
	ts := c.stemTensors()
	for l := range c.Cells {
		ts = append(ts, c.Cells[l].tensors(cnnPrefix(l), c.Channels, c.Inner)...)
	}
	return append(ts, c.headTensors()...)
}

// Zero returns a CNN of the same sizes with every tensor zero.
func (c *CNN) Zero() Architecture {
	z := &CNN{ConvFrame: c.zero(), Cells: make([]Cell, len(c.Cells))}
	for l := range c.Cells {
		z.Cells[l] = c.Cells[l].zero()
	}
	return z
}

// Validate checks the frame and every cell.
func (c *CNN) Validate() error {
	if n := len(c.Cells); n < 1 || n > maxDepth {
		return modelErrorf("cnn depth %d (want 1 to %d cells)", n, maxDepth)
	}
	if err := c.validate(); err != nil {
		return err
	}
	for l := range c.Cells {
		if err := c.Cells[l].validate(cnnPrefix(l), c.Channels, c.Inner); err != nil {
			return err
		}
	}
	return nil
}

func decodeCNN(ts tensors, meta map[string]string) (Architecture, error) {
	v, ok := meta[metaDepth]
	depth, err := strconv.Atoi(v)
	if !ok || err != nil || depth < 1 || depth > maxDepth {
		return nil, modelErrorf("metadata %s=%q (want the number of cells, 1 to %d)", metaDepth, v, maxDepth)
	}
	prefixes := make([]string, depth)
	for l := range prefixes {
		prefixes[l] = cnnPrefix(l)
	}
	f, err := decodeFrame(ts, meta, fmt.Sprintf("a %s model of depth %d (cells %s…)", kindCNN, depth, strings.TrimSuffix(prefixes[0], ".")), prefixes, nil)
	if err != nil {
		return nil, err
	}
	c := &CNN{ConvFrame: *f, Cells: make([]Cell, depth)}
	for l, p := range prefixes {
		c.Cells[l] = decodeCell(ts, p)
	}
	return c, nil
}

// cnnLayer is a cnn model prepared to compute.
type cnnLayer struct {
	frameLayer
	cells []convCell
}

// Build packs the convolutions and the head for the kernel.
func (c *CNN) Build(p api.Precision) (Layer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	l := &cnnLayer{frameLayer: c.build(p), cells: make([]convCell, len(c.Cells))}
	for k := range c.Cells {
		l.cells[k] = c.Cells[k].build(&c.ConvFrame, p)
	}
	return l, nil
}

// run sets dst = z_L for the images rows of inj, recording the cells'
// tapes when tapes is not nil (rows 0…n−1).
func (l *cnnLayer) run(dst, inj []float64, rows []int, s *cellScratch, tapes []cellTape) {
	ch := l.state
	z := gatherRows(nil, inj, rows, ch) // z₀ = x̃
	for k := range l.cells {
		var tape *cellTape
		if tapes != nil {
			tape = &tapes[k]
		}
		l.cells[k].forward(dst, z, inj, rows, s, tape)
		copy(z, dst[:len(rows)*ch])
	}
}

// Problem is the constant map z = z_L(x̃): one evaluation.
func (l *cnnLayer) Problem(inj []float64, n int) fixedpoint.BatchProblem {
	var s cellScratch
	return fixedpoint.BatchProblem{Dim: l.state, Samples: n, Constant: true, F: func(dst, _ []float64, rows []int) {
		l.run(dst, inj, rows, &s, nil)
	}}
}

// cnnBackward holds a batch's inputs, outputs z_L and the cells' tapes.
type cnnBackward struct {
	l     *cnnLayer
	x, z  []float64
	n     int
	tapes []cellTape
	all   []int
	s     cellScratch
}

func (l *cnnLayer) Backward(x, inj, z []float64, n int) Backward {
	b := &cnnBackward{l: l, x: x, z: z, n: n, tapes: make([]cellTape, len(l.cells)), all: seq(n)}
	l.run(make([]float64, n*l.state), inj, b.all, &b.s, b.tapes)
	return b
}

// Readout adds the head's and head_norm's gradients and returns ∂L/∂z_L.
func (b *cnnBackward) Readout(grad Architecture, gy []float64) []float64 {
	return b.l.readoutBackward(&grad.(*CNN).ConvFrame, gy, b.z, b.n)
}

// Adjoint is the constant u = gz: z_L does not depend on the state.
func (b *cnnBackward) Adjoint(gz []float64) fixedpoint.BatchProblem {
	ch := b.l.state
	return fixedpoint.BatchProblem{Dim: ch, Samples: b.n, Constant: true, F: func(dst, _ []float64, rows []int) {
		gatherRows(dst[:0], gz, rows, ch)
	}}
}

// StateVJP sets dst = 0: z_L does not depend on the state.
func (b *cnnBackward) StateVJP(dst, u []float64) { clear(dst[:len(u)]) }

// JacobianFree returns gz, the exact gradient of z_L.
func (b *cnnBackward) JacobianFree(gz []float64) []float64 { return gz }

// Params back-propagates u = ∂L/∂z_L through the cells, last to first, and
// through z₀ = x̃ and the stem.
func (b *cnnBackward) Params(grad Architecture, u []float64) {
	g, l := grad.(*CNN), b.l
	size := b.n * l.state
	dinj := make([]float64, size)
	d, prev := append([]float64(nil), u[:size]...), make([]float64, size)
	for k := len(l.cells) - 1; k >= 0; k-- {
		cg := newCellGrads(&g.Cells[k], b.n, l.state)
		cg.inj = dinj // every cell reads x̃
		l.cells[k].vjp(prev, d, b.all, &b.tapes[k], &b.s, cg)
		d, prev = prev, d
	}
	addTo(dinj, d) // z₀ = x̃
	l.stemBackward(&g.ConvFrame, dinj, b.x, b.n, &b.s.conv)
}
