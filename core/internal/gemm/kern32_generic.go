//go:build !amd64 || purego

package gemm

func kern6x16F32(k int, a, b []float32, c []float64, ldc int) {
	genericKern6x16F32(k, a, b, c, ldc)
}

func kern1x16F32(k int, a, b []float32, c []float64) { genericKern1x16F32(k, a, b, c) }

func kern1x32F32(k int, a, b []float32, c []float64) { genericKern1xNF32(k, a, b, c, 2) }

func kern1x64F32(k int, a, b []float32, c []float64) { genericKern1xNF32(k, a, b, c, 4) }

func kern1x64SparseF32(idx []int32, a, b []float32, c []float64) {
	genericKern1xNSparseF32(idx, a, b, c, 4)
}

func toFloat32(dst []float32, src []float64) { genericToFloat32(dst, src) }

func pack6F32(ap []float32, a []float64, k int) int { return 0 }
