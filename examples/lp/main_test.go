package main

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// The Wyndor Glass problem (Hillier & Lieberman): maximise 3x₁ + 5x₂ s.t.
// x₁ ≤ 4, 2x₂ ≤ 12, 3x₁ + 2x₂ ≤ 18, x ≥ 0. Its optimum is x* = (2, 6),
// profit 36, with shadow prices y* = (0, 3/2, 1).
func TestSolveKnownLP(t *testing.T) {
	a := mat.NewDense(3, 2, []float64{1, 0, 0, 2, 3, 2})
	in, err := solve(a, []float64{-3, -5}, []float64{4, 12, 18})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want []float64
	}{{"x*", in.x, []float64{2, 6}}, {"y*", in.y, []float64{0, 1.5, 1}}, {"objective", []float64{in.obj}, []float64{-36}}} {
		for i := range c.want {
			if math.Abs(c.got[i]-c.want[i]) > 1e-9 {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
				break
			}
		}
	}
}

// The generator's optima must be the best vertices of the feasible
// polytope, found here by enumerating every choice of n active constraints
// among the m + n of A x ≤ b, x ≥ 0 — independently of the simplex method —
// and must satisfy complementary slackness with their dual prices.
func TestGeneratedOptimaAgainstVertexEnumeration(t *testing.T) {
	const m, n = 3, 4
	f, err := newFamily(m, n, 0.3, rand.New(rand.NewPCG(7, 1)))
	if err != nil {
		t.Fatal(err)
	}
	insts, skipped, err := f.generate(100, rand.New(rand.NewPCG(7, 2)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d instances skipped", skipped)
	for k, in := range insts {
		if best := bestVertex(f.a, in.c, in.b); math.Abs(best-in.obj) > 1e-8*(1+math.Abs(best)) {
			t.Fatalf("instance %d: simplex objective %v, best vertex %v", k, in.obj, best)
		}
		ax, aty := make([]float64, m), make([]float64, n)
		mulVec(f.a, in.x, ax)
		mulTVec(f.a, in.y, aty)
		for i := range m {
			if s := in.y[i] * (in.b[i] - ax[i]); math.Abs(s) > 1e-8 {
				t.Fatalf("instance %d: y_%d (b − A x)_%d = %v, want 0", k, i, i, s)
			}
		}
		for j := range n {
			if s := in.x[j] * (in.c[j] + aty[j]); math.Abs(s) > 1e-8 {
				t.Fatalf("instance %d: x_%d (c + Aᵀy)_%d = %v, want 0", k, j, j, s)
			}
		}
	}
}

// bestVertex returns the least cᵀx over the vertices of {A x ≤ b, x ≥ 0}.
func bestVertex(a *mat.Dense, c, b []float64) float64 {
	m, n := a.Dims()
	best := math.Inf(1)
	// Constraint k < m is row k of A x ≤ b; k ≥ m is x_{k−m} ≥ 0.
	row := func(k int) ([]float64, float64) {
		r := make([]float64, n)
		if k < m {
			mat.Row(r, k, a)
			return r, b[k]
		}
		r[k-m] = 1
		return r, 0
	}
	var choose func(start int, chosen []int)
	choose = func(start int, chosen []int) {
		if len(chosen) == n {
			sys, rhs := mat.NewDense(n, n, nil), mat.NewVecDense(n, nil)
			for i, k := range chosen {
				r, v := row(k)
				sys.SetRow(i, r)
				rhs.SetVec(i, v)
			}
			var x mat.VecDense
			if err := x.SolveVec(sys, rhs); err != nil {
				return // not a vertex
			}
			xs := x.RawVector().Data
			ax := make([]float64, m)
			mulVec(a, xs, ax)
			for i := range m {
				if ax[i] > b[i]+1e-9 {
					return
				}
			}
			for _, v := range xs {
				if v < -1e-9 {
					return
				}
			}
			best = min(best, dot(c, xs))
			return
		}
		for k := start; k < m+n; k++ {
			choose(k+1, append(chosen, k))
		}
	}
	choose(0, nil)
	return best
}

// The certificate must reject a point that is not optimal.
func TestCertificateRejectsSuboptimalPoint(t *testing.T) {
	a := mat.NewDense(3, 2, []float64{1, 0, 0, 2, 3, 2})
	in, err := solve(a, []float64{-3, -5}, []float64{4, 12, 18})
	if err != nil {
		t.Fatal(err)
	}
	dobj := dot(in.b, in.y)
	if err := in.certify(a, dobj); err != nil {
		t.Fatalf("the optimum fails its certificate: %v", err)
	}
	worse := in
	worse.x = []float64{0.9 * in.x[0], 0.9 * in.x[1]}
	worse.obj = dot(in.c, worse.x)
	if err := worse.certify(a, dobj); err == nil {
		t.Error("a feasible, suboptimal point passes the certificate")
	}
	infeasible := in
	infeasible.x = []float64{in.x[0] + 0.1, in.x[1]}
	if err := infeasible.certify(a, dobj); err == nil {
		t.Error("an infeasible point passes the certificate")
	}
}

// Repair must give feasible points, and PDHG must approach the optimum.
func TestRepairAndPDHG(t *testing.T) {
	f, err := newFamily(5, 8, 0.3, rand.New(rand.NewPCG(3, 1)))
	if err != nil {
		t.Fatal(err)
	}
	insts, _, err := f.generate(20, rand.New(rand.NewPCG(3, 2)))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	ax := make([]float64, 5)
	for _, in := range insts {
		x := make([]float64, 8)
		for j := range x {
			x[j] = 10 * rng.NormFloat64()
		}
		r := repair(f.a, in.b, x)
		mulVec(f.a, r, ax)
		for i := range ax {
			if ax[i] > in.b[i]*(1+1e-12) {
				t.Fatalf("repaired point violates resource %d: %v > %v", i, ax[i], in.b[i])
			}
		}
		for _, v := range r {
			if v < 0 {
				t.Fatalf("repaired point has a negative entry %v", v)
			}
		}
	}
	var xs []float64
	for _, in := range insts {
		xs = append(xs, pdhg(f.a, in.c, in.b, []int{4096})[0]...)
	}
	if q := assess(f.a, insts, xs); q.relErr > 0.05 || q.gap > 1e-3 {
		t.Errorf("PDHG after 4096 iterations: relative error %.4f, objective gap %.2e", q.relErr, q.gap)
	}
}

// A reduced run: more iterations must help, and the converged implicit
// model must beat predicting the mean solution.
func TestEndToEnd(t *testing.T) {
	cfg := config{
		m: 5, n: 8, train: 1000, test: 100, spread: 0.3, hidden: 16, maxT: 32, maxPDHG: 128,
		trainConfig: trainConfig{epochs: 20, batch: 32, lr: 3e-3, seed: 1},
		png:         filepath.Join(t.TempDir(), "scale.png"),
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	s, err := measure(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	first, last := s.implicitAt[0], s.implicitAt[len(s.implicitAt)-1]
	t.Logf("loss: t=1 %.4f, last %.4f", s.scale[0].Loss, s.scale[len(s.scale)-1].Loss)
	t.Logf("relative error: t=1 %.4f, t=%d %.4f, converged %.4f (%d it), mean %.4f, MLP %.4f",
		first.relErr, s.budgets[len(s.budgets)-1], last.relErr, s.converged.relErr, s.convIters, s.mean.relErr, s.mlp.relErr)
	if !(last.relErr < 0.8*first.relErr) {
		t.Errorf("relative error at t=%d %.4f, not clearly below t=1's %.4f", s.budgets[len(s.budgets)-1], last.relErr, first.relErr)
	}
	if lt, l1 := s.scale[len(s.scale)-1].Loss, s.scale[0].Loss; !(lt < 0.8*l1) {
		t.Errorf("ScaleAnalysis loss at t=%d %.4f, not clearly below t=1's %.4f", s.scale[len(s.scale)-1].Budget, lt, l1)
	}
	if !(s.converged.relErr < 0.7*s.mean.relErr) || !(s.converged.gap < s.mean.gap) {
		t.Errorf("converged: relative error %.4f, gap %.4f; the mean solution: %.4f, %.4f",
			s.converged.relErr, s.converged.gap, s.mean.relErr, s.mean.gap)
	}
	if err := report(io.Discard, cfg, s); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), config{
		m: 2, n: 3, train: 20, test: 5, hidden: 4, trainConfig: trainConfig{epochs: 1, batch: 8, lr: 3e-3, seed: 1},
		maxT: 4, maxPDHG: 16, png: cfg.png,
	}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(cfg.png); err != nil || st.Size() == 0 {
		t.Errorf("no plot written: %v", err)
	}
}

func TestValidateRejectsBadFlags(t *testing.T) {
	good := config{m: 5, n: 8, train: 100, test: 10, spread: 0.3, hidden: 8,
		trainConfig: trainConfig{epochs: 20, batch: 32, lr: 3e-3}, maxT: 64, maxPDHG: 4096}
	if err := good.validate(); err != nil {
		t.Fatalf("good config rejected: %v", err)
	}
	for name, change := range map[string]func(*config){
		"m":      func(c *config) { c.m = 0 },
		"train":  func(c *config) { c.train = 1 },
		"test":   func(c *config) { c.test = 0 },
		"spread": func(c *config) { c.spread = 1 },
		"nan":    func(c *config) { c.spread = math.NaN() },
		"hidden": func(c *config) { c.hidden = -1 },
		"epochs": func(c *config) { c.trainConfig.epochs = 0 },
		"lr":     func(c *config) { c.trainConfig.lr = math.Inf(1) },
		"maxt":   func(c *config) { c.maxT = 0 },
		"pdhg":   func(c *config) { c.maxPDHG = -5 },
		"png":    func(c *config) { c.png = filepath.Join(t.TempDir(), "missing", "x.png") },
	} {
		c := good
		change(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: bad config accepted", name)
		}
	}
}
