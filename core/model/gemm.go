package model

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/gemm"
	"github.com/implicitlab/implicit/core/internal/vec"
)

// gemmTN sets c += alpha·aᵀ·b for a (k×m), b (k×n) and c (m×n), all
// row-major.
func gemmTN(alpha float64, a, b []float64, k, m, n int, c []float64) {
	blas64.Gemm(blas.Trans, blas.NoTrans, alpha,
		blas64.General{Rows: k, Cols: m, Stride: m, Data: a},
		blas64.General{Rows: k, Cols: n, Stride: n, Data: b},
		1, blas64.General{Rows: m, Cols: n, Stride: n, Data: c})
}

// gemmNN returns alpha·a·b for a (m×k) and b (k×n), row-major.
func gemmNN(alpha float64, a, b []float64, m, k, n int) []float64 {
	c := make([]float64, m*n)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, alpha,
		blas64.General{Rows: m, Cols: k, Stride: k, Data: a},
		blas64.General{Rows: k, Cols: n, Stride: n, Data: b},
		0, blas64.General{Rows: m, Cols: n, Stride: n, Data: c})
	return c
}

// addColSums adds the column sums of a (rows×cols) to s.
func addColSums(s, a []float64, rows, cols int) {
	for i := 0; i < rows; i++ {
		vec.Axpy(1, a[i*cols:(i+1)*cols], s)
	}
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

// Kernel names the matrix-product kernel this build runs: "avx2+fma
// assembly" on amd64 CPUs that have them, otherwise "pure Go" (also with the
// purego build tag, and on WebAssembly).
func Kernel() string {
	if gemm.Accelerated {
		return "avx2+fma assembly"
	}
	return "pure Go"
}

// affine is a PyTorch nn.Linear, y = W x + b, prepared for batches: W
// (out×in) is packed transposed for the kernel, which multiplies rows.
type affine struct {
	w  Matrix
	b  []float64
	wt *gemm.Packed
}

func newAffine(w Matrix, b []float64, p api.Precision) affine {
	return affine{w: w, b: b, wt: pack(p, transposed(w.Data, w.Rows, w.Cols), w.Cols, w.Rows)}
}

// pack packs b (k×n) for the kernel in precision p.
func pack(p api.Precision, b []float64, k, n int) *gemm.Packed {
	if p == api.Float32 {
		return gemm.PackFloat32(b, k, n)
	}
	return gemm.Pack(b, k, n)
}

// forward sets y (n×out) to W x + b for the n rows of x (n×in).
func (a *affine) forward(y, x []float64, n int) { a.forwardWith(y, x, n, new(gemm.Scratch)) }

// forwardWith is forward with the product's scratch s, which a caller that
// repeats the product keeps.
func (a *affine) forwardWith(y, x []float64, n int, s *gemm.Scratch) {
	out := a.w.Rows
	for i := 0; i < n; i++ {
		copy(y[i*out:(i+1)*out], a.b)
	}
	a.wt.MulAdd(y, x, n, s)
}

// paramGrad adds ∂L/∂W = gyᵀ x to gw and ∂L/∂b = Σ gy to gb, for the
// gradient gy (n×out) of the outputs of the rows x (n×in).
func (a *affine) paramGrad(gw, gb, gy, x []float64, n int) {
	gemmTN(1, gy, x, n, a.w.Rows, a.w.Cols, gw)
	addColSums(gb, gy, n, a.w.Rows)
}

// inputGrad returns ∂L/∂x = gy W (n×in).
func (a *affine) inputGrad(gy []float64, n int) []float64 {
	return gemmNN(1, gy, a.w.Data, n, a.w.Rows, a.w.Cols)
}

// shallow is a model with an encoder U x + b and a decoder C z + c, as
// deq-dense and the mlp are: their gradients' tensors, for the backward
// pass they share.
type shallow interface {
	affineGrads() (u, b, c, cb []float64)
}

func (d *Dense) affineGrads() (u, b, c, cb []float64) { return d.U.Data, d.Bias, d.C.Data, d.OutBias }
func (m *MLP) affineGrads() (u, b, c, cb []float64)   { return m.U.Data, m.Bias, m.C.Data, m.OutBias }

// shallowBackward is the backward pass deq-dense and the mlp share: a
// batch's inputs x and states z, and D = σ' at the pre-activations.
type shallowBackward struct {
	encoder, decoder *affine
	x, z             []float64
	n                int
	deriv            []float64
}

// Readout adds ∂C = gyᵀ z and ∂c = Σ gy, and returns ∂L/∂z = gy C.
func (b *shallowBackward) Readout(grad Architecture, gy []float64) []float64 {
	_, _, gc, gcb := grad.(shallow).affineGrads()
	b.decoder.paramGrad(gc, gcb, gy, b.z, b.n)
	return b.decoder.inputGrad(gy, b.n)
}

// JacobianFree returns v = D ⊙ gz.
func (b *shallowBackward) JacobianFree(gz []float64) []float64 {
	v := make([]float64, len(gz))
	for i := range v {
		v[i] = b.deriv[i] * gz[i]
	}
	return v
}

// encoderGrad adds ∂U = vᵀ x and ∂b = Σ v.
func (b *shallowBackward) encoderGrad(grad Architecture, v []float64) {
	gu, gb, _, _ := grad.(shallow).affineGrads()
	b.encoder.paramGrad(gu, gb, v, b.x, b.n)
}
