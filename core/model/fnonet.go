package model

import (
	"math"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/gemm"
)

// The computations of the Fourier kinds (fno-deq and fno, fno.go): the
// spectral convolution of a Fourier neural operator, its adjoint, and the
// sub-layers built on it, batched over samples, on channels-last fields (n
// samples of h×w pixels and c channels are n×h×w×c values, as the
// convolutional kinds hold them): there the 1×1 convolutions are one matrix
// product of a row per pixel with the packed weights.
//
// A spectral convolution keeps the lowest k1×k2 modes of rfft2 (the rows
// 0…k1−1 and h−k1…h−1, the columns 0…k2−1), multiplies each mode's
// channels by a learned complex matrix and transforms back with irfft2.
// Only those 2·k1·k2 modes are ever needed, so the transforms are truncated
// DFTs computed as matrix products on the GEMM kernels (exact for any grid
// size, O(h·w·k2 + h·k1·k2) a channel): along a field's rows (w), then,
// after a transpose, along its columns (h). The matrices, the plan, are
// built once per model; the buffers live in a scratch reused every
// iteration.

// dftPlan is the truncated DFT of h×w fields to their lowest modes and back.
type dftPlan struct {
	h, w, k1, k2 int
	// anaW (w × 2k2): a row x ↦ (Re, Im) of Σ_n x_n e^{−2πi bn/w}, b < k2,
	// interleaved; anaWs the same times c_b/(h·w) (c_0 = 1, else 2), the
	// adjoint of synW.
	anaW, anaWs *gemm.Packed
	// anaH (2h × 4k1): [Re T_m…, Im T_m…] ↦ [Re U_a…, Im U_a…] for the 2k1
	// kept row frequencies a, U_a = Σ_m T_m e^{−2πi am/h}.
	anaH *gemm.Packed
	// synH (4k1 × 2h): [Re X_a…, Im X_a…] ↦ [Re Y_m…, Im Y_m…],
	// Y_m = Σ_a X_a e^{+2πi am/h}.
	synH *gemm.Packed
	// synW (2k2 × w): (Re Y_b, Im Y_b)… ↦ v_n = Σ_b c_b/(h·w) Re(Y_b e^{2πi bn/w}),
	// which with synH is irfft2 of the kept modes; synW1 the same with
	// weights 1, which with synH is the adjoint of the analysis.
	synW, synW1 *gemm.Packed
}

// rowFreq is the kept row frequency of index a < 2k1.
func (p *dftPlan) rowFreq(a int) int {
	if a < p.k1 {
		return a
	}
	return p.h - 2*p.k1 + a
}

func newDFTPlan(h, w, k1, k2 int, prec api.Precision) *dftPlan {
	p := &dftPlan{h: h, w: w, k1: k1, k2: k2}
	aw, aws := make([]float64, w*2*k2), make([]float64, w*2*k2)
	sw, sw1 := make([]float64, 2*k2*w), make([]float64, 2*k2*w)
	for b := 0; b < k2; b++ {
		cb := 2.0
		if b == 0 {
			cb = 1
		}
		scale := cb / float64(h*w)
		for n := 0; n < w; n++ {
			s, c := math.Sincos(2 * math.Pi * float64(b*n%w) / float64(w))
			aw[n*2*k2+2*b], aw[n*2*k2+2*b+1] = c, -s
			aws[n*2*k2+2*b], aws[n*2*k2+2*b+1] = scale*c, -scale*s
			sw[2*b*w+n], sw[(2*b+1)*w+n] = scale*c, -scale*s
			sw1[2*b*w+n], sw1[(2*b+1)*w+n] = c, -s
		}
	}
	r := 2 * k1
	ah, sh := make([]float64, 2*h*2*r), make([]float64, 2*r*2*h)
	for a := 0; a < r; a++ {
		f := p.rowFreq(a)
		for m := 0; m < h; m++ {
			s, c := math.Sincos(2 * math.Pi * float64(f*m%h) / float64(h))
			// analysis: Re U = Σ Re T cos + Im T sin; Im U = Σ Im T cos − Re T sin
			ah[m*2*r+a], ah[(h+m)*2*r+a] = c, s
			ah[m*2*r+r+a], ah[(h+m)*2*r+r+a] = -s, c
			// synthesis: Re Y = Σ Re X cos − Im X sin; Im Y = Σ Re X sin + Im X cos
			sh[a*2*h+m], sh[(r+a)*2*h+m] = c, -s
			sh[a*2*h+h+m], sh[(r+a)*2*h+h+m] = s, c
		}
	}
	p.anaW, p.anaWs = pack(prec, aw, w, 2*k2), pack(prec, aws, w, 2*k2)
	p.synW, p.synW1 = pack(prec, sw, 2*k2, w), pack(prec, sw1, 2*k2, w)
	p.anaH, p.synH = pack(prec, ah, 2*h, 2*r), pack(prec, sh, 2*r, 2*h)
	return p
}

// modes is the number of kept modes, 2·k1·k2.
func (p *dftPlan) modes() int { return 2 * p.k1 * p.k2 }

// spectralScratch holds a caller's buffers for the spectral convolutions.
type spectralScratch struct {
	cf, t1, t2, x, mx, my []float64
	gemm                  gemm.Scratch
}

// analyse sets s.mx to the kept modes of the n channels-last fields src (c
// channels), in the mixing layout: mode by mode (b major, then a), sample
// by sample, [Re over the channels, Im over the channels]. scaled selects
// anaWs over anaW.
func (p *dftPlan) analyse(src []float64, n, c int, scaled bool, s *spectralScratch) {
	h, w, k2, r := p.h, p.w, p.k2, 2*p.k1
	hw := h * w
	s.cf = grow(s.cf, n*c*hw)
	toChannelsFirst(s.cf, src, n, c, hw)
	rows := n * c * h
	s.t1 = grow(s.t1, rows*2*k2)
	clear(s.t1)
	aw := p.anaW
	if scaled {
		aw = p.anaWs
	}
	aw.MulAdd(s.t1, s.cf, rows, &s.gemm)
	// t1 rows (field, m), columns (b, re/im) → t2 rows (field, b), columns (re/im, m).
	fields := n * c
	s.t2 = grow(s.t2, fields*k2*2*h)
	for f := 0; f < fields; f++ {
		t1, t2 := s.t1[f*h*2*k2:], s.t2[f*k2*2*h:]
		for m := 0; m < h; m++ {
			row := t1[m*2*k2 : (m+1)*2*k2]
			for b := 0; b < k2; b++ {
				t2[b*2*h+m] = row[2*b]
				t2[b*2*h+h+m] = row[2*b+1]
			}
		}
	}
	s.x = grow(s.x, fields*k2*2*r)
	clear(s.x)
	p.anaH.MulAdd(s.x, s.t2, fields*k2, &s.gemm)
	// x rows (sample, channel, b), columns (re/im, a) → mixing layout.
	modes := p.modes()
	s.mx = grow(s.mx, modes*n*2*c)
	for smp := 0; smp < n; smp++ {
		for ch := 0; ch < c; ch++ {
			for b := 0; b < k2; b++ {
				x := s.x[((smp*c+ch)*k2+b)*2*r:]
				for a := 0; a < r; a++ {
					dst := s.mx[((b*r+a)*n+smp)*2*c:]
					dst[ch], dst[c+ch] = x[a], x[r+a]
				}
			}
		}
	}
}

// synthesise adds to dst (n channels-last fields of c channels) the field
// of the kept modes s.my (mixing layout); unit selects synW1 (the
// analysis's adjoint) over synW (irfft2).
func (p *dftPlan) synthesise(dst []float64, n, c int, unit bool, s *spectralScratch) {
	h, w, k2, r := p.h, p.w, p.k2, 2*p.k1
	hw, fields := h*w, n*c
	s.x = grow(s.x, fields*k2*2*r)
	for smp := 0; smp < n; smp++ {
		for ch := 0; ch < c; ch++ {
			for b := 0; b < k2; b++ {
				x := s.x[((smp*c+ch)*k2+b)*2*r:]
				for a := 0; a < r; a++ {
					src := s.my[((b*r+a)*n+smp)*2*c:]
					x[a], x[r+a] = src[ch], src[c+ch]
				}
			}
		}
	}
	s.t2 = grow(s.t2, fields*k2*2*h)
	clear(s.t2)
	p.synH.MulAdd(s.t2, s.x, fields*k2, &s.gemm)
	s.t1 = grow(s.t1, fields*h*2*k2)
	for f := 0; f < fields; f++ {
		t1, t2 := s.t1[f*h*2*k2:], s.t2[f*k2*2*h:]
		for m := 0; m < h; m++ {
			row := t1[m*2*k2 : (m+1)*2*k2]
			for b := 0; b < k2; b++ {
				row[2*b], row[2*b+1] = t2[b*2*h+m], t2[b*2*h+h+m]
			}
		}
	}
	s.cf = grow(s.cf, fields*hw)
	clear(s.cf)
	sw := p.synW
	if unit {
		sw = p.synW1
	}
	sw.MulAdd(s.cf, s.t1, fields*h, &s.gemm)
	addChannelsLast(dst, s.cf, n, c, hw)
}

// toChannelsFirst sets dst (n×c×hw) to the n channels-last fields src
// (n×hw×c).
func toChannelsFirst(dst, src []float64, n, c, hw int) {
	for s := 0; s < n; s++ {
		for p := 0; p < hw; p++ {
			px := src[(s*hw+p)*c : (s*hw+p+1)*c]
			for ch, v := range px {
				dst[(s*c+ch)*hw+p] = v
			}
		}
	}
}

// addChannelsLast adds the n channels-first fields src (n×c×hw) to dst
// (n×hw×c).
func addChannelsLast(dst, src []float64, n, c, hw int) {
	for s := 0; s < n; s++ {
		for p := 0; p < hw; p++ {
			px := dst[(s*hw+p)*c : (s*hw+p+1)*c]
			for ch := range px {
				px[ch] += src[(s*c+ch)*hw+p]
			}
		}
	}
}

// spectralConv is a SpectralConv2d(c, c, k1, k2) prepared to compute: a
// packed 2c×2c real matrix a mode, [Re u, Im u] ↦ [Re v, Im v] for v = u·W
// (W = weights[:, :, mode], complex), and its transpose, the adjoint.
type spectralConv struct {
	plan     *dftPlan
	c        int
	fwd, bwd []*gemm.Packed
}

// modeWeight returns the weights tensor and the index of mode (b, a) in it.
func (p *dftPlan) modeWeight(w1, w2 []float64, b, a int) ([]float64, int) {
	if a < p.k1 {
		return w1, a*p.k2 + b
	}
	return w2, (a-p.k1)*p.k2 + b
}

func newSpectralConv(plan *dftPlan, c int, w1, w2 []float64, p api.Precision) *spectralConv {
	r, kk := 2*plan.k1, plan.k1*plan.k2
	sc := &spectralConv{plan: plan, c: c}
	m := make([]float64, 4*c*c)
	for b := 0; b < plan.k2; b++ {
		for a := 0; a < r; a++ {
			wt, idx := plan.modeWeight(w1, w2, b, a)
			for i := 0; i < c; i++ {
				for o := 0; o < c; o++ {
					re, im := wt[((i*c+o)*kk+idx)*2], wt[((i*c+o)*kk+idx)*2+1]
					m[i*2*c+o], m[i*2*c+c+o] = re, im
					m[(c+i)*2*c+o], m[(c+i)*2*c+c+o] = -im, re
				}
			}
			sc.fwd = append(sc.fwd, pack(p, m, 2*c, 2*c))
			sc.bwd = append(sc.bwd, pack(p, transposed(m, 2*c, 2*c), 2*c, 2*c))
		}
	}
	return sc
}

// forward sets dst (n channels-last fields) to the convolution of z, and
// keeps z's modes in keep if it is not nil (the tape).
func (sc *spectralConv) forward(dst, z []float64, n int, s *spectralScratch, keep *[]float64) {
	p, c := sc.plan, sc.c
	p.analyse(z, n, c, false, s)
	if keep != nil {
		*keep = append((*keep)[:0], s.mx...)
	}
	sc.mix(sc.fwd, n, s)
	clear(dst[:n*p.h*p.w*c])
	p.synthesise(dst, n, c, false, s)
}

// mix sets s.my to s.mx multiplied mode by mode.
func (sc *spectralConv) mix(ms []*gemm.Packed, n int, s *spectralScratch) {
	size := n * 2 * sc.c
	s.my = grow(s.my, len(ms)*size)
	clear(s.my)
	for k, m := range ms {
		m.MulAdd(s.my[k*size:(k+1)*size], s.mx[k*size:(k+1)*size], n, &s.gemm)
	}
}

// backward adds to dz the vector-Jacobian product of the convolution for
// the output gradient g (both n channels-last fields), and, with gw1 and
// gw2 not nil, the weights' gradients, from the input's modes kept by
// forward.
func (sc *spectralConv) backward(dz, g []float64, n int, s *spectralScratch, kept, gw1, gw2 []float64) {
	p, c := sc.plan, sc.c
	p.analyse(g, n, c, true, s) // s.mx = ∂L/∂V, the output modes' gradient
	if gw1 != nil {
		r, kk, size := 2*p.k1, p.k1*p.k2, n*2*c
		gm := make([]float64, 4*c*c)
		for b := 0; b < p.k2; b++ {
			for a := 0; a < r; a++ {
				k := b*r + a
				clear(gm)
				// [Re U, Im U]ᵀ [Re gV, Im gV]: ∂W = conj(U) gV summed over samples.
				gemmTN(1, kept[k*size:(k+1)*size], s.mx[k*size:(k+1)*size], n, 2*c, 2*c, gm)
				wt, idx := p.modeWeight(gw1, gw2, b, a)
				for i := 0; i < c; i++ {
					for o := 0; o < c; o++ {
						wt[((i*c+o)*kk+idx)*2] += gm[i*2*c+o] + gm[(c+i)*2*c+c+o]
						wt[((i*c+o)*kk+idx)*2+1] += gm[i*2*c+c+o] - gm[(c+i)*2*c+o]
					}
				}
			}
		}
	}
	sc.mix(sc.bwd, n, s)
	p.synthesise(dz, n, c, true, s)
}

// pointwise is a 1×1 nn.Conv2d (an nn.Linear on each pixel's channels), on
// channels-last rows, with its weight packed for the input gradient too.
type pointwise struct {
	affine
	bwd *gemm.Packed // out×in: a row of the output gradient times it is the input's
}

func newPointwise(l Linear, p api.Precision) pointwise {
	return pointwise{affine: newAffine(l.W, l.B, p), bwd: pack(p, l.W.Data, l.W.Rows, l.W.Cols)}
}

// mulAdd adds x W (no bias) to y for the rows of x.
func (p *pointwise) mulAdd(y, x []float64, rows int, s *gemm.Scratch) { p.wt.MulAdd(y, x, rows, s) }

// addBias adds the bias to each of the rows of y.
func (p *pointwise) addBias(y []float64, rows int) {
	out := p.w.Rows
	for i := 0; i < rows; i++ {
		addTo(y[i*out:(i+1)*out], p.b)
	}
}

// backwardData adds dy W to dx for the rows of dy.
func (p *pointwise) backwardData(dx, dy []float64, rows int, s *gemm.Scratch) {
	p.bwd.MulAdd(dx, dy, rows, s)
}

// gelu is PyTorch's exact GELU, x Φ(x); geluGrad its derivative.
func gelu(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }

func geluGrad(x float64) float64 {
	return 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
}

func geluTo(y, x []float64) {
	for i, v := range x {
		y[i] = gelu(v)
	}
}

// fourierLayer is one Fourier layer prepared: the spectral convolution, the
// MLP after it (1×1, GELU, 1×1) and the 1×1 skip,
//
//	out = act(mlp2(gelu(mlp1(spec(z)))) + w(z) + x̃)
//
// with act GELU in the cell's layers and the identity in the decoder's, and
// x̃ the injection (fno-deq's layers only).
type fourierLayer struct {
	spec          *spectralConv
	mlp1, mlp2, w pointwise
	act           bool
}

// fourierTape is a layer's intermediates: its input z, z's modes, spec(z),
// mlp1's pre-activation and output, and the pre-activation of the output.
type fourierTape struct {
	z, modes, s, a, hid, pre []float64
}

// fourierScratch is one caller's buffers for the layers.
type fourierScratch struct {
	spec                 spectralScratch
	s, a, hid, pre, g, d []float64
	gemm                 gemm.Scratch
}

// forward sets dst (n channels-last fields, rows pixels) to the layer of z;
// inj holds the injection of the n samples, compacted, or is nil.
func (fl *fourierLayer) forward(dst, z, inj []float64, n, hw int, s *fourierScratch, tape *fourierTape) {
	c := fl.spec.c
	rows := n * hw
	size := rows * c
	mid := fl.mlp1.w.Rows
	s.s, s.a, s.hid = grow(s.s, size), grow(s.a, rows*mid), grow(s.hid, rows*mid)
	fl.spec.forward(s.s, z, n, &s.spec, tapeModes(tape))
	for i := 0; i < rows; i++ {
		copy(s.a[i*mid:(i+1)*mid], fl.mlp1.b)
	}
	fl.mlp1.mulAdd(s.a, s.s, rows, &s.gemm)
	geluTo(s.hid, s.a)
	pre := dst[:size]
	if inj != nil {
		copy(pre, inj[:size])
	} else {
		clear(pre)
	}
	fl.mlp2.addBias(pre, rows)
	fl.w.addBias(pre, rows)
	fl.mlp2.mulAdd(pre, s.hid, rows, &s.gemm)
	fl.w.mulAdd(pre, z, rows, &s.gemm)
	if tape != nil {
		tape.z = append(tape.z[:0], z[:size]...)
		tape.s = append(tape.s[:0], s.s...)
		tape.a = append(tape.a[:0], s.a...)
		tape.hid = append(tape.hid[:0], s.hid...)
		tape.pre = append(tape.pre[:0], pre...)
	}
	if fl.act {
		geluTo(pre, pre)
	}
}

func tapeModes(t *fourierTape) *[]float64 {
	if t == nil {
		return nil
	}
	return &t.modes
}

// fourierGrads are where vjp adds the gradients of a layer's parameters and
// of its injection.
type fourierGrads struct {
	layer *FourierLayer
	inj   []float64
}

// vjp sets dz to J(z)ᵀ g through the layer at its tape (n samples, all of
// the tape's), and adds the parameters' gradients to gr if it is not nil.
func (fl *fourierLayer) vjp(dz, g []float64, n, hw int, tape *fourierTape, s *fourierScratch, gr *fourierGrads) {
	c, rows := fl.spec.c, n*hw
	size, mid := rows*c, fl.mlp1.w.Rows
	s.g = grow(s.g, size)
	gp := s.g
	if fl.act {
		for i, p := range tape.pre {
			gp[i] = g[i] * geluGrad(p)
		}
	} else {
		copy(gp, g[:size])
	}
	if gr != nil && gr.inj != nil {
		addTo(gr.inj[:size], gp)
	}
	clear(dz[:size])
	fl.w.backwardData(dz, gp, rows, &s.gemm)
	s.d = grow(s.d, rows*mid)
	gh := s.d
	clear(gh)
	fl.mlp2.backwardData(gh, gp, rows, &s.gemm)
	for i, a := range tape.a {
		gh[i] *= geluGrad(a)
	}
	s.s = grow(s.s, size)
	gs := s.s
	clear(gs)
	fl.mlp1.backwardData(gs, gh, rows, &s.gemm)
	var gw1, gw2 []float64
	if gr != nil {
		l := gr.layer
		fl.w.paramGrad(l.W.W.Data, l.W.B, gp, tape.z, rows)
		fl.mlp2.paramGrad(l.MLP.L2.W.Data, l.MLP.L2.B, gp, tape.hid, rows)
		fl.mlp1.paramGrad(l.MLP.L1.W.Data, l.MLP.L1.B, gh, tape.s, rows)
		gw1, gw2 = l.Conv.Weights1, l.Conv.Weights2
	}
	fl.spec.backward(dz, gs, n, &s.spec, tape.modes, gw1, gw2)
}
