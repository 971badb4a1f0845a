//go:build !amd64 || purego

package gemm

func kern6x8(k int, a, b, c []float64, ldc int) { genericKern6x8(k, a, b, c, ldc) }

func kern1x8(k int, a, b, c []float64) { genericKern1x8(k, a, b, c) }

func kern1x16(k int, a, b0, b1, c []float64) {
	genericKern1x8(k, a, b0, c[:nr])
	genericKern1x8(k, a, b1, c[nr:])
}

// Accelerated reports whether the assembly kernels run.
const Accelerated = false

// sparseAsm reports whether the sparse single-row kernel is assembly.
func sparseAsm() bool { return false }

// kern1x16SparseAsm is never called in this build (sparseAsm is false).
func kern1x16SparseAsm(a, b0, b1, c []float64, even, odd []int32) {
	panic("gemm: no assembly in this build")
}
