package core

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// gemmTN sets c += alpha·aᵀ·b for a (k×m), b (k×n) and c (m×n), all
// row-major.
func gemmTN(alpha float64, a, b []float64, k, m, n int, c []float64) {
	blas64.Gemm(blas.Trans, blas.NoTrans, alpha,
		blas64.General{Rows: k, Cols: m, Stride: m, Data: a},
		blas64.General{Rows: k, Cols: n, Stride: n, Data: b},
		1, blas64.General{Rows: m, Cols: n, Stride: n, Data: c})
}
