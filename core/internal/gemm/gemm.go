// Package gemm multiplies a batch of row vectors by a fixed matrix, the
// product a deq-dense solver spends its time in: C += A·B, where B (k×n) is
// packed once (it is a model weight) and A (m×k) changes every iteration.
//
// B is stored as column panels of width 8, each k rows deep and zero-padded,
// so that a micro-kernel streams it contiguously. On amd64 with AVX2 and FMA
// the kernels are assembly (a 6×8 register block for the batch, 1×32, 1×16
// and 1×8 ones for single rows); elsewhere, and with the purego build tag,
// the same blocking runs in Go.
//
// PackFloat32 stores B in float32 instead, as panels of width 16 (a 6×16
// block, and 1×64, 1×32 and 1×16 row kernels): MulAdd still takes and
// updates float64 A and C, rounds A's rows to float32 as it copies them,
// sums each output in float32 and adds the sum to c in float64. Each
// instruction then does twice the arithmetic and B is half the bytes, and
// in WebAssembly the host's f32_muladd (f32x4) kernel runs it.
//
// Every kernel of a build sums each output the same way: one accumulator
// (of the precision's type) from +0, the products in the order of l (fused
// in the assembly, multiply then add in Go), then added to c. A row's result
// is therefore the same bit for bit wherever it sits in A and however many
// rows A has, so a batch split over workers, or one whose converged samples
// drop out, computes what the whole batch would.
package gemm

// nr is the float64 panel width and nr32 the float32 one (two AVX2
// registers each); mr the rows of the batch kernels' register block.
const (
	nr   = 8
	nr32 = 16
	mr   = 6
)

// Packed is a k×n matrix B in panel order, in one of the two precisions.
type Packed struct {
	k, n     int
	f32      bool
	panels   []float64 // float64: ceil(n/nr) panels of k×nr values, row-major within a panel
	panels32 []float32 // float32: ceil(n/nr32) panels of k×nr32 values
}

// Pack returns B (k×n, row-major) in panel order.
func Pack(b []float64, k, n int) *Packed {
	return &Packed{k: k, n: n, panels: panelOrder[float64](b, k, n, nr)}
}

// PackFloat32 returns B (k×n, row-major) rounded to float32, in panel
// order; MulAdd then computes in float32.
func PackFloat32(b []float64, k, n int) *Packed {
	return &Packed{k: k, n: n, f32: true, panels32: panelOrder[float32](b, k, n, nr32)}
}

// panelOrder returns B (k×n, row-major) as ceil(n/w) panels of k×w values,
// row-major within a panel and zero-padded.
func panelOrder[T float32 | float64](b []float64, k, n, w int) []T {
	np := (n + w - 1) / w
	panels := make([]T, np*k*w)
	for j := 0; j < np; j++ {
		panel := panels[j*k*w : (j+1)*k*w]
		for l := 0; l < k; l++ {
			for c := 0; c < w && j*w+c < n; c++ {
				panel[l*w+c] = T(b[l*n+j*w+c])
			}
		}
	}
	return panels
}

// Dims returns k and n.
func (p *Packed) Dims() (k, n int) { return p.k, p.n }

// Float32 reports whether p came from PackFloat32.
func (p *Packed) Float32() bool { return p.f32 }

// Scratch holds the buffers of one MulAdd caller. A Scratch must not be used
// by two goroutines at once; its zero value is ready.
type Scratch struct {
	// Sparse says the rows of A may be mostly zeros (after a relu, say):
	// a single row with a quarter or more of its elements zero then goes
	// through a kernel that skips them, with the same result bit for bit
	// when B is finite (a model's weights are; 0·Inf would be NaN).
	Sparse bool

	a   []float64 // mr rows of A, interleaved: a[l*mr+r]
	a32 []float32 // float32: mr rows of A interleaved, or one row
	tmp [mr * nr32]float64
	nz  []int32 // a row's nonzero elements, ascending
}

// MulAdd sets c += a·B for a (m×k) and c (m×n), both row-major and
// contiguous. It panics if the slices are too short, like a slice
// expression, since that is a bug in the caller. With a float32 p, A's rows
// are rounded to float32 and the sums computed in float32 (mulAdd32).
func (p *Packed) MulAdd(c, a []float64, m int, s *Scratch) {
	k, n := p.k, p.n
	if m == 0 || n == 0 {
		return
	}
	_ = c[m*n-1]
	if k == 0 {
		return
	}
	_ = a[m*k-1]
	if p.f32 {
		p.mulAdd32(c, a, m, s)
		return
	}
	if p.simdMulAdd(c, a, m, s) {
		return
	}
	if m >= mr && cap(s.a) < k*mr {
		s.a = make([]float64, k*mr)
	}
	np := (n + nr - 1) / nr
	i := 0
	for ; i+mr <= m; i += mr {
		packRows(s.a[:k*mr], a[i*k:(i+mr)*k], k)
		ap := s.a[:k*mr]
		for j := 0; j < np; j++ {
			panel := p.panels[j*k*nr : (j+1)*k*nr]
			if j*nr+nr <= n {
				block6x8(k, ap, panel, c[i*n+j*nr:], n)
				continue
			}
			// A partial last panel goes through a full-width block.
			t := s.tmp[:mr*nr]
			clear(t)
			block6x8(k, ap, panel, t, nr)
			for r := 0; r < mr; r++ {
				row := c[(i+r)*n+j*nr : (i+r)*n+n]
				for q := range row {
					row[q] += t[r*nr+q]
				}
			}
		}
	}
	full := n / nr // panels with no padding
	for ; i < m; i++ {
		row := a[i*k : (i+1)*k]
		sparse := s.Sparse && full >= 4 && s.nonzeros(row)
		j := 0
		for ; j+4 <= full; j += 4 {
			b, cj := p.panels[j*k*nr:(j+4)*k*nr], c[i*n+j*nr:i*n+(j+4)*nr]
			if sparse {
				kern1x32Sparse(s.nz, row, b, cj)
				continue
			}
			row1xN(k, row, b, cj, 4)
		}
		if j+2 <= full {
			row1xN(k, row, p.panels[j*k*nr:(j+2)*k*nr], c[i*n+j*nr:i*n+(j+2)*nr], 2)
			j += 2
		}
		for ; j < full; j++ {
			row1xN(k, row, p.panels[j*k*nr:(j+1)*k*nr], c[i*n+j*nr:i*n+(j+1)*nr], 1)
		}
		p.partialPanel(c[i*n:(i+1)*n], row, s)
	}
}

// partialPanel adds row·B to the columns of crow (a row of C) that B's
// last panel holds when it is partial (n not a multiple of 8), through a
// full-width kernel into s.tmp.
func (p *Packed) partialPanel(crow, row []float64, s *Scratch) {
	k, n, full := p.k, p.n, p.n/nr
	if full*nr == n {
		return
	}
	t := s.tmp[:nr]
	clear(t)
	row1xN(k, row, p.panels[full*k*nr:(full+1)*k*nr], t, 1)
	for q, v := range t[:n-full*nr] {
		crow[full*nr+q] += v
	}
}

// packRows interleaves mr rows of a (each k long) into ap: element l of row
// r at l·mr + r, the order the batch kernel reads. Six row slices and one
// slice of ap a step leave one bounds check per step.
func packRows(ap, a []float64, k int) {
	r0, r1, r2 := a[0:k], a[k:2*k], a[2*k:3*k]
	r3, r4, r5 := a[3*k:4*k], a[4*k:5*k], a[5*k:6*k]
	for l := range r0 {
		p := ap[l*mr : l*mr+mr : l*mr+mr]
		p[0], p[1], p[2], p[3], p[4], p[5] = r0[l], r1[l], r2[l], r3[l], r4[l], r5[l]
	}
}

// nonzeros records the indexes of row's nonzero elements and reports
// whether a quarter or more of the row is zero.
func (s *Scratch) nonzeros(row []float64) bool {
	s.nz = s.nz[:0]
	for l, v := range row {
		if v != 0 {
			s.nz = append(s.nz, int32(l))
		}
	}
	return 4*len(s.nz) <= 3*len(row)
}

// block6x8 sets c[r*ldc+q] += Σ_l a[l*mr+r]·b[l*nr+q] for r < 6, q < 8.
func block6x8(k int, a, b, c []float64, ldc int) {
	_ = a[k*mr-1]
	_ = b[k*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	kern6x8(k, a, b, c, ldc)
}

// row1xN sets c[8p+q] += Σ_l a[l]·b[p·k·8+l·8+q] for the np (1, 2 or 4)
// panels that follow each other in b, q < 8.
func row1xN(k int, a, b, c []float64, np int) {
	_ = a[k-1]
	_ = b[np*k*nr-1]
	_ = c[np*nr-1]
	switch np {
	case 4:
		kern1x32(k, a, b, c)
	case 2:
		kern1x16(k, a, b, c)
	default:
		kern1x8(k, a, b, c)
	}
}
