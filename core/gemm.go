package core

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/implicitlab/implicit/core/internal/gemm"
)

// gemmTN sets c += alpha·aᵀ·b for a (k×m), b (k×n) and c (m×n), all
// row-major.
func gemmTN(alpha float64, a, b []float64, k, m, n int, c []float64) {
	blas64.Gemm(blas.Trans, blas.NoTrans, alpha,
		blas64.General{Rows: k, Cols: m, Stride: m, Data: a},
		blas64.General{Rows: k, Cols: n, Stride: n, Data: b},
		1, blas64.General{Rows: m, Cols: n, Stride: n, Data: c})
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
