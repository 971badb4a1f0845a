package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// A small LP with a known optimum: min −y₁ − y₂ s.t. y₁ + y₂ ≤ 1.5,
// y₁ − y₂ = 0.5, 0 ≤ y ≤ 1, solved by y* = (1, 0.5).
func TestSolveKnownLP(t *testing.T) {
	in := &lpInstance{m: 2, n: 2, a: []float64{1, 1, 1, -1}, b: []float64{1.5, 0.5}, eq: []bool{false, true},
		c: []float64{-1, -1}, l: []float64{0, 0}, u: []float64{1, 1}}
	if err := in.solve(); err != nil {
		t.Fatal(err)
	}
	if math.Abs(in.y[0]-1) > 1e-9 || math.Abs(in.y[1]-0.5) > 1e-9 || math.Abs(in.obj+1.5) > 1e-9 {
		t.Errorf("y* = %v, objective %v; want (1, 0.5), −1.5", in.y, in.obj)
	}
	// y₁ − y₂ = 3 cannot hold within the bounds.
	in.b[1] = 3
	if err := in.solve(); !errors.Is(err, errInfeasible) {
		t.Errorf("an infeasible LP: %v", err)
	}
}

// The solutions of random small instances are the best vertices of their
// polytopes, found by enumerating every choice of active constraints
// (independently of the simplex method).
func TestSolveAgainstVertexEnumeration(t *testing.T) {
	f := lpFamily{m: 2, n: 3, nnz: 5, pEq: 0.4}
	insts, infeasible, failed, err := f.drawSolved(60, rand.New(rand.NewPCG(3, 1)))
	if err != nil || failed > 0 {
		t.Fatalf("%v, %d failed", err, failed)
	}
	t.Logf("%d infeasible draws skipped", infeasible)
	for k, in := range insts {
		if best := bestVertex(in); math.Abs(best-in.obj) > 1e-7*(1+math.Abs(best)) {
			t.Fatalf("instance %d: simplex objective %v, best vertex %v", k, in.obj, best)
		}
	}
}

// bestVertex enumerates each variable at l, at u or free and each
// inequality active or not, solves the choices with n active constraints
// and returns the best feasible objective.
func bestVertex(in *lpInstance) float64 {
	m, n := in.m, in.n
	best := math.Inf(1)
	states := 1
	for range n {
		states *= 3
	}
	for vs := 0; vs < states; vs++ {
		for rs := 0; rs < 1<<m; rs++ {
			var rows [][]float64
			var rhs []float64
			s := vs
			for j := range n {
				e := make([]float64, n)
				switch s % 3 {
				case 1:
					e[j] = 1
					rows, rhs = append(rows, e), append(rhs, in.l[j])
				case 2:
					e[j] = 1
					rows, rhs = append(rows, e), append(rhs, in.u[j])
				}
				s /= 3
			}
			for i := range m {
				if in.eq[i] || rs&(1<<i) != 0 {
					rows, rhs = append(rows, in.a[i*n:(i+1)*n]), append(rhs, in.b[i])
				}
			}
			if len(rows) != n {
				continue
			}
			a := mat.NewDense(n, n, nil)
			for i, r := range rows {
				a.SetRow(i, r)
			}
			var y mat.VecDense
			if err := y.SolveVec(a, mat.NewVecDense(n, rhs)); err != nil {
				continue
			}
			v := y.RawVector().Data
			ok := true
			for j := range n {
				ok = ok && v[j] >= in.l[j]-1e-9 && v[j] <= in.u[j]+1e-9
			}
			for i := range m {
				r := dot(in.a[i*n:(i+1)*n], v) - in.b[i]
				ok = ok && r <= 1e-9 && (!in.eq[i] || r >= -1e-9)
			}
			if ok {
				best = math.Min(best, dot(in.c, v))
			}
		}
	}
	return best
}

// The certificate rejects a feasible point that is not optimal and a dual
// that is not feasible.
func TestCertificateRejectsWrongPairs(t *testing.T) {
	in := &lpInstance{m: 2, n: 2, a: []float64{1, 1, 1, -1}, b: []float64{1.5, 0.5}, eq: []bool{false, true},
		c: []float64{-1, -1}, l: []float64{0, 0}, u: []float64{1, 1}}
	chat, mm, r := in.standardForm()
	x := []float64{0.5, 0, 0.5, 1, 1} // y = (0.5, 0): feasible, not optimal
	lambda, dobj := slacknessDual(chat, mm, x)
	if err := certify(chat, mm, r, x, lambda, dot(chat, x), dobj); !errors.Is(err, errCertificate) {
		t.Errorf("a suboptimal point: %v", err)
	}
	if err := in.solve(); err != nil {
		t.Fatal(err)
	}
}

// A reduced run: the paper's family with fewer instances and epochs, one
// width. The implicit model must beat predicting y = 0, the error curve
// and the Lipschitz numbers must be there, and the JSON must have the
// issue's fields.
func TestEndToEnd(t *testing.T) {
	cfg := config{widths: []int{4}, train: 150, test: 60, seed: 2, batch: 25, epochs1: 6, epochs2: 2, lr1: 1e-2, lr2: 1e-3,
		implicitEpochs: 1, explicitEpochs: 6, maxT: 8, evalT: 6, lipInstances: 10, family: paperFamily, jacobianPenalty: 0.1, jacobianPower: 2, fixedEpochs: 1}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	res, err := run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Widths []struct {
			Width              int
			Implicit, Explicit struct {
				Params    int     `json:"params"`
				TestError float64 `json:"test_error"`
			}
		}
		ErrorByT     map[string]map[string][]float64 `json:"error_by_t"`
		LipschitzByT map[string]map[string][]float64 `json:"lipschitz_by_t"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	w := doc.Widths[0]
	if w.Width != 4 || w.Implicit.Params != 722 || w.Explicit.Params != 580 {
		t.Errorf("width %d with %d and %d parameters, want 4 with 722 and 580", w.Width, w.Implicit.Params, w.Explicit.Params)
	}
	// ŷ = 0 has the error ‖y*‖/(‖y*‖ + 1), about 0.98 here.
	if !(w.Implicit.TestError < 0.9) || !(w.Explicit.TestError < 1) {
		t.Errorf("test errors %v (implicit), %v (explicit)", w.Implicit.TestError, w.Explicit.TestError)
	}
	if e, l := doc.ErrorByT["4"]["implicit"], doc.LipschitzByT["4"]["implicit"]; len(e) != 9 || len(l) != 9 || e[6] != w.Implicit.TestError {
		t.Errorf("error_by_t %v, lipschitz_by_t %v", e, l)
	}
	if fp := res.Widths[0].Implicit.FixedPoint; fp == nil || !(fp.TestError < 1) || fp.Iterations <= 0 || fp.Unconverged < 0 || fp.Unconverged > 60 {
		t.Errorf("implicit model at its fixed point: %+v", fp)
	}
	if d := res.Widths[0].ImplicitDiff; d == nil || d.FixedPoint == nil || d.TestError != d.FixedPoint.TestError {
		t.Errorf("implicit-differentiation model: %+v", d)
	}
	if res.Setup.JacobianPenalty != 0.1 {
		t.Errorf("setup records the Jacobian penalty %v", res.Setup.JacobianPenalty)
	}
	if res.Setup.InfeasibleSkipped == 0 {
		t.Error("no infeasible draws skipped: about half of the paper's are infeasible")
	}
}

func TestValidateRejectsBadFlags(t *testing.T) {
	good := config{widths: []int{4}, train: 10, test: 10, batch: 5, epochs1: 1, lr1: 1e-3, lr2: 1e-3, explicitEpochs: 1, maxT: 4, evalT: 2}
	if err := good.validate(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*config){
		"train":           func(c *config) { c.train = 0 },
		"lr":              func(c *config) { c.lr1 = 0 },
		"t":               func(c *config) { c.evalT = 5 },
		"batch":           func(c *config) { c.batch = 0 },
		"none":            func(c *config) { c.epochs1 = 0 },
		"γ<0":             func(c *config) { c.jacobianPenalty = -1 },
		"γ=NaN":           func(c *config) { c.jacobianPenalty = math.NaN() },
		"power":           func(c *config) { c.jacobianPower = 101 },
		"power without γ": func(c *config) { c.jacobianPower = 5 },
		"fixed":           func(c *config) { c.fixedEpochs = -1 },
	} {
		c := good
		edit(&c)
		if c.validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := parseWidths("4,x"); err == nil || !strings.Contains(err.Error(), "-widths") {
		t.Errorf("bad widths: %v", err)
	}
}
