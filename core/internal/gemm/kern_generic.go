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

// sparseRows reports whether the sparse single-row kernel exists here: in
// Go it would not pay.
func sparseRows() bool { return false }

func kern1x16Sparse(a, b0, b1, c []float64, even, odd []int32) {
	for _, idx := range [][]int32{even, odd} {
		for _, l := range idx {
			x := a[l]
			for q := range 2 * nr {
				b := b0
				if q >= nr {
					b = b1
				}
				c[q] += x * b[int(l)*nr+q%nr]
			}
		}
	}
}
