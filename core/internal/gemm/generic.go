package gemm

// The Go kernels run with the purego tag, on architectures without
// assembly, and in the WebAssembly build. They are shaped for Go's wasm code
// generator, which has 16 float64 registers and compiles every jump between
// basic blocks to a dispatch through a br_table at the top of the function:
//
//   - Accumulators are scalar variables, never an array (an array lives in
//     memory and costs a load and a store per multiply-add), and few enough
//     to stay in registers with their operands: the 6×8 block runs as six
//     2×4 passes of 8 accumulators.
//   - The loops over k are unrolled four times, so that the dispatch, the
//     loop test and the slice updates are paid once per four steps.
//   - The loops advance the slices themselves and test their lengths, which
//     proves the constant indexes in bounds; no bounds check is left in the
//     loop bodies.
//
// Each accumulator still sums its products in the order of l, so the results
// are those of the plain loops, bit for bit.

// genericKern6x8 is the Go form of the 6×8 block: c[r*ldc+q] +=
// Σ_l a[l*mr+r]·b[l*nr+q].
func genericKern6x8(k int, a, b, c []float64, ldc int) {
	if k == 0 {
		return
	}
	for r := 0; r < mr; r += 2 {
		// Rows r and r+1 of each step, at stride mr; the slice ends right
		// after the last step's pair.
		ar := a[r : (k-1)*mr+r+2]
		for q := 0; q < nr; q += 4 {
			pass2x4(ar, b[q:(k-1)*nr+q+4], c[r*ldc+q:], ldc)
		}
	}
}

// pass2x4 adds to c's 2×4 corner (rows at stride ldc) the products of two
// rows of A and four columns of B: a holds the rows' pairs at stride mr, b
// the columns' quads at stride nr, both ending with the last step's values.
func pass2x4(a, b, c []float64, ldc int) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float64
	// Five or more steps left: four now, and the slices still start a step.
	for len(a) >= 4*mr+2 && len(b) >= 4*nr+4 {
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
		b0, b1, b2, b3 = b[nr], b[nr+1], b[nr+2], b[nr+3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a0, a1 = a[2*mr], a[2*mr+1]
		b0, b1, b2, b3 = b[2*nr], b[2*nr+1], b[2*nr+2], b[2*nr+3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a0, a1 = a[3*mr], a[3*mr+1]
		b0, b1, b2, b3 = b[3*nr], b[3*nr+1], b[3*nr+2], b[3*nr+3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a, b = a[4*mr:], b[4*nr:]
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
		if len(a) < mr+2 || len(b) < nr+4 {
			break
		}
		a, b = a[mr:], b[nr:]
	}
	r0 := c[0:4:4]
	r0[0] += c00
	r0[1] += c01
	r0[2] += c02
	r0[3] += c03
	r1 := c[ldc : ldc+4 : ldc+4]
	r1[0] += c10
	r1[1] += c11
	r1[2] += c12
	r1[3] += c13
}

// genericKern1x8 is the Go form of the 1×8 row kernel: c[q] +=
// Σ_l a[l]·b[l*nr+q].
func genericKern1x8(k int, a, b, c []float64) {
	var c0, c1, c2, c3, c4, c5, c6, c7 float64
	a, b = a[:k], b[:k*nr]
	for len(a) >= 4 && len(b) >= 4*nr {
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
		c0 += x * b[nr]
		c1 += x * b[nr+1]
		c2 += x * b[nr+2]
		c3 += x * b[nr+3]
		c4 += x * b[nr+4]
		c5 += x * b[nr+5]
		c6 += x * b[nr+6]
		c7 += x * b[nr+7]
		x = a[2]
		c0 += x * b[2*nr]
		c1 += x * b[2*nr+1]
		c2 += x * b[2*nr+2]
		c3 += x * b[2*nr+3]
		c4 += x * b[2*nr+4]
		c5 += x * b[2*nr+5]
		c6 += x * b[2*nr+6]
		c7 += x * b[2*nr+7]
		x = a[3]
		c0 += x * b[3*nr]
		c1 += x * b[3*nr+1]
		c2 += x * b[3*nr+2]
		c3 += x * b[3*nr+3]
		c4 += x * b[3*nr+4]
		c5 += x * b[3*nr+5]
		c6 += x * b[3*nr+6]
		c7 += x * b[3*nr+7]
		a, b = a[4:], b[4*nr:]
	}
	for len(a) >= 1 && len(b) >= nr {
		x := a[0]
		c0 += x * b[0]
		c1 += x * b[1]
		c2 += x * b[2]
		c3 += x * b[3]
		c4 += x * b[4]
		c5 += x * b[5]
		c6 += x * b[6]
		c7 += x * b[7]
		a, b = a[1:], b[nr:]
	}
	c = c[:nr:nr]
	c[0] += c0
	c[1] += c1
	c[2] += c2
	c[3] += c3
	c[4] += c4
	c[5] += c5
	c[6] += c6
	c[7] += c7
}

// genericKern1xN is genericKern1x8 on each of the np panels that follow
// each other in b (k×nr values each), into np·nr values of c.
func genericKern1xN(k int, a, b, c []float64, np int) {
	for p := 0; p < np; p++ {
		genericKern1x8(k, a, b[p*k*nr:(p+1)*k*nr], c[p*nr:(p+1)*nr])
	}
}

// genericKern1xNSparse is genericKern1x8Sparse on each of the np panels
// that follow each other in b, into np·nr values of c.
func genericKern1xNSparse(idx []int32, a, b, c []float64, np int) {
	size := len(b) / np
	for p := 0; p < np; p++ {
		genericKern1x8Sparse(idx, a, b[p*size:(p+1)*size], c[p*nr:(p+1)*nr])
	}
}

// genericKern1x8Sparse is genericKern1x8 over the elements of a at the
// ascending indexes idx, the nonzero ones: c[q] += Σ_{l ∈ idx} a[l]·b[l*nr+q].
func genericKern1x8Sparse(idx []int32, a, b, c []float64) {
	var c0, c1, c2, c3, c4, c5, c6, c7 float64
	for _, l := range idx {
		x := a[l]
		bl := b[int(l)*nr : int(l)*nr+nr : int(l)*nr+nr]
		c0 += x * bl[0]
		c1 += x * bl[1]
		c2 += x * bl[2]
		c3 += x * bl[3]
		c4 += x * bl[4]
		c5 += x * bl[5]
		c6 += x * bl[6]
		c7 += x * bl[7]
	}
	c = c[:nr:nr]
	c[0] += c0
	c[1] += c1
	c[2] += c2
	c[3] += c3
	c[4] += c4
	c[5] += c5
	c[6] += c6
	c[7] += c7
}
