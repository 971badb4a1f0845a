package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// lpInstance is one linear program of the paper's family,
//
//	minimise cᵀy  s.t.  A y ∘ b  (row i an equality where eq[i], else ≤),  l ≤ y ≤ u,
//
// with m constraints and n variables, A dense (m×n, row by row) with its
// nonzeros at nz, and, once solved, its certified optimum y*.
type lpInstance struct {
	m, n    int
	a       []float64
	nz      []int // the indices of A's nonzeros in a
	b       []float64
	eq      []bool
	c, l, u []float64
	y       []float64 // y*, once solved
	obj     float64   // cᵀy*
	dualLP  bool      // the certificate's λ came from the dual LP
}

// lpFamily is the paper's distribution of instances (arXiv:2510.03638,
// §5): nnz nonzeros of A at distinct uniformly random places, each
// N(0, 1); a row an equality with probability pEq; c ~ 0.01·U(−1, 1),
// b ~ U(−1, 1); each variable's bounds two N(0, 10²) draws, sorted.
type lpFamily struct {
	m, n, nnz int
	pEq       float64
}

var paperFamily = lpFamily{m: 10, n: 50, nnz: 100, pEq: 0.3}

// draw returns a random instance.
func (f lpFamily) draw(rng *rand.Rand) *lpInstance {
	in := &lpInstance{m: f.m, n: f.n, a: make([]float64, f.m*f.n), b: make([]float64, f.m), eq: make([]bool, f.m),
		c: make([]float64, f.n), l: make([]float64, f.n), u: make([]float64, f.n)}
	for j := range f.n {
		in.c[j] = 0.01 * (2*rng.Float64() - 1)
	}
	for i := range f.m {
		in.b[i] = 2*rng.Float64() - 1
	}
	for j := range f.n {
		lo, hi := 10*rng.NormFloat64(), 10*rng.NormFloat64()
		in.l[j], in.u[j] = math.Min(lo, hi), math.Max(lo, hi)
	}
	in.nz = rng.Perm(f.m * f.n)[:f.nnz]
	for _, k := range in.nz {
		in.a[k] = rng.NormFloat64()
	}
	for i := range f.m {
		in.eq[i] = rng.Float64() < f.pEq
	}
	return in
}

// errInfeasible reports an instance with no feasible point.
var errInfeasible = errors.New("infeasible")

// certTol is the tolerance of the optimality certificate, relative to the
// scale of the data.
const certTol = 1e-7

// errCertificate reports a computed solution that is not certifiably
// optimal.
var errCertificate = errors.New("optimality certificate fails")

// standardForm writes the instance as min ĉᵀx s.t. M x = r, x ≥ 0 by
// shifting y = l + s (0 ≤ s ≤ u − l) and adding slacks: x = [s, w, t]
// with s + w = u − l, A_eq s = b_eq − A_eq l and A_ub s + t = b_ub − A_ub l.
func (in *lpInstance) standardForm() (chat []float64, mm *mat.Dense, r []float64) {
	m, n := in.m, in.n
	var ub []int
	for i := range m {
		if !in.eq[i] {
			ub = append(ub, i)
		}
	}
	cols := 2*n + len(ub)
	mm = mat.NewDense(m+n, cols, nil)
	r = make([]float64, m+n)
	chat = make([]float64, cols)
	copy(chat, in.c)
	slack := 0
	for i := range m {
		r[i] = in.b[i]
		for j := range n {
			mm.Set(i, j, in.a[i*n+j])
			r[i] -= in.a[i*n+j] * in.l[j]
		}
		if !in.eq[i] {
			mm.Set(i, 2*n+slack, 1)
			slack++
		}
	}
	for j := range n {
		mm.Set(m+j, j, 1)
		mm.Set(m+j, n+j, 1)
		r[m+j] = in.u[j] - in.l[j]
	}
	return chat, mm, r
}

// solve finds y* by the simplex method on the standard form (gonum's
// optimize/convex/lp), and a solution λ of its dual, max rᵀλ s.t.
// Mᵀλ ≤ ĉ: from complementary slackness (M_Bᵀλ = ĉ_B on the columns B
// where x > 0), or, when that λ is not dual feasible (a degenerate
// optimum), by the simplex method on the dual. The pair certifies
// optimality: both feasible and no duality gap. An infeasible instance
// returns errInfeasible.
func (in *lpInstance) solve() error {
	for i := range in.m {
		zero := true
		for j := range in.n {
			zero = zero && in.a[i*in.n+j] == 0
		}
		if zero && (in.b[i] < 0 || (in.eq[i] && in.b[i] != 0)) {
			return errInfeasible // 0 = b or 0 ≤ b fails
		}
	}
	chat, mm, r := in.standardForm()
	obj, x, err := lp.Simplex(chat, mm, r, 1e-10, nil)
	if errors.Is(err, lp.ErrInfeasible) {
		return errInfeasible
	}
	if err != nil {
		return fmt.Errorf("primal simplex: %w", err)
	}
	lambda, dobj := slacknessDual(chat, mm, x)
	if certify(chat, mm, r, x, lambda, obj, dobj) != nil {
		// A degenerate optimum: complementary slackness leaves λ open, so
		// solve the dual LP itself.
		if lambda, dobj, err = dualSimplex(chat, mm, r); err != nil {
			return err
		}
		in.dualLP = true
	}
	if err := certify(chat, mm, r, x, lambda, obj, dobj); err != nil {
		return err
	}
	in.y = make([]float64, in.n)
	for j := range in.n {
		in.y[j] = in.l[j] + x[j]
	}
	in.obj = dot(in.c, in.y)
	return nil
}

// slacknessDual returns the λ of least norm with M_Bᵀλ = ĉ_B on the
// columns B where x > 0, and rᵀλ... as ĉᵀx, the objective it would have.
func slacknessDual(chat []float64, mm *mat.Dense, x []float64) ([]float64, float64) {
	rows, _ := mm.Dims()
	var basis []int
	for j, v := range x {
		if v > 1e-9 {
			basis = append(basis, j)
		}
	}
	if len(basis) == 0 {
		return make([]float64, rows), 0
	}
	bt := mat.NewDense(len(basis), rows, nil)
	cb := mat.NewVecDense(len(basis), nil)
	for k, j := range basis {
		for i := range rows {
			bt.Set(k, i, mm.At(i, j))
		}
		cb.SetVec(k, chat[j])
	}
	var lam mat.VecDense
	if err := lam.SolveVec(bt, cb); err != nil {
		return make([]float64, rows), math.NaN()
	}
	return lam.RawVector().Data, dot(chat, x)
}

// dualSimplex solves max rᵀλ s.t. Mᵀλ ≤ ĉ by the simplex method, as
// min −rᵀλ⁺ + rᵀλ⁻ s.t. Mᵀλ⁺ − Mᵀλ⁻ + σ = ĉ, all ≥ 0; it returns λ and
// rᵀλ.
func dualSimplex(chat []float64, mm *mat.Dense, r []float64) ([]float64, float64, error) {
	rows, cols := mm.Dims()
	dm := mat.NewDense(cols, 2*rows+cols, nil)
	dc := make([]float64, 2*rows+cols)
	for i := range rows {
		dc[i], dc[rows+i] = -r[i], r[i]
		for j := range cols {
			v := mm.At(i, j)
			dm.Set(j, i, v)
			dm.Set(j, rows+i, -v)
		}
	}
	for j := range cols {
		dm.Set(j, 2*rows+j, 1)
	}
	dobj, dx, err := lp.Simplex(dc, dm, chat, 1e-10, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("dual simplex: %w", err)
	}
	lambda := make([]float64, rows)
	for i := range rows {
		lambda[i] = dx[i] - dx[rows+i]
	}
	return lambda, -dobj, nil
}

// certify checks the standard-form pair: x ≥ 0 and M x = r, Mᵀλ ≤ ĉ, and
// ĉᵀx = rᵀλ (the solvers' objectives pobj and dobj agreeing with them),
// each to certTol relative to the data's scale.
func certify(chat []float64, mm *mat.Dense, r, x, lambda []float64, pobj, dobj float64) error {
	rows, cols := mm.Dims()
	scale := 1 + math.Abs(pobj)
	for _, v := range r {
		scale = math.Max(scale, math.Abs(v))
	}
	tol := certTol * scale
	for j := range cols {
		if x[j] < -tol {
			return fmt.Errorf("%w: x[%d] = %g < 0", errCertificate, j, x[j])
		}
		var s float64
		for i := range rows {
			s += mm.At(i, j) * lambda[i]
		}
		if s > chat[j]+tol {
			return fmt.Errorf("%w: dual constraint %d violated by %g", errCertificate, j, s-chat[j])
		}
	}
	for i := range rows {
		var s float64
		for j := range cols {
			s += mm.At(i, j) * x[j]
		}
		if math.Abs(s-r[i]) > tol {
			return fmt.Errorf("%w: primal row %d off by %g", errCertificate, i, s-r[i])
		}
	}
	p, d := dot(chat, x), dot(r, lambda)
	if math.Abs(p-d) > tol || math.Abs(p-pobj) > tol || math.Abs(d-dobj) > tol {
		return fmt.Errorf("%w: duality gap %.3g", errCertificate, p-d)
	}
	return nil
}

// drawSolved draws instances until count are solved and certified; it
// returns how many were infeasible and how many failed otherwise (a
// simplex error or a failed certificate), which are skipped.
func (f lpFamily) drawSolved(count int, rng *rand.Rand) (insts []*lpInstance, infeasible, failed int, err error) {
	for len(insts) < count {
		in := f.draw(rng)
		switch err := in.solve(); {
		case err == nil:
			insts = append(insts, in)
		case errors.Is(err, errInfeasible):
			infeasible++
		default:
			failed++
		}
		if infeasible+failed > 20*count+100 {
			return nil, infeasible, failed, fmt.Errorf("lp family: %d of %d draws infeasible, %d failed", infeasible, infeasible+failed+len(insts), failed)
		}
	}
	return insts, infeasible, failed, nil
}

// row is the instance as gnn-lp reads it: [(b_i, ∘_i) for each
// constraint, (c_j, l_j, u_j) for each variable, A row by row].
func (in *lpInstance) row() []float64 {
	x := make([]float64, 0, 2*in.m+3*in.n+in.m*in.n)
	for i := range in.m {
		e := 0.0
		if in.eq[i] {
			e = 1
		}
		x = append(x, in.b[i], e)
	}
	for j := range in.n {
		x = append(x, in.c[j], in.l[j], in.u[j])
	}
	return append(x, in.a...)
}

func dot(u, v []float64) float64 {
	var s float64
	for i := range u {
		s += u[i] * v[i]
	}
	return s
}

func norm(v []float64) float64 { return math.Sqrt(dot(v, v)) }
