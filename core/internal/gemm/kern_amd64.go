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
func kern1x16AVX2(k int, a, b, c *float64, stride int)

//go:noescape
func kern1x32AVX2(k int, a, b, c *float64, stride int)

//go:noescape
func kern1x32SparseAVX2(a, b, c *float64, stride int, idx *int32, n int)

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

func kern1x16(k int, a, b, c []float64) {
	if Accelerated {
		kern1x16AVX2(k, &a[0], &b[0], &c[0], k*nr)
		return
	}
	genericKern1xN(k, a, b, c, 2)
}

func kern1x32(k int, a, b, c []float64) {
	if Accelerated {
		kern1x32AVX2(k, &a[0], &b[0], &c[0], k*nr)
		return
	}
	genericKern1xN(k, a, b, c, 4)
}

func kern1x32Sparse(idx []int32, a, b, c []float64) {
	if !Accelerated {
		genericKern1xNSparse(idx, a, b, c, 4)
		return
	}
	var p *int32
	if len(idx) > 0 {
		p = &idx[0]
	}
	kern1x32SparseAVX2(&a[0], &b[0], &c[0], len(b)/4, p, len(idx))
}
