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

//go:noescape
func cvt32AVX2(dst *float32, src *float64, n int)

//go:noescape
func pack6F32AVX2(ap *float32, a *float64, k, n int)

// toFloat32 sets dst[i] = float32(src[i]) for i < len(src).
func toFloat32(dst []float32, src []float64) {
	dst = dst[:len(src)]
	i := 0
	if Accelerated && len(src) >= 4 {
		cvt32AVX2(&dst[0], &src[0], len(src)/4)
		i = len(src) &^ 3
	}
	genericToFloat32(dst[i:], src[i:])
}

// pack6F32 does packRows32's first steps, as many as it reports, by the
// assembly.
func pack6F32(ap []float32, a []float64, k int) int {
	if !Accelerated || k < 4 {
		return 0
	}
	_ = ap[k*mr-1]
	_ = a[k*mr-1]
	pack6F32AVX2(&ap[0], &a[0], k, k/4)
	return k &^ 3
}
