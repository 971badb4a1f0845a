package model

import (
	"math"

	"github.com/implicitlab/implicit/core/internal/vec"
)

// minEigen is the smallest eigenvalue of a symmetric matrix, in steps: a
// Householder reduction to tridiagonal form, a column at a time, then
// bisection on the tridiagonal matrix's Sturm sequence. It is what LAPACK's
// dsytrd and dsterf compute, in the arithmetic of a dense layer's other
// preparations (Gauss-Jordan, the power method): steps of bounded work, so
// that a first solve is canceled between them, and no linear-algebra library
// in the WebAssembly guest (RATIONALE.md, "The guest's size").
type minEigen struct {
	n    int
	a    []float64 // the matrix, row-major; its trailing block is reduced in place
	d, e []float64 // the tridiagonal matrix: diagonal, and e[k] below d[k]
	v, p []float64 // a reflector and its products
	k    int       // columns reduced
}

// newMinEigen takes a (n×n, symmetric, row-major), which it overwrites.
func newMinEigen(a []float64, n int) *minEigen {
	return &minEigen{n: n, a: a, d: make([]float64, n), e: make([]float64, max(n-1, 0)),
		v: make([]float64, n), p: make([]float64, n)}
}

// step reduces columns for up to ops multiply-adds (one column at least) and
// reports whether the reduction is complete.
func (m *minEigen) step(ops int) bool {
	n, a := m.n, m.a
	for m.k < n {
		k := m.k
		m.d[k] = a[k*n+k]
		if k == n-1 {
			m.k++
			break
		}
		m.e[k] = m.reflect(k)
		m.k++
		cost := 3 * (n - k - 1) * (n - k - 1)
		if ops -= cost; ops <= 0 {
			break
		}
	}
	return m.k == n
}

// reflect applies to the trailing block A[k+1:, k+1:] the Householder
// reflection H = I − 2vvᵀ that zeroes column k below its subdiagonal, as
// A ← HAH = A − 2(vwᵀ + wvᵀ) with w = Av − (vᵀAv)v, and returns the
// subdiagonal element.
func (m *minEigen) reflect(k int) float64 {
	n, a := m.n, m.a
	r := n - k - 1 // the block's order
	v, p := m.v[:r], m.p[:r]
	for i := range v {
		v[i] = a[(k+1+i)*n+k]
	}
	norm := math.Sqrt(vec.Dot(v, v))
	if norm == 0 {
		return 0
	}
	alpha := -math.Copysign(norm, v[0]) // the sign that avoids cancellation in v[0] − alpha
	v[0] -= alpha
	vn := math.Sqrt(vec.Dot(v, v))
	for i := range v {
		v[i] /= vn
	}
	row := func(i int) []float64 { return a[(k+1+i)*n+k+1 : (k+2+i)*n] }
	for i := range p {
		p[i] = vec.Dot(row(i), v)
	}
	vAv := vec.Dot(v, p)
	vec.Axpy(-vAv, v, p) // p is w now
	for i := range r {
		ri := row(i)
		vec.Axpy(-2*v[i], p, ri)
		vec.Axpy(-2*p[i], v, ri)
	}
	return alpha
}

// value returns the smallest eigenvalue, once step has reported the
// reduction complete: bisection between Gershgorin's bounds to the last
// bits, each probe counting the eigenvalues below it from the signs of the
// pivots of T − xI (Sturm). It returns NaN if the matrix is not finite.
func (m *minEigen) value() float64 {
	d, e, n := m.d, m.e, m.n
	if n == 0 {
		return math.NaN()
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	var pivmin float64 // a pivot's smallest magnitude, as dstebz's
	for i, di := range d {
		r := 0.0
		if i > 0 {
			r += math.Abs(e[i-1])
			pivmin = max(pivmin, e[i-1]*e[i-1])
		}
		if i < n-1 {
			r += math.Abs(e[i])
		}
		lo, hi = min(lo, di-r), max(hi, di+r)
	}
	if math.IsNaN(lo) || math.IsInf(lo, 0) || math.IsNaN(hi) || math.IsInf(hi, 0) {
		return math.NaN()
	}
	pivmin = max(pivmin*0x1p-1022, 0x1p-1022)
	pad := 2*math.SmallestNonzeroFloat64 + 0x1p-52*max(math.Abs(lo), math.Abs(hi)) + pivmin
	lo, hi = lo-pad, hi+pad
	// The bracket [lo, hi] holds the smallest eigenvalue: none is below lo
	// and one at least below hi. Halve it until its ends are neighbours.
	for {
		mid := lo + (hi-lo)/2
		if mid <= lo || mid >= hi {
			return mid
		}
		if countBelow(d, e, mid, pivmin) > 0 {
			hi = mid
		} else {
			lo = mid
		}
	}
}

// countBelow returns how many eigenvalues of the tridiagonal matrix (d, e)
// are below x: the negative pivots of the LDLᵀ factorisation of T − xI, a
// pivot smaller than pivmin taken as −pivmin (dstebz's guard).
func countBelow(d, e []float64, x, pivmin float64) int {
	count, q := 0, 1.0
	for i, di := range d {
		t := di - x
		if i > 0 {
			t -= e[i-1] * e[i-1] / q
		}
		if math.Abs(t) < pivmin {
			t = -pivmin
		}
		if t < 0 {
			count++
		}
		q = t
	}
	return count
}
