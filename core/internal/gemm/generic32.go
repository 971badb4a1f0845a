package gemm

// The Go float32 kernels, shaped as generic.go's are and for the same
// reasons (Go's wasm code generator has 16 float32 registers too). Each
// output is one float32 accumulator summing acc += a·b in the order of l,
// added to c in float64 at the end.

// genericKern6x16F32 is the Go form of the float32 6×16 block:
// c[r*ldc+q] += Σ_l a[l*mr+r]·b[l*nr32+q], as twelve 2×4 passes.
func genericKern6x16F32(k int, a, b []float32, c []float64, ldc int) {
	if k == 0 {
		return
	}
	for r := 0; r < mr; r += 2 {
		ar := a[r : (k-1)*mr+r+2]
		for q := 0; q < nr32; q += 4 {
			pass2x4F32(ar, b[q:(k-1)*nr32+q+4], c[r*ldc+q:], ldc)
		}
	}
}

// pass2x4F32 is pass2x4 in float32, b's quads at stride nr32.
func pass2x4F32(a, b []float32, c []float64, ldc int) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	// Five or more steps left: four now, and the slices still start a step.
	for len(a) >= 4*mr+2 && len(b) >= 4*nr32+4 {
		a0, a1 := a[0], a[1]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a0, a1 = a[mr], a[mr+1]
		b0, b1, b2, b3 = b[nr32], b[nr32+1], b[nr32+2], b[nr32+3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a0, a1 = a[2*mr], a[2*mr+1]
		b0, b1, b2, b3 = b[2*nr32], b[2*nr32+1], b[2*nr32+2], b[2*nr32+3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a0, a1 = a[3*mr], a[3*mr+1]
		b0, b1, b2, b3 = b[3*nr32], b[3*nr32+1], b[3*nr32+2], b[3*nr32+3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a, b = a[4*mr:], b[4*nr32:]
	}
	// One to four steps left.
	for len(a) >= 2 && len(b) >= 4 {
		a0, a1 := a[0], a[1]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		if len(a) < mr+2 || len(b) < nr32+4 {
			break
		}
		a, b = a[mr:], b[nr32:]
	}
	r0 := c[0:4:4]
	r0[0] += float64(c00)
	r0[1] += float64(c01)
	r0[2] += float64(c02)
	r0[3] += float64(c03)
	r1 := c[ldc : ldc+4 : ldc+4]
	r1[0] += float64(c10)
	r1[1] += float64(c11)
	r1[2] += float64(c12)
	r1[3] += float64(c13)
}

// genericKern1x16F32 is the Go form of the float32 1×16 row kernel:
// c[q] += Σ_l a[l]·b[l*nr32+q], as two 1×8 passes (sixteen accumulators
// would not fit wasm's sixteen registers with their operands).
func genericKern1x16F32(k int, a, b []float32, c []float64) {
	if k == 0 {
		return
	}
	a = a[:k]
	pass1x8F32(a, b[:(k-1)*nr32+8], c[:8])
	pass1x8F32(a, b[8:(k-1)*nr32+16], c[8:16])
}

// pass1x8F32 adds to c[:8] the products of a and eight columns of B, whose
// rows b holds at stride nr32, ending with the last row's eight values.
func pass1x8F32(a, b []float32, c []float64) {
	var c0, c1, c2, c3, c4, c5, c6, c7 float32
	// Five or more steps left: four now, and the slices still start a step.
	for len(a) >= 5 && len(b) >= 4*nr32+8 {
		x := a[0]
		c0 += x * b[0]
		c1 += x * b[1]
		c2 += x * b[2]
		c3 += x * b[3]
		c4 += x * b[4]
		c5 += x * b[5]
		c6 += x * b[6]
		c7 += x * b[7]
		x = a[1]
		c0 += x * b[nr32]
		c1 += x * b[nr32+1]
		c2 += x * b[nr32+2]
		c3 += x * b[nr32+3]
		c4 += x * b[nr32+4]
		c5 += x * b[nr32+5]
		c6 += x * b[nr32+6]
		c7 += x * b[nr32+7]
		x = a[2]
		c0 += x * b[2*nr32]
		c1 += x * b[2*nr32+1]
		c2 += x * b[2*nr32+2]
		c3 += x * b[2*nr32+3]
		c4 += x * b[2*nr32+4]
		c5 += x * b[2*nr32+5]
		c6 += x * b[2*nr32+6]
		c7 += x * b[2*nr32+7]
		x = a[3]
		c0 += x * b[3*nr32]
		c1 += x * b[3*nr32+1]
		c2 += x * b[3*nr32+2]
		c3 += x * b[3*nr32+3]
		c4 += x * b[3*nr32+4]
		c5 += x * b[3*nr32+5]
		c6 += x * b[3*nr32+6]
		c7 += x * b[3*nr32+7]
		a, b = a[4:], b[4*nr32:]
	}
	// One to four steps left.
	for len(a) >= 1 && len(b) >= 8 {
		x := a[0]
		c0 += x * b[0]
		c1 += x * b[1]
		c2 += x * b[2]
		c3 += x * b[3]
		c4 += x * b[4]
		c5 += x * b[5]
		c6 += x * b[6]
		c7 += x * b[7]
		if len(b) < nr32+8 {
			break
		}
		a, b = a[1:], b[nr32:]
	}
	c = c[:8:8]
	c[0] += float64(c0)
	c[1] += float64(c1)
	c[2] += float64(c2)
	c[3] += float64(c3)
	c[4] += float64(c4)
	c[5] += float64(c5)
	c[6] += float64(c6)
	c[7] += float64(c7)
}

// genericKern1xNF32 is genericKern1x16F32 on each of the np panels that
// follow each other in b (k×nr32 values each), into np·nr32 values of c.
func genericKern1xNF32(k int, a, b []float32, c []float64, np int) {
	for p := 0; p < np; p++ {
		genericKern1x16F32(k, a, b[p*k*nr32:(p+1)*k*nr32], c[p*nr32:(p+1)*nr32])
	}
}

// genericKern1xNSparseF32 is genericKern1xNF32 over the elements of a at
// the ascending indexes idx, the nonzero ones.
func genericKern1xNSparseF32(idx []int32, a, b []float32, c []float64, np int) {
	size := len(b) / np
	if size == 0 {
		return
	}
	for p := 0; p < np; p++ {
		panel := b[p*size : (p+1)*size]
		sparse1x8F32(idx, a, panel, c[p*nr32:p*nr32+8])
		sparse1x8F32(idx, a, panel[8:], c[p*nr32+8:(p+1)*nr32])
	}
}

// sparse1x8F32 is pass1x8F32 over the steps l in idx only:
// c[q] += Σ_{l ∈ idx} a[l]·b[l*nr32+q] for q < 8.
func sparse1x8F32(idx []int32, a, b []float32, c []float64) {
	var c0, c1, c2, c3, c4, c5, c6, c7 float32
	for _, l := range idx {
		x := a[l]
		bl := b[int(l)*nr32 : int(l)*nr32+8 : int(l)*nr32+8]
		c0 += x * bl[0]
		c1 += x * bl[1]
		c2 += x * bl[2]
		c3 += x * bl[3]
		c4 += x * bl[4]
		c5 += x * bl[5]
		c6 += x * bl[6]
		c7 += x * bl[7]
	}
	c = c[:8:8]
	c[0] += float64(c0)
	c[1] += float64(c1)
	c[2] += float64(c2)
	c[3] += float64(c3)
	c[4] += float64(c4)
	c[5] += float64(c5)
	c[6] += float64(c6)
	c[7] += float64(c7)
}
