package model

import (
	"sync"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
)

// The pnp kinds' computations: the denoiser H_θ on the 3×3 convolutions of
// convops.go (run in horizontal bands on large images, so that the im2col
// buffer stays small), the maps G and their vector-Jacobian products.

// pnpBandPixels is about how many pixels a band of a large image holds: a
// convolution's im2col rows are 9·C values a pixel, so an image of 512×512
// pixels and 32 channels would need 600 MB at once.
var pnpBandPixels = 8192

// bandConv is a conv3x3 on h×w images, run on bands of rows (with a halo row
// above and below) when the image is larger than a band.
type bandConv struct {
	in, out, h, w int
	band          int // rows a band computes; ≥ h: the whole image at once
	cv            *conv3x3
	bx, by        []float64 // a band's input and output, (band+2)×w pixels
}

func newBandConv(weight, bias []float64, in, out, h, w int, p api.Precision) *bandConv {
	b := &bandConv{in: in, out: out, h: h, w: w, band: max(1, pnpBandPixels/w)}
	if b.band >= h {
		b.band = h
		b.cv = newConv3x3(weight, bias, in, out, h, w, p)
		return b
	}
	b.cv = newConv3x3(weight, bias, in, out, b.band+2, w, p)
	return b
}

func (b *bandConv) whole() bool { return b.band >= b.h }

// bandScratch is one caller's buffers for band convolutions.
type bandScratch struct {
	conv           convScratch
	bx, by, bd, bg []float64
}

// fill copies rows r0−1 … r0+band of the image img (c channels) into dst, zero
// outside the image.
func (b *bandConv) fill(dst, img []float64, r0, c int) []float64 {
	rowLen := b.w * c
	dst = grow(dst, (b.band+2)*rowLen)
	for br := range b.band + 2 {
		src := r0 - 1 + br
		d := dst[br*rowLen : (br+1)*rowLen]
		if src < 0 || src >= b.h {
			clear(d)
			continue
		}
		copy(d, img[src*rowLen:(src+1)*rowLen])
	}
	return dst
}

// fillInner copies rows r0 … r0+band−1 of img into the inner rows of dst,
// the halo rows (and rows past the image) zero.
func (b *bandConv) fillInner(dst, img []float64, r0, c int) []float64 {
	rowLen := b.w * c
	dst = grow(dst, (b.band+2)*rowLen)
	clear(dst)
	rows := min(b.band, b.h-r0)
	copy(dst[rowLen:(rows+1)*rowLen], img[r0*rowLen:(r0+rows)*rowLen])
	return dst
}

// forward sets y = conv(x) + bias for n channels-last images.
func (b *bandConv) forward(y, x []float64, n int, s *bandScratch) {
	if b.whole() {
		b.cv.forward(y, x, n, &s.conv)
		return
	}
	hw := b.h * b.w
	for img := range n {
		xi, yi := x[img*hw*b.in:(img+1)*hw*b.in], y[img*hw*b.out:(img+1)*hw*b.out]
		for r0 := 0; r0 < b.h; r0 += b.band {
			s.bx = b.fill(s.bx, xi, r0, b.in)
			s.by = grow(s.by, (b.band+2)*b.w*b.out)
			b.cv.forward(s.by, s.bx, 1, &s.conv)
			rows, rowLen := min(b.band, b.h-r0), b.w*b.out
			copy(yi[r0*rowLen:(r0+rows)*rowLen], s.by[rowLen:(rows+1)*rowLen])
		}
	}
}

// backwardData adds to dx the input gradient for the output gradient dy.
func (b *bandConv) backwardData(dx, dy []float64, n int, s *bandScratch) {
	if b.whole() {
		b.cv.backwardData(dx, dy, n, &s.conv)
		return
	}
	hw := b.h * b.w
	rowLen := b.w * b.in
	for img := range n {
		dxi, dyi := dx[img*hw*b.in:(img+1)*hw*b.in], dy[img*hw*b.out:(img+1)*hw*b.out]
		for r0 := 0; r0 < b.h; r0 += b.band {
			s.bd = b.fillInner(s.bd, dyi, r0, b.out)
			s.bg = grow(s.bg, (b.band+2)*rowLen)
			clear(s.bg)
			b.cv.backwardData(s.bg, s.bd, 1, &s.conv)
			for br := range b.band + 2 {
				if src := r0 - 1 + br; src >= 0 && src < b.h {
					addTo(dxi[src*rowLen:(src+1)*rowLen], s.bg[br*rowLen:(br+1)*rowLen])
				}
			}
		}
	}
}

// backwardWeight adds the weight and bias gradients for the inputs x and the
// output gradient dy.
func (b *bandConv) backwardWeight(gw, gb, x, dy []float64, n int, s *bandScratch) {
	if b.whole() {
		b.cv.backwardWeight(gw, gb, x, dy, n, &s.conv)
		return
	}
	hw := b.h * b.w
	for img := range n {
		xi, dyi := x[img*hw*b.in:(img+1)*hw*b.in], dy[img*hw*b.out:(img+1)*hw*b.out]
		for r0 := 0; r0 < b.h; r0 += b.band {
			s.bx = b.fill(s.bx, xi, r0, b.in)
			s.bd = b.fillInner(s.bd, dyi, r0, b.out)
			b.cv.backwardWeight(gw, gb, s.bx, s.bd, 1, &s.conv)
		}
	}
}

// pnpDenoiser is H_θ(v) = v − D(v) on h×w grey images.
type pnpDenoiser struct {
	hw    int
	convs []*bandConv
	chans []int // channels after conv l (1 after the last)
}

func newPnPDenoiser(p *PnP, prec api.Precision) *pnpDenoiser {
	d := &pnpDenoiser{hw: p.Height * p.Width}
	for l, cv := range p.Denoiser {
		in, out := pnpLayerSizes(l, len(p.Denoiser), p.Channels())
		d.convs = append(d.convs, newBandConv(cv.Weight, cv.Bias, in, out, p.Height, p.Width, prec))
		d.chans = append(d.chans, out)
	}
	return d
}

// denoiserTape keeps D's intermediates for a batch: conv l's input ins[l]
// and, but for the last, its output before the relu pre[l].
type denoiserTape struct {
	ins, pre [][]float64
}

// denoiserScratch is one caller's buffers for the denoiser.
type denoiserScratch struct {
	a, b, d, g []float64
	band       bandScratch
}

// forward sets dst = H_θ(v) for m images, recording the tape if not nil.
func (d *pnpDenoiser) forward(dst, v []float64, m int, s *denoiserScratch, tape *denoiserTape) {
	if tape != nil {
		tape.ins, tape.pre = make([][]float64, len(d.convs)), make([][]float64, len(d.convs)-1)
	}
	cur := v[:m*d.hw]
	last := len(d.convs) - 1
	for l, cv := range d.convs {
		if tape != nil {
			tape.ins[l] = append([]float64(nil), cur...)
		}
		var out []float64
		if l == last {
			out = dst[:m*d.hw] // dst must not be v
		} else if l%2 == 0 {
			s.a = grow(s.a, m*d.hw*d.chans[l])
			out = s.a
		} else {
			s.b = grow(s.b, m*d.hw*d.chans[l])
			out = s.b
		}
		cv.forward(out, cur, m, &s.band)
		if l < last {
			if tape != nil {
				tape.pre[l] = append([]float64(nil), out...)
			}
			reluTo(out, out)
		}
		cur = out
	}
	out := dst[:m*d.hw]
	for i := range out {
		out[i] = v[i] - cur[i]
	}
}

// vjp sets gv (m×hw) to J_H(v)ᵀ u for the images rows of the tape and, if
// grads is not nil (rows then all of the tape's images, in order), adds the
// convolutions' parameter gradients to it.
func (d *pnpDenoiser) vjp(gv, u []float64, rows []int, tape *denoiserTape, s *denoiserScratch, grads []Conv2d) {
	m := len(rows)
	s.d = grow(s.d, m*d.hw)
	dd := s.d
	for i := range dd {
		dd[i] = -u[i] // H = v − D(v)
	}
	for l := len(d.convs) - 1; l >= 0; l-- {
		cv := d.convs[l]
		if grads != nil {
			cv.backwardWeight(grads[l].Weight, grads[l].Bias, tape.ins[l], dd, m, &s.band)
		}
		var gin []float64
		if l == 0 {
			gin = gv[:m*d.hw]
			copy(gin, u[:m*d.hw])
		} else {
			s.g = grow(s.g, m*d.hw*cv.in)
			gin = s.g
			clear(gin)
		}
		cv.backwardData(gin, dd, m, &s.band)
		if l > 0 {
			reluBackwardRows(gin, gin, tape.pre[l-1], rows, d.hw*cv.in)
			s.d, s.g = s.g, dd // the next layer's output gradient is gin
			dd = s.d
		}
	}
}

// pnpLayer is a pnp model prepared to compute.
type pnpLayer struct {
	p   *PnP
	hw  int
	op  *blurOp
	den *pnpDenoiser
	// res is hqs's resolvent, made on first use: its grid of up to 2H×2W
	// complex values is not allocated by loading a file.
	res     *resolvent
	resOnce sync.Once
}

// resolvent returns the hqs resolvent, made on first use.
func (l *pnpLayer) resolvent() *resolvent {
	l.resOnce.Do(func() { l.res = newResolvent(l.p.Kernel, l.p.Boundary, l.p.Height, l.p.Width) })
	return l.res
}

// Build prepares the operator, the resolvent and the denoiser.
func (p *PnP) Build(prec api.Precision) (Layer, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	l := &pnpLayer{p: p, hw: p.Height * p.Width, den: newPnPDenoiser(p, prec)}
	if !p.Explicit {
		l.op = newBlurOp(p.Kernel, p.Boundary, p.Height, p.Width)
	}
	return l, nil
}

// pnpScratch is one caller's buffers for the maps.
type pnpScratch struct {
	v, tmp, t2 []float64
	den        denoiserScratch
	fft        *fftScratch
}

func (l *pnpLayer) scratch() *pnpScratch {
	s := &pnpScratch{}
	if !l.p.Explicit && l.p.Splitting == SplittingHQS {
		s.fft = l.resolvent().scratch()
	}
	return s
}

// Inject returns Aᵀx (pnp) or x itself (pnp-explicit).
func (l *pnpLayer) Inject(x []float64, n int) []float64 {
	inj := make([]float64, n*l.hw)
	if l.op == nil {
		copy(inj, x[:n*l.hw])
		return inj
	}
	for i := range n {
		l.op.adjoint(inj[i*l.hw:(i+1)*l.hw], x[i*l.hw:(i+1)*l.hw])
	}
	return inj
}

// pre sets v to the denoiser's input of G(y, x) for the states z of the
// images rows: y − γ(AᵀA y − Aᵀx) (pgd), (AᵀA + βI)⁻¹(Aᵀx + βy) (hqs), or x
// (explicit). With nz not nil (pgd), it keeps AᵀA y − Aᵀx there.
func (l *pnpLayer) pre(v, z, inj []float64, rows []int, s *pnpScratch, nz []float64) {
	hw := l.hw
	p := l.p
	for k, i := range rows {
		vk, zk, ik := v[k*hw:(k+1)*hw], z[k*hw:(k+1)*hw], inj[i*hw:(i+1)*hw]
		switch {
		case p.Explicit:
			copy(vk, ik)
		case p.Splitting == SplittingPGD:
			s.tmp, s.t2 = grow(s.tmp, hw), grow(s.t2, hw)
			l.op.normal(s.tmp, zk, s.t2)
			g := p.Gamma[0]
			for j := range vk {
				r := s.tmp[j] - ik[j]
				if nz != nil {
					nz[k*hw+j] = r
				}
				vk[j] = zk[j] - g*r
			}
		default:
			b := p.Beta[0]
			for j := range vk {
				vk[j] = ik[j] + b*zk[j]
			}
			l.resolvent().apply(vk, vk, b, s.fft)
		}
	}
}

// Problem is y = G(y, x); for pnp-explicit the constant H_θ(x).
func (l *pnpLayer) Problem(inj []float64, n int) fixedpoint.BatchProblem {
	s := l.scratch()
	return fixedpoint.BatchProblem{Dim: l.hw, Samples: n, Constant: l.p.Explicit, F: func(dst, z []float64, rows []int) {
		s.v = grow(s.v, len(rows)*l.hw)
		l.pre(s.v, z, inj, rows, s, nil)
		l.den.forward(dst, s.v, len(rows), &s.den, nil)
	}}
}

// Readout is the identity: the state is the image.
func (l *pnpLayer) Readout(y, z []float64, n int) { copy(y[:n*l.hw], z[:n*l.hw]) }

// pnpBackward holds a batch's fixed points, the denoiser's inputs v at them
// and its tape, and for pgd AᵀA y* − Aᵀx.
type pnpBackward struct {
	l     *pnpLayer
	z, v  []float64
	nz    []float64
	n     int
	tape  denoiserTape
	all   []int
	s     *pnpScratch
	grads []float64
}

func (l *pnpLayer) Backward(x, inj, z []float64, n int) Backward {
	b := &pnpBackward{l: l, z: z, n: n, all: seq(n), s: l.scratch(), v: make([]float64, n*l.hw)}
	if !l.p.Explicit && l.p.Splitting == SplittingPGD {
		b.nz = make([]float64, n*l.hw)
	}
	l.pre(b.v, z, inj, b.all, b.s, b.nz)
	l.den.forward(make([]float64, n*l.hw), b.v, n, &b.s.den, &b.tape)
	return b
}

// Readout returns gy: the readout is the identity and has no parameters.
func (b *pnpBackward) Readout(_ Architecture, gy []float64) []float64 {
	return append([]float64(nil), gy[:b.n*b.l.hw]...)
}

// vjp sets dst = J_G(y*)ᵀ u for the images rows, and returns the denoiser's
// input gradient gv (scratch) for them; with grads it adds the denoiser's
// parameter gradients (rows all).
func (b *pnpBackward) vjp(dst, u []float64, rows []int, s *pnpScratch, grads []Conv2d) []float64 {
	hw, p := b.l.hw, b.l.p
	s.v = grow(s.v, len(rows)*hw)
	gv := s.v
	b.l.den.vjp(gv, u, rows, &b.tape, &s.den, grads)
	if dst == nil {
		return gv
	}
	for k := range rows {
		gk, dk := gv[k*hw:(k+1)*hw], dst[k*hw:(k+1)*hw]
		switch {
		case p.Explicit:
			clear(dk)
		case p.Splitting == SplittingPGD:
			s.t2 = grow(s.t2, hw)
			b.l.op.normal(dk, gk, s.t2)
			g := p.Gamma[0]
			for j := range dk {
				dk[j] = gk[j] - g*dk[j]
			}
		default:
			b.l.resolvent().apply(dk, gk, p.Beta[0], s.fft)
			for j := range dk {
				dk[j] *= p.Beta[0]
			}
		}
	}
	return gv
}

// Adjoint is u = J_G(y*)ᵀ u + gz; for pnp-explicit the constant gz.
func (b *pnpBackward) Adjoint(gz []float64) fixedpoint.BatchProblem {
	hw := b.l.hw
	if b.l.p.Explicit {
		return fixedpoint.BatchProblem{Dim: hw, Samples: b.n, Constant: true, F: func(dst, _ []float64, rows []int) {
			gatherRows(dst[:0], gz, rows, hw)
		}}
	}
	s := b.l.scratch()
	return fixedpoint.BatchProblem{Dim: hw, Samples: b.n, F: func(dst, u []float64, rows []int) {
		b.vjp(dst, u, rows, s, nil)
		for k, i := range rows {
			addTo(dst[k*hw:(k+1)*hw], gz[i*hw:(i+1)*hw])
		}
	}}
}

// StateVJP sets dst = J_G(y)ᵀ u at the batch's states.
func (b *pnpBackward) StateVJP(dst, u []float64) { b.vjp(dst, u, b.all, b.s, nil) }

// JacobianFree returns gz.
func (b *pnpBackward) JacobianFree(gz []float64) []float64 { return gz }

// Params adds the gradients of the denoiser's parameters, γ and β for the
// adjoint w: ∂γ = −⟨gv, AᵀA y − Aᵀx⟩, ∂β = ⟨R gv, y − v⟩ with R the
// resolvent (symmetric) and v = R(Aᵀx + βy).
func (b *pnpBackward) Params(grad Architecture, w []float64) {
	g := grad.(*PnP)
	hw, p := b.l.hw, b.l.p
	gv := b.vjp(nil, w, b.all, b.s, g.Denoiser)
	switch {
	case p.Explicit:
	case p.Splitting == SplittingPGD:
		g.Gamma[0] -= dot64(gv, b.nz)
	default:
		b.s.tmp = grow(b.s.tmp, hw)
		for k := range b.n {
			b.l.resolvent().apply(b.s.tmp, gv[k*hw:(k+1)*hw], p.Beta[0], b.s.fft)
			zk, vk := b.z[k*hw:(k+1)*hw], b.v[k*hw:(k+1)*hw]
			for j, r := range b.s.tmp {
				g.Beta[0] += r * (zk[j] - vk[j])
			}
		}
	}
}

func dot64(a, b []float64) float64 {
	var s float64
	for i, v := range b {
		s += a[i] * v
	}
	return s
}
