//go:build !amd64 || purego

package gemm

func kern6x8(k int, a, b, c []float64, ldc int) { genericKern6x8(k, a, b, c, ldc) }

func kern1x8(k int, a, b, c []float64) { genericKern1x8(k, a, b, c) }

func kern1x16(k int, a, b, c []float64) { genericKern1xN(k, a, b, c, 2) }

func kern1x32(k int, a, b, c []float64) { genericKern1xN(k, a, b, c, 4) }

func kern1x32Sparse(idx []int32, a, b, c []float64) { genericKern1xNSparse(idx, a, b, c, 4) }

// Accelerated reports whether the assembly kernels run.
const Accelerated = false
