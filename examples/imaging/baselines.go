package main

import (
	"math"

	"github.com/implicitlab/implicit/core/model"
)

// The classical baselines, which know the blur A exactly (the pnp model's
// own operator, model.PnP.Blur and BlurAdjoint):
//
//	Tikhonov: x̂ = argmin ‖A x − y‖² + λ ‖∇x‖²  (normal equations by conjugate gradients)
//	TV:       x̂ = argmin ½‖A x − y‖² + λ TV(x)  (isotropic TV, by the primal-dual method of Condat and Vũ)
//
// ∇ is forward differences inside the image. λ of each is chosen from a
// grid by mean PSNR on the training observations.

// operator is A and Aᵀ for one image size.
type operator struct {
	w, h int
	op   *model.PnP
}

func newOperator(template *model.PnP, w, h int) (*operator, error) {
	r, err := model.Resize(template, h, w)
	if err != nil {
		return nil, err
	}
	return &operator{w: w, h: h, op: r.(*model.PnP)}, nil
}

func (o *operator) a(x []float64) []float64 {
	y, err := o.op.Blur(x)
	if err != nil {
		panic(err) // the sizes were checked by newOperator
	}
	return y
}

func (o *operator) at(y []float64) []float64 {
	x, err := o.op.BlurAdjoint(y)
	if err != nil {
		panic(err)
	}
	return x
}

// The λ grids.
var (
	tikhonovLambdas = []float64{0.003, 0.01, 0.03, 0.1, 0.3, 1}
	tvLambdas       = []float64{0.003, 0.006, 0.01, 0.02, 0.04}
)

// tikhonov solves (AᵀA + λ∇ᵀ∇) x = Aᵀy by conjugate gradients from x = y,
// at most maxIter steps, stopping when the residual has fallen by 1e-6.
func tikhonov(o *operator, y []float64, lambda float64, maxIter int) []float64 {
	apply := func(x []float64) []float64 {
		out := o.at(o.a(x))
		laplacian(out, x, o.w, o.h, lambda)
		return out
	}
	x := append([]float64(nil), y...)
	r := o.at(y)
	ax := apply(x)
	for i := range r {
		r[i] -= ax[i]
	}
	p := append([]float64(nil), r...)
	rr := dot(r, r)
	stop := 1e-12 * rr
	for range maxIter {
		if rr <= stop {
			break
		}
		ap := apply(p)
		alpha := rr / dot(p, ap)
		for i := range x {
			x[i] += alpha * p[i]
			r[i] -= alpha * ap[i]
		}
		next := dot(r, r)
		for i := range p {
			p[i] = r[i] + next/rr*p[i]
		}
		rr = next
	}
	return x
}

// laplacian adds λ∇ᵀ∇x to out.
func laplacian(out, x []float64, w, h int, lambda float64) {
	for y := range h {
		for i := range w {
			v, s := x[y*w+i], 0.0
			if i > 0 {
				s += v - x[y*w+i-1]
			}
			if i+1 < w {
				s += v - x[y*w+i+1]
			}
			if y > 0 {
				s += v - x[(y-1)*w+i]
			}
			if y+1 < h {
				s += v - x[(y+1)*w+i]
			}
			out[y*w+i] += lambda * s
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

// tv minimises ½‖A x − y‖² + λ Σ ‖(∇x)_p‖₂ by Condat–Vũ iterations,
//
//	x ← x − τ(Aᵀ(A x − y) + ∇ᵀq),  q ← proj_{‖·‖≤λ}(q + σ∇(2x_new − x)),
//
// with τ = 0.9, σ = 1/16 (1/τ − σ‖∇‖² ≥ ‖AᵀA‖/2 for ‖A‖ ≤ 1, ‖∇‖² ≤ 8), from
// x = y, for iters iterations.
func tv(o *operator, y []float64, lambda float64, iters int) []float64 {
	const tau, sigma = 0.9, 1.0 / 16
	w, h := o.w, o.h
	n := w * h
	x := append([]float64(nil), y...)
	qx, qy := make([]float64, n), make([]float64, n)
	bar := make([]float64, n)
	for range iters {
		g := o.a(x)
		for i := range g {
			g[i] -= y[i]
		}
		g = o.at(g)
		divT(g, qx, qy, w, h) // g += ∇ᵀq
		for i := range x {
			next := x[i] - tau*g[i]
			bar[i] = 2*next - x[i]
			x[i] = next
		}
		for r := range h {
			for c := range w {
				i := r*w + c
				var gx, gy float64
				if c+1 < w {
					gx = bar[i+1] - bar[i]
				}
				if r+1 < h {
					gy = bar[i+w] - bar[i]
				}
				ax, ay := qx[i]+sigma*gx, qy[i]+sigma*gy
				if m := math.Hypot(ax, ay); m > lambda {
					ax, ay = ax*lambda/m, ay*lambda/m
				}
				qx[i], qy[i] = ax, ay
			}
		}
	}
	return x
}

// divT adds ∇ᵀq to g: the adjoint of forward differences.
func divT(g, qx, qy []float64, w, h int) {
	for r := range h {
		for c := range w {
			i := r*w + c
			if c+1 < w {
				g[i] -= qx[i]
				g[i+1] += qx[i]
			}
			if r+1 < h {
				g[i] -= qy[i]
				g[i+w] += qy[i]
			}
		}
	}
}

// bestLambda returns the λ of lambdas with the best mean PSNR of solve on
// the pairs.
func bestLambda(pairs []pair, template *model.PnP, lambdas []float64, solve func(o *operator, y []float64, lambda float64) []float64) (float64, error) {
	best, bestPSNR := 0.0, math.Inf(-1)
	ops := make([]*operator, len(pairs))
	for i, p := range pairs {
		o, err := newOperator(template, p.clean.w, p.clean.h)
		if err != nil {
			return 0, err
		}
		ops[i] = o
	}
	for _, l := range lambdas {
		var mean float64
		for i, p := range pairs {
			mean += psnr(solve(ops[i], p.obs.pix, l), p.clean.pix) / float64(len(pairs))
		}
		if mean > bestPSNR {
			best, bestPSNR = l, mean
		}
	}
	return best, nil
}
