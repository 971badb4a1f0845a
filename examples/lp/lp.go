package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// family is a parametrised family of production-planning LPs with m
// resources and n products:
//
//	minimise cᵀx  s.t.  A x ≤ b,  x ≥ 0,
//
// where c = −(profit per unit) < 0, A (m×n, resource use per unit, entries
// in [0.2, 1]) is fixed, and c and b are the nominal ones perturbed by up
// to ±spread, independently and uniformly, per instance. Every instance is
// feasible (x = 0, as b > 0) and bounded (A > 0 entrywise caps each x_j at
// min_i b_i/A_ij).
type family struct {
	m, n   int
	a      *mat.Dense
	c0, b0 []float64
	spread float64
}

// instance is one LP of the family with its certified optimum.
type instance struct {
	c, b []float64 // parameters: costs (n) and capacities (m)
	x    []float64 // the optimal x* (n)
	y    []float64 // the optimal dual prices y* ≥ 0 of A x ≤ b (m)
	obj  float64   // cᵀx*
}

// newFamily draws the nominal instance from rng.
func newFamily(m, n int, spread float64, rng *rand.Rand) (*family, error) {
	if m < 1 || n < 1 {
		return nil, fmt.Errorf("lp family: %d resources, %d products: want at least 1 of each", m, n)
	}
	if !(spread >= 0 && spread < 1) {
		return nil, fmt.Errorf("lp family: spread %v: want 0 ≤ spread < 1", spread)
	}
	f := &family{m: m, n: n, a: mat.NewDense(m, n, nil), c0: make([]float64, n), b0: make([]float64, m), spread: spread}
	for i := range m {
		for j := range n {
			f.a.Set(i, j, 0.2+0.8*rng.Float64())
		}
	}
	for j := range f.c0 {
		f.c0[j] = -(1 + rng.Float64())
	}
	for i := range f.b0 {
		f.b0[i] = 5 + 5*rng.Float64()
	}
	return f, nil
}

// draw returns the parameters of a random instance.
func (f *family) draw(rng *rand.Rand) (c, b []float64) {
	perturb := func(v []float64) []float64 {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = x * (1 + f.spread*(2*rng.Float64()-1))
		}
		return out
	}
	return perturb(f.c0), perturb(f.b0)
}

// generate draws instances until it has count solved ones, or until it has
// made count failed attempts. Instances whose solve fails or whose
// optimality certificate does not hold are skipped and counted in skipped.
func (f *family) generate(count int, rng *rand.Rand) (insts []instance, skipped int, err error) {
	for len(insts) < count {
		c, b := f.draw(rng)
		inst, err := solve(f.a, c, b)
		if err != nil {
			skipped++
			if skipped >= count {
				return nil, skipped, fmt.Errorf("lp family: %d of %d instances failed, the last with %w", skipped, skipped+len(insts), err)
			}
			continue
		}
		insts = append(insts, inst)
	}
	return insts, skipped, nil
}

// certTol is the relative tolerance of the optimality certificate.
const certTol = 1e-7

// errCertificate reports a computed solution that is not certifiably optimal.
var errCertificate = errors.New("optimality certificate fails")

// solve finds the optimum of min cᵀx s.t. A x ≤ b, x ≥ 0 (b > 0) with the
// simplex method, in standard form with slacks, [A I][x; s] = b; then the
// dual, min bᵀy s.t. −Aᵀy ≤ c, y ≥ 0, the same way; and certifies the pair:
// both feasible and no duality gap, cᵀx* = −bᵀy*.
func solve(a *mat.Dense, c, b []float64) (instance, error) {
	m, n := a.Dims()
	for _, v := range b {
		if !(v > 0) {
			return instance{}, fmt.Errorf("capacity %v: want b > 0", v)
		}
	}
	obj, x, err := solvePrimal(a, c, b)
	if err != nil {
		return instance{}, fmt.Errorf("primal: %w", err)
	}
	// Dual, from scratch (its slack basis is infeasible where c < 0).
	var negAT mat.Dense
	negAT.Scale(-1, a.T())
	dobj, ys, err := lp.Simplex(append(append([]float64(nil), b...), make([]float64, n)...), withSlacks(&negAT), c, 1e-10, nil)
	if err != nil {
		return instance{}, fmt.Errorf("dual: %w", err)
	}
	inst := instance{c: c, b: b, x: x, y: ys[:m], obj: obj}
	if err := inst.certify(a, dobj); err != nil {
		return instance{}, err
	}
	return inst, nil
}

// solvePrimal solves min cᵀx s.t. A x ≤ b, x ≥ 0 for b > 0 by the simplex
// method on [A I][x; s] = b, starting from the slacks, a feasible basis.
func solvePrimal(a *mat.Dense, c, b []float64) (obj float64, x []float64, err error) {
	m, n := a.Dims()
	basis := make([]int, m)
	for i := range basis {
		basis[i] = n + i
	}
	obj, xs, err := lp.Simplex(append(append([]float64(nil), c...), make([]float64, m)...), withSlacks(a), b, 1e-10, basis)
	if err != nil {
		return 0, nil, err
	}
	return obj, xs[:n], nil
}

// withSlacks returns [M I].
func withSlacks(m mat.Matrix) *mat.Dense {
	r, c := m.Dims()
	out := mat.NewDense(r, c+r, nil)
	out.Slice(0, r, 0, c).(*mat.Dense).Copy(m)
	for i := range r {
		out.Set(i, c+i, 1)
	}
	return out
}

// certify checks primal feasibility (A x ≤ b, x ≥ 0), dual feasibility
// (c + Aᵀy ≥ 0, y ≥ 0) and a zero duality gap, cᵀx + bᵀy = 0, with dobj the
// dual solver's bᵀy; each relative to the scale of the data.
func (in instance) certify(a *mat.Dense, dobj float64) error {
	m, n := a.Dims()
	scale := 1 + math.Abs(in.obj)
	ax := mat.NewVecDense(m, nil)
	ax.MulVec(a, mat.NewVecDense(n, in.x))
	aty := mat.NewVecDense(n, nil)
	aty.MulVec(a.T(), mat.NewVecDense(m, in.y))
	for i := range m {
		if ax.AtVec(i) > in.b[i]+certTol*scale || in.y[i] < -certTol*scale {
			return fmt.Errorf("%w: resource %d", errCertificate, i)
		}
	}
	for j := range n {
		if in.x[j] < -certTol*scale || in.c[j]+aty.AtVec(j) < -certTol*scale {
			return fmt.Errorf("%w: product %d", errCertificate, j)
		}
	}
	if gap := math.Abs(in.obj + dobj); gap > certTol*scale || math.Abs(dobj-dot(in.b, in.y)) > certTol*scale {
		return fmt.Errorf("%w: duality gap %.3g", errCertificate, gap)
	}
	return nil
}

func dot(u, v []float64) float64 {
	var s float64
	for i := range u {
		s += u[i] * v[i]
	}
	return s
}

func norm(v []float64) float64 { return math.Sqrt(dot(v, v)) }
