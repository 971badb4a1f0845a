package gemm

// mulAdd32 is MulAdd for a float32 p: the float64 path's blocking with
// panels of nr32, A's rows rounded to float32 as they are copied into
// s.a32, and each output's float32 sum added to c in float64 (or the
// host's SIMD kernel in the WebAssembly guest, simdMulAdd, with the same
// bits).
func (p *Packed) mulAdd32(c, a []float64, m int, s *Scratch) {
	if p.simdMulAdd(c, a, m, s) {
		return
	}
	k, n := p.k, p.n
	need := k
	if m >= mr {
		need = k * mr
	}
	if cap(s.a32) < need {
		s.a32 = make([]float32, need)
	}
	np := (n + nr32 - 1) / nr32
	i := 0
	for ; i+mr <= m; i += mr {
		ap := s.a32[:k*mr]
		packRows32(ap, a[i*k:(i+mr)*k], k)
		for j := 0; j < np; j++ {
			panel := p.panels32[j*k*nr32 : (j+1)*k*nr32]
			if j*nr32+nr32 <= n {
				block6x16(k, ap, panel, c[i*n+j*nr32:], n)
				continue
			}
			t := s.tmp[:mr*nr32]
			clear(t)
			block6x16(k, ap, panel, t, nr32)
			for r := 0; r < mr; r++ {
				row := c[(i+r)*n+j*nr32 : (i+r)*n+n]
				for q := range row {
					row[q] += t[r*nr32+q]
				}
			}
		}
	}
	full := n / nr32
	for ; i < m; i++ {
		row := s.a32[:k]
		toFloat32(row, a[i*k:(i+1)*k])
		sparse := s.Sparse && full >= 4 && s.nonzeros32(row)
		j := 0
		for ; j+4 <= full; j += 4 {
			b, cj := p.panels32[j*k*nr32:(j+4)*k*nr32], c[i*n+j*nr32:i*n+(j+4)*nr32]
			if sparse {
				kern1x64SparseF32(s.nz, row, b, cj)
				continue
			}
			row1xN32(k, row, b, cj, 4)
		}
		if j+2 <= full {
			row1xN32(k, row, p.panels32[j*k*nr32:(j+2)*k*nr32], c[i*n+j*nr32:i*n+(j+2)*nr32], 2)
			j += 2
		}
		for ; j < full; j++ {
			row1xN32(k, row, p.panels32[j*k*nr32:(j+1)*k*nr32], c[i*n+j*nr32:i*n+(j+1)*nr32], 1)
		}
		p.partialPanel32(c[i*n:(i+1)*n], row, s)
	}
}

// partialPanel32 is partialPanel for a float32 p, on a row already in
// float32: the columns of B's last panel when it is partial (n not a
// multiple of 16), as mulAdd32's single rows add them.
func (p *Packed) partialPanel32(crow []float64, row []float32, s *Scratch) {
	k, n, full := p.k, p.n, p.n/nr32
	if full*nr32 == n {
		return
	}
	t := s.tmp[:nr32]
	clear(t)
	row1xN32(k, row, p.panels32[full*k*nr32:(full+1)*k*nr32], t, 1)
	for q, v := range t[:n-full*nr32] {
		crow[full*nr32+q] += v
	}
}

// packRows32 is packRows rounding to float32, its first steps in the
// assembly where there is some.
func packRows32(ap []float32, a []float64, k int) {
	r0, r1, r2 := a[0:k], a[k:2*k], a[2*k:3*k]
	r3, r4, r5 := a[3*k:4*k], a[4*k:5*k], a[5*k:6*k]
	for l := pack6F32(ap, a, k); l < k; l++ {
		p := ap[l*mr : l*mr+mr : l*mr+mr]
		p[0], p[1], p[2] = float32(r0[l]), float32(r1[l]), float32(r2[l])
		p[3], p[4], p[5] = float32(r3[l]), float32(r4[l]), float32(r5[l])
	}
}

// nonzeros32 is nonzeros on the float32 row, whose zeros include the
// float64 values that round to zero. It writes every index and advances
// past the nonzero ones without a branch, which a relu's random signs
// would mispredict half the time.
func (s *Scratch) nonzeros32(row []float32) bool {
	if cap(s.nz) < len(row) {
		s.nz = make([]int32, len(row))
	}
	nz := s.nz[:len(row)]
	n := 0
	for l, v := range row {
		nz[n] = int32(l)
		d := 0
		if v != 0 {
			d = 1
		}
		n += d
	}
	s.nz = nz[:n]
	return 4*n <= 3*len(row)
}

// block6x16 sets c[r*ldc+q] += Σ_l a[l*mr+r]·b[l*nr32+q] for r < 6, q < 16,
// the sums in float32.
func block6x16(k int, a, b []float32, c []float64, ldc int) {
	_ = a[k*mr-1]
	_ = b[k*nr32-1]
	_ = c[(mr-1)*ldc+nr32-1]
	kern6x16F32(k, a, b, c, ldc)
}

// row1xN32 sets c[16p+q] += Σ_l a[l]·b[p·k·16+l·16+q] for the np (1, 2 or
// 4) panels that follow each other in b, q < 16, the sums in float32.
func row1xN32(k int, a, b []float32, c []float64, np int) {
	_ = a[k-1]
	_ = b[np*k*nr32-1]
	_ = c[np*nr32-1]
	switch np {
	case 4:
		kern1x64F32(k, a, b, c)
	case 2:
		kern1x32F32(k, a, b, c)
	default:
		kern1x16F32(k, a, b, c)
	}
}

// genericToFloat32 sets dst[i] = float32(src[i]), a function of its own
// so that its loop keeps its registers.
func genericToFloat32(dst []float32, src []float64) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float32(v)
	}
}
