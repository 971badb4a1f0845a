package main

import "math"

// The classical baseline: Tikhonov-regularised deconvolution with a gradient
// penalty, which knows the blur exactly,
//
//	x̂ = argmin ‖K x − y‖² + λ ‖∇x‖²,
//
// K the blur, ∇ forward differences inside the image. Its normal equations
// (KᵀK + λ∇ᵀ∇) x = Kᵀy are solved by conjugate gradients.

// tikhonovLambdas are the λ tried on the training photographs; the one with
// the best mean PSNR there is used on the held-out photograph.
var tikhonovLambdas = []float64{0.01, 0.03, 0.1, 0.3, 1}

// tikhonov solves the normal equations from x = deg for at most maxIter
// conjugate-gradient steps, stopping when the residual has fallen by 1e-6.
func tikhonov(deg *grey, blurSigma, lambda float64, maxIter int) *grey {
	k := gaussian(blurSigma)
	apply := func(x *grey) *grey {
		out := blurAdjoint(blur(x, k), k)
		laplacian(out, x, lambda)
		return out
	}
	x := &grey{w: deg.w, h: deg.h, pix: append([]float64(nil), deg.pix...)}
	r := blurAdjoint(deg, k)
	ax := apply(x)
	for i := range r.pix {
		r.pix[i] -= ax.pix[i]
	}
	p := &grey{w: deg.w, h: deg.h, pix: append([]float64(nil), r.pix...)}
	rr := dot(r.pix, r.pix)
	stop := 1e-12 * rr
	for range maxIter {
		if rr <= stop {
			break
		}
		ap := apply(p)
		alpha := rr / dot(p.pix, ap.pix)
		for i := range x.pix {
			x.pix[i] += alpha * p.pix[i]
			r.pix[i] -= alpha * ap.pix[i]
		}
		next := dot(r.pix, r.pix)
		for i := range p.pix {
			p.pix[i] = r.pix[i] + next/rr*p.pix[i]
		}
		rr = next
	}
	return x
}

// laplacian adds λ∇ᵀ∇x to out: λ times the sum, over the neighbours a
// pixel has inside the image, of its difference from each.
func laplacian(out, x *grey, lambda float64) {
	for y := range x.h {
		for i := range x.w {
			v, s := x.at(i, y), 0.0
			if i > 0 {
				s += v - x.at(i-1, y)
			}
			if i+1 < x.w {
				s += v - x.at(i+1, y)
			}
			if y > 0 {
				s += v - x.at(i, y-1)
			}
			if y+1 < x.h {
				s += v - x.at(i, y+1)
			}
			out.pix[y*x.w+i] += lambda * s
		}
	}
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// bestLambda returns the λ of tikhonovLambdas with the best mean PSNR on the
// pairs.
func bestLambda(pairs []pair, blurSigma float64, maxIter int) float64 {
	best, bestPSNR := 0.0, math.Inf(-1)
	for _, l := range tikhonovLambdas {
		var mean float64
		for _, p := range pairs {
			mean += psnr(tikhonov(p.deg, blurSigma, l, maxIter), p.clean) / float64(len(pairs))
		}
		if mean > bestPSNR {
			best, bestPSNR = l, mean
		}
	}
	return best
}
