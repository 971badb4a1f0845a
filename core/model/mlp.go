package model

import (
	"fmt"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
)

// The mlp kind: the explicit baseline, one hidden layer evaluated once,
//
//	y = C σ(U x + b) + c,
//
// with no fixed point: a solve of it is one evaluation, whatever the
// settings, and every sample converges. Its file has the metadata key
// implicit.activation and the tensors encoder.weight [h, p],
// encoder.bias [h], decoder.weight [q, h] and decoder.bias [q], as
// PyTorch's nn.Linear layers self.encoder and self.decoder store them.
const kindMLP = "mlp"

var mlpKind = Kind{
	Name:     kindMLP,
	Keys:     []string{metaActivation},
	Explicit: true,
	Decode:   decodeMLP,
}

// MLP holds the parameters of an mlp model with h hidden units, p inputs
// and q outputs.
type MLP struct {
	Activation Activation
	U          Matrix    // h×p (encoder.weight)
	Bias       []float64 // b, h values (encoder.bias)
	C          Matrix    // q×h (decoder.weight)
	OutBias    []float64 // c, q values (decoder.bias)

	// Defaults are kept for the file's sake; a solve of an mlp is one
	// evaluation whatever they say.
	Defaults api.Defaults
}

// Kind is "mlp".
func (m *MLP) Kind() string { return kindMLP }

// Sizes are p inputs, h hidden units (the state) and q outputs.
func (m *MLP) Sizes() api.Sizes { return api.Sizes{In: m.U.Cols, State: m.U.Rows, Out: m.C.Rows} }

// Describe names the model: "explicit relu, h=173".
func (m *MLP) Describe() string { return fmt.Sprintf("explicit %s, h=%d", m.Activation, m.U.Rows) }

// SolverDefaults points at the file's solver settings.
func (m *MLP) SolverDefaults() *api.Defaults { return &m.Defaults }

// DefaultMethod is nil: no method iterates an mlp.
func (m *MLP) DefaultMethod() api.Method { return nil }

// Tensors are encoder.weight, encoder.bias, decoder.weight, decoder.bias.
func (m *MLP) Tensors() []Tensor {
	return []Tensor{
		matrixTensor("encoder.weight", m.U), vectorTensor("encoder.bias", m.Bias),
		matrixTensor("decoder.weight", m.C), vectorTensor("decoder.bias", m.OutBias),
	}
}

// Metadata holds the activation.
func (m *MLP) Metadata() map[string]string {
	return map[string]string{metaActivation: string(m.Activation)}
}

// Zero returns an MLP of the same shapes with zero parameters.
func (m *MLP) Zero() Architecture {
	h, p, q := m.U.Rows, m.U.Cols, m.C.Rows
	return &MLP{Activation: m.Activation, U: NewMatrix(h, p), Bias: make([]float64, h), C: NewMatrix(q, h), OutBias: make([]float64, q)}
}

// Validate checks the activation, the shapes and the values.
func (m *MLP) Validate() error {
	if !m.Activation.valid() {
		return modelErrorf("activation %q (want relu, tanh or identity)", m.Activation)
	}
	h, p, q := m.U.Rows, m.U.Cols, m.C.Rows
	if h <= 0 || p <= 0 || q <= 0 {
		return modelErrorf("sizes h=%d, p=%d, q=%d (all must be positive)", h, p, q)
	}
	return firstError(
		checkMatrix("U (encoder.weight)", m.U, h, p),
		checkValues("b (encoder.bias)", m.Bias, h),
		checkMatrix("C (decoder.weight)", m.C, q, h),
		checkValues("c (decoder.bias)", m.OutBias, q),
		validateDefaults(m.Defaults),
	)
}

func decodeMLP(ts tensors, meta map[string]string) (Architecture, error) {
	m := &MLP{Activation: Activation(meta[metaActivation])}
	if !m.Activation.valid() {
		return nil, modelErrorf("metadata %s=%q (want relu, tanh or identity)", metaActivation, meta[metaActivation])
	}
	if err := ts.expect("an "+kindMLP+" model", []string{"encoder.weight", "encoder.bias", "decoder.weight", "decoder.bias"}); err != nil {
		return nil, err
	}
	if _, _, err := linearSizes(ts); err != nil {
		return nil, err
	}
	m.U, m.Bias, m.C, m.OutBias = ts.matrix("encoder.weight"), ts["encoder.bias"].Data, ts.matrix("decoder.weight"), ts["decoder.bias"].Data
	return m, nil
}

// mlpLayer is an mlp prepared to compute. Its state is the hidden layer
// σ(U x + b), a map that does not depend on z.
type mlpLayer struct {
	h                int
	act              Activation
	encoder, decoder affine
}

// Build packs the layer's matrices for the kernel.
func (m *MLP) Build(p api.Precision) (Layer, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &mlpLayer{h: m.U.Rows, act: m.Activation, encoder: newAffine(m.U, m.Bias, p), decoder: newAffine(m.C, m.OutBias, p)}, nil
}

// Inject returns the pre-activation U x + b (n×h).
func (l *mlpLayer) Inject(x []float64, n int) []float64 {
	u := make([]float64, n*l.h)
	l.encoder.forward(u, x, n)
	return u
}

// Problem is the constant map z = σ(U x + b).
func (l *mlpLayer) Problem(inj []float64, n int) fixedpoint.BatchProblem {
	h := l.h
	return fixedpoint.BatchProblem{Dim: h, Samples: n, Constant: true, F: func(dst, _ []float64, rows []int) {
		for k, i := range rows {
			copy(dst[k*h:(k+1)*h], inj[i*h:(i+1)*h])
		}
		l.act.apply(dst[:len(rows)*h])
	}}
}

// Readout sets y = C z + c.
func (l *mlpLayer) Readout(y, z []float64, n int) { l.decoder.forward(y, z, n) }

// mlpBackward holds a batch's hidden layer z, inputs x and D = σ'(U x + b).
type mlpBackward struct {
	shallowBackward
	h int
}

func (l *mlpLayer) Backward(x, inj, z []float64, n int) Backward {
	d := make([]float64, len(inj))
	l.act.derivative(d, inj)
	return &mlpBackward{shallowBackward{encoder: &l.encoder, decoder: &l.decoder, x: x, z: z, n: n, deriv: d}, l.h}
}

// Adjoint is the constant u = gz, of which v = D ⊙ gz carries the
// gradient: the map does not depend on z.
func (b *mlpBackward) Adjoint(gz []float64) fixedpoint.BatchProblem {
	v := b.JacobianFree(gz)
	h := b.h
	return fixedpoint.BatchProblem{Dim: h, Samples: b.n, Constant: true, F: func(dst, _ []float64, rows []int) {
		for k, i := range rows {
			copy(dst[k*h:(k+1)*h], v[i*h:(i+1)*h])
		}
	}}
}

// StateVJP sets dst = 0: the map does not depend on z.
func (b *mlpBackward) StateVJP(dst, u []float64) { clear(dst[:len(u)]) }

// Params adds ∂U = vᵀ x and ∂b = Σ v: the map has no other parameters.
func (b *mlpBackward) Params(grad Architecture, v []float64) { b.encoderGrad(grad, v) }
