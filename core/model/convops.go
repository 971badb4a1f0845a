package model

import (
	"math"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/gemm"
)

// The layers of the convolutional kinds, on channels-last images: a batch of
// n images of h×w pixels and c channels is n×h×w×c values, pixel after pixel,
// each pixel's channels together. That is the layout in which a 3×3
// convolution is one matrix product of a row per pixel (im2col) with the
// packed weights, the product the GEMM kernels are fast at. Files and inputs
// keep PyTorch's channels-first order; the kinds convert at their edges.

// normEps is PyTorch's default ε of BatchNorm2d and GroupNorm.
const normEps = 1e-5

// conv3x3 is a PyTorch nn.Conv2d(in, out, 3, padding=1) (stride 1) on
// channels-last images of h×w pixels, prepared for the GEMM kernel.
type conv3x3 struct {
	in, out, h, w int
	weight        []float64    // [out, in, 3, 3], PyTorch's layout
	bias          []float64    // out values, or nil for none
	fwd           *gemm.Packed // (9·in × out): an im2col row times it is a pixel's output
	bwd           *gemm.Packed // (out × 9·in): a pixel's output gradient times it is its im2col row's
}

func newConv3x3(weight, bias []float64, in, out, h, w int, p api.Precision) *conv3x3 {
	k := 9 * in
	f := make([]float64, k*out) // row (tap·in + c), column o
	for o := 0; o < out; o++ {
		for c := 0; c < in; c++ {
			for tap := 0; tap < 9; tap++ {
				f[(tap*in+c)*out+o] = weight[(o*in+c)*9+tap]
			}
		}
	}
	return &conv3x3{in: in, out: out, h: h, w: w, weight: weight, bias: bias,
		fwd: pack(p, f, k, out), bwd: pack(p, transposed(f, k, out), out, k)}
}

// convScratch holds one caller's buffers for conv3x3: the im2col rows of a
// chunk of images, and the kernel's scratch. It is not safe for
// concurrent use.
type convScratch struct {
	col  []float64
	gemm gemm.Scratch
}

// chunk is how many images of hw pixels one im2col buffer holds: enough rows
// to keep the kernel busy, few enough to keep the buffer in cache.
func chunk(hw int) int { return max(1, 1024/hw) }

// cols returns the scratch's buffer for m im2col rows of k values.
func (s *convScratch) cols(m, k int) []float64 {
	if cap(s.col) < m*k {
		s.col = make([]float64, m*k)
	}
	return s.col[:m*k]
}

// im2col writes the rows of the n images x (channels-last, c channels): a
// row per pixel, its 3×3 neighbourhood tap by tap, zero outside the image.
func im2col(col, x []float64, n, h, w, c int) {
	k := 9 * c
	for s := 0; s < n; s++ {
		img := x[s*h*w*c : (s+1)*h*w*c]
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				row := col[((s*h+i)*w+j)*k : ((s*h+i)*w+j+1)*k]
				for tap := 0; tap < 9; tap++ {
					dst := row[tap*c : (tap+1)*c]
					si, sj := i+tap/3-1, j+tap%3-1
					if si < 0 || si >= h || sj < 0 || sj >= w {
						clear(dst)
						continue
					}
					copy(dst, img[(si*w+sj)*c:(si*w+sj+1)*c])
				}
			}
		}
	}
}

// col2im adds the im2col rows' gradient dcol back onto the pixels they
// read: the adjoint of im2col.
func col2im(dx, dcol []float64, n, h, w, c int) {
	k := 9 * c
	for s := 0; s < n; s++ {
		img := dx[s*h*w*c : (s+1)*h*w*c]
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				row := dcol[((s*h+i)*w+j)*k : ((s*h+i)*w+j+1)*k]
				for tap := 0; tap < 9; tap++ {
					si, sj := i+tap/3-1, j+tap%3-1
					if si < 0 || si >= h || sj < 0 || sj >= w {
						continue
					}
					dst := img[(si*w+sj)*c : (si*w+sj+1)*c]
					for q, v := range row[tap*c : (tap+1)*c] {
						dst[q] += v
					}
				}
			}
		}
	}
}

// forward sets y (n×h×w×out) to the convolution of the n images x
// (n×h×w×in), plus the bias.
func (cv *conv3x3) forward(y, x []float64, n int, s *convScratch) {
	hw, k := cv.h*cv.w, 9*cv.in
	if cv.bias != nil {
		for p := 0; p < n*hw; p++ {
			copy(y[p*cv.out:(p+1)*cv.out], cv.bias)
		}
	} else {
		clear(y[:n*hw*cv.out])
	}
	step := chunk(hw)
	for s0 := 0; s0 < n; s0 += step {
		m := min(step, n-s0)
		col := s.cols(m*hw, k)
		im2col(col, x[s0*hw*cv.in:], m, cv.h, cv.w, cv.in)
		cv.fwd.MulAdd(y[s0*hw*cv.out:], col, m*hw, &s.gemm)
	}
}

// backwardData adds to dx (n×h×w×in) the gradient of the input for the
// output gradient dy (n×h×w×out).
func (cv *conv3x3) backwardData(dx, dy []float64, n int, s *convScratch) {
	hw, k := cv.h*cv.w, 9*cv.in
	step := chunk(hw)
	for s0 := 0; s0 < n; s0 += step {
		m := min(step, n-s0)
		dcol := s.cols(m*hw, k)
		clear(dcol)
		cv.bwd.MulAdd(dcol, dy[s0*hw*cv.out:], m*hw, &s.gemm)
		col2im(dx[s0*hw*cv.in:], dcol, m, cv.h, cv.w, cv.in)
	}
}

// backwardWeight adds to gw ([out, in, 3, 3]) and gb (out values, nil for no
// bias) the gradient of the weights for the inputs x and the output
// gradient dy of n images.
func (cv *conv3x3) backwardWeight(gw, gb, x, dy []float64, n int, s *convScratch) {
	hw, k := cv.h*cv.w, 9*cv.in
	g := make([]float64, k*cv.out) // (tap·in + c) × o, as fwd
	step := chunk(hw)
	for s0 := 0; s0 < n; s0 += step {
		m := min(step, n-s0)
		col := s.cols(m*hw, k)
		im2col(col, x[s0*hw*cv.in:], m, cv.h, cv.w, cv.in)
		gemmTN(1, col, dy[s0*hw*cv.out:(s0+m)*hw*cv.out], m*hw, k, cv.out, g)
	}
	for o := 0; o < cv.out; o++ {
		for c := 0; c < cv.in; c++ {
			for tap := 0; tap < 9; tap++ {
				gw[(o*cv.in+c)*9+tap] += g[(tap*cv.in+c)*cv.out+o]
			}
		}
	}
	if gb != nil {
		addColSums(gb, dy, n*hw, cv.out)
	}
}

// groupNorm is a PyTorch nn.GroupNorm(groups, c) on channels-last images of
// hw pixels: each image's channels in groups of c/groups, normalised over
// the group's channels and pixels (biased variance, ε = 1e-5), then scaled
// and shifted per channel.
type groupNorm struct {
	groups, c, hw int
	weight, bias  []float64
}

// normTape keeps what a normalisation's backward pass needs: the normalised
// values x̂ and each (image, group)'s 1/σ.
type normTape struct {
	xhat, rstd []float64
}

// forward sets y = GroupNorm(x) for n images; y may be x. With a tape it
// records x̂ and 1/σ in it.
func (g *groupNorm) forward(y, x []float64, n int, t *normTape) {
	cg := g.c / g.groups
	count := float64(cg * g.hw)
	if t != nil {
		t.xhat = grow(t.xhat, n*g.hw*g.c)
		t.rstd = grow(t.rstd, n*g.groups)
	}
	for s := 0; s < n; s++ {
		xs, ys := x[s*g.hw*g.c:(s+1)*g.hw*g.c], y[s*g.hw*g.c:(s+1)*g.hw*g.c]
		for grp := 0; grp < g.groups; grp++ {
			c0, c1 := grp*cg, (grp+1)*cg
			var sum float64
			for p := 0; p < g.hw; p++ {
				for _, v := range xs[p*g.c+c0 : p*g.c+c1] {
					sum += v
				}
			}
			mean := sum / count
			var ss float64
			for p := 0; p < g.hw; p++ {
				for _, v := range xs[p*g.c+c0 : p*g.c+c1] {
					ss += (v - mean) * (v - mean)
				}
			}
			rstd := 1 / math.Sqrt(ss/count+normEps)
			if t != nil {
				t.rstd[s*g.groups+grp] = rstd
			}
			for p := 0; p < g.hw; p++ {
				for c := c0; c < c1; c++ {
					xh := (xs[p*g.c+c] - mean) * rstd
					if t != nil {
						t.xhat[s*g.hw*g.c+p*g.c+c] = xh
					}
					ys[p*g.c+c] = xh*g.weight[c] + g.bias[c]
				}
			}
		}
	}
}

// backward sets dx to the input gradient for the output gradient dy of the
// images rows (indexes into the tape) and, when gw is not nil, adds the
// gradients of the weight and bias to gw and gb. dx may be dy.
func (g *groupNorm) backward(dx, dy []float64, rows []int, t *normTape, gw, gb []float64) {
	cg := g.c / g.groups
	count := float64(cg * g.hw)
	size := g.hw * g.c
	for k, s := range rows {
		dys, dxs, xh := dy[k*size:(k+1)*size], dx[k*size:(k+1)*size], t.xhat[s*size:(s+1)*size]
		if gw != nil {
			for p := 0; p < g.hw; p++ {
				for c := 0; c < g.c; c++ {
					gw[c] += dys[p*g.c+c] * xh[p*g.c+c]
					gb[c] += dys[p*g.c+c]
				}
			}
		}
		for grp := 0; grp < g.groups; grp++ {
			c0, c1 := grp*cg, (grp+1)*cg
			var m1, m2 float64 // means of dx̂ and dx̂·x̂
			for p := 0; p < g.hw; p++ {
				for c := c0; c < c1; c++ {
					d := dys[p*g.c+c] * g.weight[c]
					m1 += d
					m2 += d * xh[p*g.c+c]
				}
			}
			m1, m2 = m1/count, m2/count
			rstd := t.rstd[s*g.groups+grp]
			for p := 0; p < g.hw; p++ {
				for c := c0; c < c1; c++ {
					d := dys[p*g.c+c] * g.weight[c]
					dxs[p*g.c+c] = rstd * (d - m1 - xh[p*g.c+c]*m2)
				}
			}
		}
	}
}

// batchNorm is a PyTorch nn.BatchNorm2d(c) in eval mode, on channels-last
// images: per channel, (x − running mean)/√(running var + ε)·γ + β, an
// affine map (its running statistics are not trained here).
type batchNorm struct {
	c                        int
	weight, bias, mean, vari []float64
	scale, shift             []float64 // y = x·scale + shift, per channel
}

func newBatchNorm(weight, bias, mean, vari []float64) *batchNorm {
	b := &batchNorm{c: len(weight), weight: weight, bias: bias, mean: mean, vari: vari,
		scale: make([]float64, len(weight)), shift: make([]float64, len(weight))}
	for c := range weight {
		b.scale[c] = weight[c] / math.Sqrt(vari[c]+normEps)
		b.shift[c] = bias[c] - mean[c]*b.scale[c]
	}
	return b
}

// forward sets y = BatchNorm(x) over px pixels; y may be x.
func (b *batchNorm) forward(y, x []float64, px int) {
	for p := 0; p < px; p++ {
		xs, ys := x[p*b.c:(p+1)*b.c], y[p*b.c:(p+1)*b.c]
		for c, v := range xs {
			ys[c] = v*b.scale[c] + b.shift[c]
		}
	}
}

// backward sets dx = dy·scale over px pixels and adds the gradients of γ
// and β for the inputs x to gw and gb. dx may be dy.
func (b *batchNorm) backward(dx, dy, x []float64, px int, gw, gb []float64) {
	for p := 0; p < px; p++ {
		for c := 0; c < b.c; c++ {
			i := p*b.c + c
			gw[c] += dy[i] * (x[i] - b.mean[c]) / math.Sqrt(b.vari[c]+normEps)
			gb[c] += dy[i]
			dx[i] = dy[i] * b.scale[c]
		}
	}
}

// avgPoolFlatten sets feat (n×(c·h/p·w/p)) to nn.AvgPool2d(p) of the n
// channels-last images x, flattened in PyTorch's channels-first order (as
// x.flatten(1) after the pool).
func avgPoolFlatten(feat, x []float64, n, h, w, c, p int) {
	hp, wp := h/p, w/p
	inv := 1 / float64(p*p)
	clear(feat[:n*c*hp*wp])
	for s := 0; s < n; s++ {
		img, f := x[s*h*w*c:(s+1)*h*w*c], feat[s*c*hp*wp:(s+1)*c*hp*wp]
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				cell := (i/p)*wp + j/p
				for ch, v := range img[(i*w+j)*c : (i*w+j+1)*c] {
					f[ch*hp*wp+cell] += v * inv
				}
			}
		}
	}
}

// avgPoolFlattenBackward sets dx (n×h×w×c) to the gradient of the images
// for the gradient dfeat of avgPoolFlatten's output.
func avgPoolFlattenBackward(dx, dfeat []float64, n, h, w, c, p int) {
	hp, wp := h/p, w/p
	inv := 1 / float64(p*p)
	for s := 0; s < n; s++ {
		img, f := dx[s*h*w*c:(s+1)*h*w*c], dfeat[s*c*hp*wp:(s+1)*c*hp*wp]
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				cell := (i/p)*wp + j/p
				px := img[(i*w+j)*c : (i*w+j+1)*c]
				for ch := range px {
					px[ch] = f[ch*hp*wp+cell] * inv
				}
			}
		}
	}
}

// toChannelsLast sets dst (n×hw×c) to the n channels-first images src
// (n×c×hw), PyTorch's order.
func toChannelsLast(dst, src []float64, n, c, hw int) {
	for s := 0; s < n; s++ {
		for ch := 0; ch < c; ch++ {
			for p := 0; p < hw; p++ {
				dst[(s*hw+p)*c+ch] = src[(s*c+ch)*hw+p]
			}
		}
	}
}

// grow returns buf with length n, reallocated if its capacity is short.
func grow(buf []float64, n int) []float64 {
	if cap(buf) < n {
		return make([]float64, n)
	}
	return buf[:n]
}

// reluTo sets y = max(x, 0), keeping NaN and sending −0 to +0; y may be x.
// It is max, not a branch: about half the values are negative in no
// pattern, and a branch would mispredict on each (six times slower).
func reluTo(y, x []float64) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = max(v, 0)
	}
}

// reluBackward sets dx = dy where the pre-activation pre is positive, else
// 0; dx may be dy.
func reluBackward(dx, dy, pre []float64) {
	for i, p := range pre {
		if p > 0 {
			dx[i] = dy[i]
		} else {
			dx[i] = 0
		}
	}
}
