package main

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// quality is how good predicted solutions x̂ of held-out instances are,
// averaged over the instances.
type quality struct {
	relErr float64 // ‖x̂ − x*‖ / ‖x*‖
	gap    float64 // |cᵀx̂ − cᵀx*| / |cᵀx*|
	// violMean and violMax are the mean and largest constraint violation
	// ‖((A x̂ − b)₊, (−x̂)₊)‖, in the units of x and b.
	violMean, violMax float64
	// repaired is the objective gap (cᵀx̃ − cᵀx*)/|cᵀx*| of the feasible
	// point x̃ that repair makes of x̂.
	repaired float64
}

// assess measures the predictions xhat (one row of n values an instance).
func assess(a *mat.Dense, insts []instance, xhat []float64) quality {
	m, n := a.Dims()
	var q quality
	ax := make([]float64, m)
	viol := make([]float64, 0, m+n)
	for k, in := range insts {
		x := xhat[k*n : (k+1)*n]
		diff := make([]float64, n)
		for j := range diff {
			diff[j] = x[j] - in.x[j]
		}
		q.relErr += norm(diff) / norm(in.x)
		q.gap += math.Abs(dot(in.c, x)-in.obj) / math.Abs(in.obj)
		mulVec(a, x, ax)
		viol = viol[:0]
		for i := range ax {
			viol = append(viol, max(ax[i]-in.b[i], 0))
		}
		for _, v := range x {
			viol = append(viol, max(-v, 0))
		}
		v := norm(viol)
		q.violMean += v
		q.violMax = max(q.violMax, v)
		q.repaired += (dot(in.c, repair(a, in.b, x)) - in.obj) / math.Abs(in.obj)
	}
	k := float64(len(insts))
	q.relErr /= k
	q.gap /= k
	q.violMean /= k
	q.repaired /= k
	return q
}

// repair returns a feasible point near x: x clipped to x ≥ 0, then scaled
// down until A x ≤ b. This relies on the family's A ≥ 0 and b > 0, under
// which scaling towards 0 keeps x ≥ 0 and only loosens A x ≤ b.
func repair(a *mat.Dense, b, x []float64) []float64 {
	m, _ := a.Dims()
	out := make([]float64, len(x))
	for j, v := range x {
		out[j] = max(v, 0)
	}
	ax := make([]float64, m)
	mulVec(a, out, ax)
	s := 1.0
	for i, v := range ax {
		if v > b[i] {
			s = min(s, b[i]/v)
		}
	}
	for j := range out {
		out[j] *= s
	}
	return out
}

// mulVec sets dst = A x.
func mulVec(a *mat.Dense, x, dst []float64) {
	raw := a.RawMatrix()
	for i := range dst {
		dst[i] = dot(raw.Data[i*raw.Stride:i*raw.Stride+raw.Cols], x)
	}
}

// mulTVec sets dst = Aᵀ y.
func mulTVec(a *mat.Dense, y, dst []float64) {
	raw := a.RawMatrix()
	clear(dst)
	for i, v := range y {
		for j, aij := range raw.Data[i*raw.Stride : i*raw.Stride+raw.Cols] {
			dst[j] += v * aij
		}
	}
}
