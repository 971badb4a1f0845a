package model

import "math"

// Activation is the elementwise nonlinearity σ of a layer. Each is the
// proximal operator of a convex function, which the splitting methods rely
// on.
type Activation string

const (
	ReLU     Activation = "relu"
	Tanh     Activation = "tanh"
	Identity Activation = "identity"
)

// valid reports whether a is one of the activations.
func (a Activation) valid() bool { return a == ReLU || a == Tanh || a == Identity }

// apply sets v = σ(v) elementwise.
func (a Activation) apply(v []float64) {
	switch a {
	case ReLU:
		reluTo(v, v)
	case Tanh:
		for i, x := range v {
			v[i] = math.Tanh(x)
		}
	}
}

// derivative sets d = σ'(pre) elementwise; d and pre may be the same.
func (a Activation) derivative(d, pre []float64) {
	switch a {
	case Identity:
		for i := range d {
			d[i] = 1
		}
	case Tanh:
		for i, p := range pre {
			t := math.Tanh(p)
			d[i] = 1 - t*t
		}
	case ReLU:
		for i, p := range pre {
			if p > 0 {
				d[i] = 1
			} else {
				d[i] = 0
			}
		}
	}
}

// prox sets v = prox_{αf}(v) elementwise, where f is the convex function
// whose proximal operator is σ (prox_f = σ). The splitting methods take
// steps of size α, so they need the scaled operator: for ReLU (f the
// indicator of x ≥ 0) and identity (f = 0) it is σ for every α; for tanh it
// solves (1 − α) x + α atanh(x) = v.
func (a Activation) prox(v []float64, alpha float64) {
	if a != Tanh || alpha == 1 {
		a.apply(v)
		return
	}
	for i, x := range v {
		v[i] = tanhProx(x, alpha)
	}
}

// tanhProx solves (1 − α) x + α atanh(x) = v for x in (−1, 1). With
// x = tanh(s) that is h(s) = α s + (1 − α) tanh(s) − v = 0, where
// h'(s) = α + (1 − α) sech²(s) ≥ min(α, 1) > 0 and h is nearly linear, so
// Newton's method from s = v converges in a few steps.
func tanhProx(v, alpha float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return math.Tanh(v)
	}
	s := v
	for range 50 {
		t := math.Tanh(s)
		h := alpha*s + (1-alpha)*t - v
		dh := alpha + (1-alpha)*(1-t*t)
		step := h / dh
		s -= step
		if math.Abs(step) <= 1e-15*(1+math.Abs(s)) {
			break
		}
	}
	return math.Tanh(s)
}
