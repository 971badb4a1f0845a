package model

import (
	"gonum.org/v1/gonum/dsp/fourier"
)

// The pnp kinds' forward operator: the blur A, its adjoint and, for hqs, the
// resolvent (AᵀA + βI)⁻¹ by the FFT.

// blurOp is A on h×w images: (A x)[i, j] = Σ_ab k[a, b] x[r(i+a−rh), c(j+b−rw)],
// PyTorch's conv2d (a correlation) on the image extended by r and c, the
// boundary rule (half-sample symmetric reflection, or periodic wrapping).
type blurOp struct {
	h, w, kh, kw int
	k            []float64
	rows, cols   []int // rows[i·kh + a] = r(i+a−rh), cols[j·kw + b] = c(j+b−rw)
}

// boundaryIndex maps i into [0, n) by the boundary rule.
func boundaryIndex(i, n int, boundary string) int {
	if boundary == BoundaryPeriodic {
		return ((i % n) + n) % n
	}
	i = ((i % (2 * n)) + 2*n) % (2 * n) // the symmetric extension has period 2n
	if i >= n {
		i = 2*n - 1 - i
	}
	return i
}

func newBlurOp(k Matrix, boundary string, h, w int) *blurOp {
	b := &blurOp{h: h, w: w, kh: k.Rows, kw: k.Cols, k: k.Data, rows: make([]int, h*k.Rows), cols: make([]int, w*k.Cols)}
	for i := range h {
		for a := range k.Rows {
			b.rows[i*k.Rows+a] = boundaryIndex(i+a-k.Rows/2, h, boundary)
		}
	}
	for j := range w {
		for c := range k.Cols {
			b.cols[j*k.Cols+c] = boundaryIndex(j+c-k.Cols/2, w, boundary)
		}
	}
	return b
}

// apply sets dst = A x for one image.
func (b *blurOp) apply(dst, x []float64) {
	for i := range b.h {
		for j := range b.w {
			var s float64
			cols := b.cols[j*b.kw : (j+1)*b.kw]
			for a, r := range b.rows[i*b.kh : (i+1)*b.kh] {
				row, ka := x[r*b.w:(r+1)*b.w], b.k[a*b.kw:(a+1)*b.kw]
				for c, col := range cols {
					s += ka[c] * row[col]
				}
			}
			dst[i*b.w+j] = s
		}
	}
}

// adjoint sets dst = Aᵀ y for one image: it scatters where apply gathers.
func (b *blurOp) adjoint(dst, y []float64) {
	clear(dst[:b.h*b.w])
	for i := range b.h {
		for j := range b.w {
			v := y[i*b.w+j]
			cols := b.cols[j*b.kw : (j+1)*b.kw]
			for a, r := range b.rows[i*b.kh : (i+1)*b.kh] {
				row, ka := dst[r*b.w:(r+1)*b.w], b.k[a*b.kw:(a+1)*b.kw]
				for c, col := range cols {
					row[col] += ka[c] * v
				}
			}
		}
	}
}

// normal sets dst = AᵀA x for one image, tmp holding h·w values.
func (b *blurOp) normal(dst, x, tmp []float64) {
	b.apply(tmp, x)
	b.adjoint(dst, tmp)
}

// resolvent is (AᵀA + βI)⁻¹ on h×w images by the 2-D FFT on a P×Q grid:
// the image itself for periodic boundaries, its symmetric extension (2h×2w)
// for symmetric ones. AᵀA is diagonal in Fourier space there, with
// eigenvalues |k̂|², so v ↦ F⁻¹(F(E v)/(|k̂|² + β)) restricted to the image.
type resolvent struct {
	h, w, p, q int
	sym        bool
	eig        []float64 // |k̂|² on the grid
}

func newResolvent(k Matrix, boundary string, h, w int) *resolvent {
	r := &resolvent{h: h, w: w, p: h, q: w, sym: boundary == BoundarySymmetric}
	if r.sym {
		r.p, r.q = 2*h, 2*w
	}
	s := r.scratch()
	for a := range k.Rows {
		for c := range k.Cols {
			i, j := ((a-k.Rows/2)%r.p+r.p)%r.p, ((c-k.Cols/2)%r.q+r.q)%r.q
			s.buf[i*r.q+j] += complex(k.Data[a*k.Cols+c], 0)
		}
	}
	s.fft2(false)
	r.eig = make([]float64, r.p*r.q)
	for i, v := range s.buf {
		r.eig[i] = real(v)*real(v) + imag(v)*imag(v)
	}
	return r
}

// fftScratch holds one caller's FFTs and buffers for a resolvent.
type fftScratch struct {
	p, q       int
	rows, cols *fourier.CmplxFFT
	buf, col   []complex128
}

func (r *resolvent) scratch() *fftScratch {
	return &fftScratch{p: r.p, q: r.q, rows: fourier.NewCmplxFFT(r.q), cols: fourier.NewCmplxFFT(r.p),
		buf: make([]complex128, r.p*r.q), col: make([]complex128, r.p)}
}

// fft2 transforms buf in place (unnormalised; inverse if inverse).
func (s *fftScratch) fft2(inverse bool) {
	for i := range s.p {
		row := s.buf[i*s.q : (i+1)*s.q]
		if inverse {
			s.rows.Sequence(row, row)
		} else {
			s.rows.Coefficients(row, row)
		}
	}
	for j := range s.q {
		for i := range s.p {
			s.col[i] = s.buf[i*s.q+j]
		}
		if inverse {
			s.cols.Sequence(s.col, s.col)
		} else {
			s.cols.Coefficients(s.col, s.col)
		}
		for i := range s.p {
			s.buf[i*s.q+j] = s.col[i]
		}
	}
}

// apply sets dst = (AᵀA + βI)⁻¹ v for one image; dst may be v.
func (r *resolvent) apply(dst, v []float64, beta float64, s *fftScratch) {
	for i := range r.p {
		si := i
		if si >= r.h {
			si = 2*r.h - 1 - i
		}
		for j := range r.q {
			sj := j
			if sj >= r.w {
				sj = 2*r.w - 1 - j
			}
			s.buf[i*r.q+j] = complex(v[si*r.w+sj], 0)
		}
	}
	s.fft2(false)
	for i, e := range r.eig {
		s.buf[i] /= complex(e+beta, 0)
	}
	s.fft2(true)
	scale := 1 / float64(r.p*r.q)
	for i := range r.h {
		for j := range r.w {
			dst[i*r.w+j] = real(s.buf[i*r.q+j]) * scale
		}
	}
}
