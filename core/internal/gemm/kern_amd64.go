//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

// Accelerated reports whether the assembly kernels run: amd64 with AVX2 and
// FMA.
var Accelerated = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// The assembly takes the first element of each slice; the callers in
// gemm.go have checked the lengths.

//go:noescape
func kern6x8AVX2(k int, a, b, c *float64, ldc int)

//go:noescape
func kern1x8AVX2(k int, a, b, c *float64)

//go:noescape
func kern1x16AVX2(k int, a, b0, b1, c *float64)

//go:noescape
func kern1x16SparseAVX2(a, b0, b1, c *float64, even, odd *int32, ne, no int)

func kern6x8(k int, a, b, c []float64, ldc int) {
	if Accelerated {
		kern6x8AVX2(k, &a[0], &b[0], &c[0], ldc)
		return
	}
	genericKern6x8(k, a, b, c, ldc)
}

func kern1x8(k int, a, b, c []float64) {
	if Accelerated {
		kern1x8AVX2(k, &a[0], &b[0], &c[0])
		return
	}
	genericKern1x8(k, a, b, c)
}

func kern1x16(k int, a, b0, b1, c []float64) {
	if Accelerated {
		kern1x16AVX2(k, &a[0], &b0[0], &b1[0], &c[0])
		return
	}
	genericKern1x8(k, a, b0, c[:nr])
	genericKern1x8(k, a, b1, c[nr:])
}

// sparseAsm reports whether the sparse single-row kernel is assembly.
func sparseAsm() bool { return Accelerated }

// kern1x16SparseAsm is kern1x16AVX2 over the nonzero elements of a, whose
// indexes at even and odd l are in even and odd.
func kern1x16SparseAsm(a, b0, b1, c []float64, even, odd []int32) {
	var e, o *int32
	if len(even) > 0 {
		e = &even[0]
	}
	if len(odd) > 0 {
		o = &odd[0]
	}
	kern1x16SparseAVX2(&a[0], &b0[0], &b1[0], &c[0], e, o, len(even), len(odd))
}
