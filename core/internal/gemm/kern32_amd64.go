//go:build amd64 && !purego

package gemm

// The float32 kernels of kern32_amd64.s: A and B in float32, C in float64.

//go:noescape
func kern6x16F32AVX2(k int, a, b *float32, c *float64, ldc int)

//go:noescape
func kern1x16F32AVX2(k int, a, b *float32, c *float64)

//go:noescape
func kern1x32F32AVX2(k int, a, b *float32, c *float64, stride int)

//go:noescape
func kern1x64F32AVX2(k int, a, b *float32, c *float64, stride int)

//go:noescape
func kern1x64SparseF32AVX2(a, b *float32, c *float64, stride int, idx *int32, n int)

func kern6x16F32(k int, a, b []float32, c []float64, ldc int) {
	if Accelerated {
		kern6x16F32AVX2(k, &a[0], &b[0], &c[0], ldc)
		return
	}
	genericKern6x16F32(k, a, b, c, ldc)
}

func kern1x16F32(k int, a, b []float32, c []float64) {
	if Accelerated {
		kern1x16F32AVX2(k, &a[0], &b[0], &c[0])
		return
	}
	genericKern1x16F32(k, a, b, c)
}

func kern1x32F32(k int, a, b []float32, c []float64) {
	if Accelerated {
		kern1x32F32AVX2(k, &a[0], &b[0], &c[0], k*nr32)
		return
	}
	genericKern1xNF32(k, a, b, c, 2)
}

func kern1x64F32(k int, a, b []float32, c []float64) {
	if Accelerated {
		kern1x64F32AVX2(k, &a[0], &b[0], &c[0], k*nr32)
		return
	}
	genericKern1xNF32(k, a, b, c, 4)
}

func kern1x64SparseF32(idx []int32, a, b []float32, c []float64) {
	if !Accelerated {
		genericKern1xNSparseF32(idx, a, b, c, 4)
		return
	}
	var p *int32
	if len(idx) > 0 {
		p = &idx[0]
	}
	kern1x64SparseF32AVX2(&a[0], &b[0], &c[0], len(b)/4, p, len(idx))
}
