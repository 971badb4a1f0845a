package core

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// linearProblem returns f(z) = A z + c with ‖A‖₂ = rho and its exact fixed
// point (I − A)⁻¹ c.
func linearProblem(t *testing.T, dim int, rho float64, seed uint64) (Problem, []float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	a := mat.NewDense(dim, dim, nil)
	for i := 0; i < dim; i++ {
		for j := 0; j < dim; j++ {
			a.Set(i, j, rng.NormFloat64())
		}
	}
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDNone) {
		t.Fatal("svd failed")
	}
	a.Scale(rho/svd.Values(nil)[0], a)
	return affineProblem(t, a, rng)
}

// symmetricProblem returns f(z) = A z + c with A symmetric, eigenvalues
// spread over [0, rho], and its fixed point: a slow contraction for Picard.
func symmetricProblem(t *testing.T, dim int, rho float64, seed uint64) (Problem, []float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	g := mat.NewDense(dim, dim, nil)
	for i := 0; i < dim; i++ {
		for j := 0; j < dim; j++ {
			g.Set(i, j, rng.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(g)
	var q mat.Dense
	qr.QTo(&q)
	lam := mat.NewDiagDense(dim, nil)
	for i := 0; i < dim; i++ {
		lam.SetDiag(i, rho*float64(i)/float64(dim-1))
	}
	var a mat.Dense
	a.Product(&q, lam, q.T())
	return affineProblem(t, &a, rng)
}

// affineProblem returns f(z) = A z + c for a random c, and its fixed point,
// the solution of (I − A) z = c.
func affineProblem(t *testing.T, a *mat.Dense, rng *rand.Rand) (Problem, []float64) {
	t.Helper()
	dim, _ := a.Dims()
	c := make([]float64, dim)
	for i := range c {
		c[i] = rng.NormFloat64()
	}
	ia := mat.NewDense(dim, dim, nil)
	ia.Sub(eye(dim), a)
	var zs mat.VecDense
	if err := zs.SolveVec(ia, mat.NewVecDense(dim, c)); err != nil {
		t.Fatal(err)
	}
	return Problem{Dim: dim, F: func(dst, z []float64) {
		d := mat.NewVecDense(dim, dst)
		d.MulVec(a, mat.NewVecDense(dim, z))
		for i := range dst {
			dst[i] += c[i]
		}
	}}, zs.RawVector().Data
}

func maxAbsDiff(a, b []float64) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

var mapMethods = []Method{&Picard{}, &Picard{Damping: 0.7}, &Anderson{}, &Anderson{Memory: 3, Mixing: 0.5}, &Broyden{}}

func TestSolveLinearClosedForm(t *testing.T) {
	p, want := linearProblem(t, 20, 0.8, 1)
	for _, m := range mapMethods {
		t.Run(m.String(), func(t *testing.T) {
			res, err := Solve(context.Background(), p, Settings{Method: m, MaxIter: 500, RelTol: 1e-12, AbsTol: 1e-14})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != Converged {
				t.Fatalf("status %v after %d iterations, residual %g", res.Status, res.Iterations, res.Residual)
			}
			if d := maxAbsDiff(res.Z, want); d > 1e-10 {
				t.Errorf("max |z − z*| = %g", d)
			}
			if len(res.Samples[0].Trace) != res.Iterations || res.FuncEvals != res.Iterations {
				t.Errorf("trace %d, evals %d, iterations %d", len(res.Samples[0].Trace), res.FuncEvals, res.Iterations)
			}
		})
	}
}

// The scalar map G(y, x) = y − η(xy − 1) has the fixed point 1/x; it
// contracts with factor |1 − ηx|.
func TestSolveBatchReciprocal(t *testing.T) {
	xs := []float64{0.5, 1, 2, 3, 4}
	const eta = 0.3
	p := BatchProblem{Dim: 1, F: func(dst, z []float64, rows []int) {
		for k, i := range rows {
			dst[k] = z[k] - eta*(xs[i]*z[k]-1)
		}
	}}
	for _, m := range mapMethods {
		t.Run(m.String(), func(t *testing.T) {
			res, err := SolveBatch(context.Background(), p, len(xs), Settings{Method: m, RelTol: 1e-13, MaxIter: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range xs {
				if got := res.Z[i]; math.Abs(got-1/x) > 1e-11 {
					t.Errorf("x=%v: got %v, want %v", x, got, 1/x)
				}
				if res.Samples[i].Status != Converged {
					t.Errorf("x=%v: %v", x, res.Samples[i].Status)
				}
			}
		})
	}
}

func TestAndersonBeatsPicard(t *testing.T) {
	p, want := symmetricProblem(t, 50, 0.95, 2)
	s := Settings{RelTol: 1e-10, MaxIter: 2000}
	s.Method = &Picard{}
	pic, err := Solve(context.Background(), p, s)
	if err != nil {
		t.Fatal(err)
	}
	s.Method = &Anderson{}
	and, err := Solve(context.Background(), p, s)
	if err != nil {
		t.Fatal(err)
	}
	if pic.Status != Converged || and.Status != Converged {
		t.Fatalf("picard %v, anderson %v", pic.Status, and.Status)
	}
	if maxAbsDiff(and.Z, want) > 1e-7 { // the residual bound divided by 1 − ρ
		t.Errorf("anderson off by %g", maxAbsDiff(and.Z, want))
	}
	if and.Iterations*3 > pic.Iterations {
		t.Errorf("anderson took %d iterations, picard %d: want at least 3x fewer", and.Iterations, pic.Iterations)
	}
	t.Logf("picard %d, anderson %d iterations", pic.Iterations, and.Iterations)
}

func TestBatchFreezesConvergedSamples(t *testing.T) {
	// Sample i contracts with factor rates[i]: the fast ones finish first
	// and must drop out of later evaluations.
	rates := []float64{0.1, 0.5, 0.9}
	var rowsSeen []int
	p := BatchProblem{Dim: 2, F: func(dst, z []float64, rows []int) {
		rowsSeen = append(rowsSeen, len(rows))
		for k, i := range rows {
			dst[2*k] = rates[i]*z[2*k] + 1
			dst[2*k+1] = rates[i] * z[2*k+1]
		}
	}}
	res, err := SolveBatch(context.Background(), p, len(rates), Settings{Method: &Picard{}, RelTol: 1e-9, MaxIter: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != Converged {
		t.Fatalf("status %v", res.Status)
	}
	it := []int{res.Samples[0].Iterations, res.Samples[1].Iterations, res.Samples[2].Iterations}
	if !(it[0] < it[1] && it[1] < it[2]) {
		t.Fatalf("per-sample iterations %v: want increasing with the rate", it)
	}
	total := 0
	for _, n := range rowsSeen {
		total += n
	}
	if total != res.FuncEvals || total != it[0]+it[1]+it[2] {
		t.Errorf("evaluated %d rows, FuncEvals %d, per-sample sum %d", total, res.FuncEvals, it[0]+it[1]+it[2])
	}
	for i, r := range rates {
		if got, want := res.Z[2*i], 1/(1-r); math.Abs(got-want) > 1e-7 {
			t.Errorf("sample %d: %v, want %v", i, got, want)
		}
	}
}

func TestSolveDiverges(t *testing.T) {
	p := Problem{Dim: 3, F: func(dst, z []float64) {
		for i := range dst {
			dst[i] = 2*z[i] + 1
		}
	}}
	for _, m := range []Method{&Picard{}, &Picard{Damping: 0.5}} {
		res, err := Solve(context.Background(), p, Settings{Method: m, MaxIter: 10000})
		if !errors.Is(err, ErrDiverged) {
			t.Fatalf("%v: err = %v, want ErrDiverged", m, err)
		}
		var se *SolveError
		if !errors.As(err, &se) || se.Sample != 0 {
			t.Errorf("%v: error %#v is not a *SolveError for sample 0", m, err)
		}
		if res == nil || res.Status != Diverged || res.Iterations == 0 || res.Iterations >= 100 {
			t.Errorf("%v: result %+v", m, res)
		}
	}
}

func TestSolveNonFinite(t *testing.T) {
	xs := []float64{1, math.NaN(), 2}
	p := BatchProblem{Dim: 1, F: func(dst, z []float64, rows []int) {
		for k, i := range rows {
			dst[k] = 0.5*z[k] + xs[i]
		}
	}}
	for _, m := range mapMethods {
		res, err := SolveBatch(context.Background(), p, 3, Settings{Method: m})
		if !errors.Is(err, ErrNonFinite) {
			t.Fatalf("%v: err = %v, want ErrNonFinite", m, err)
		}
		var se *SolveError
		if !errors.As(err, &se) || se.Sample != 1 {
			t.Errorf("%v: %v should name sample 1", m, err)
		}
		if res.Samples[1].Status != NonFinite || res.Samples[0].Status != Converged || res.Samples[2].Status != Converged {
			t.Errorf("%v: statuses %v %v %v", m, res.Samples[0].Status, res.Samples[1].Status, res.Samples[2].Status)
		}
		if math.Abs(res.Z[2]-4) > 1e-5 {
			t.Errorf("%v: the healthy sample got %v, want 4", m, res.Z[2])
		}
	}
}

func TestSolveIterationLimitAndExactBudget(t *testing.T) {
	// With a negative tolerance the solve runs exactly MaxIter iterations,
	// and plain Picard returns f applied MaxIter times to zero.
	p := Problem{Dim: 1, F: func(dst, z []float64) { dst[0] = 0.5*z[0] + 1 }}
	res, err := Solve(context.Background(), p, Settings{Method: &Picard{}, MaxIter: 3, RelTol: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != IterationLimit || res.Iterations != 3 {
		t.Fatalf("status %v after %d iterations", res.Status, res.Iterations)
	}
	if res.Z[0] != 1.75 { // 0 → 1 → 1.5 → 1.75
		t.Errorf("z = %v, want 1.75", res.Z[0])
	}
}

// A negative tolerance never converges, even at an exact fixed point whose
// map value is zero (where ‖f(z) − z‖ = 0 ≤ RelTol·‖f(z)‖ = −0 would hold):
// the test-time compute analysis relies on exactly MaxIter iterations.
func TestNegativeToleranceRunsTheWholeBudget(t *testing.T) {
	zero := Problem{Dim: 2, F: func(dst, _ []float64) { clear(dst) }}
	for _, s := range []Settings{{RelTol: -1}, {AbsTol: -1}, {AbsTol: 1e-10, RelTol: -1}} {
		for _, m := range mapMethods {
			s.Method, s.MaxIter = m, 4
			res, err := Solve(context.Background(), zero, s)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != IterationLimit || res.Iterations != 4 {
				t.Errorf("%v, AbsTol %v, RelTol %v: %v after %d iterations, want the iteration limit after 4", m, s.AbsTol, s.RelTol, res.Status, res.Iterations)
			}
		}
	}
}

func TestSolveCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	p := Problem{Dim: 1, F: func(dst, z []float64) {
		calls++
		if calls == 5 {
			cancel()
		}
		dst[0] = 0.999*z[0] + 1
	}}
	res, err := Solve(ctx, p, Settings{Method: &Picard{}, MaxIter: 1000000})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if res.Status != Canceled || res.Iterations != 5 {
		t.Errorf("status %v after %d iterations", res.Status, res.Iterations)
	}
}

func TestRecorderSeesEveryIteration(t *testing.T) {
	p, _ := linearProblem(t, 5, 0.5, 3)
	var seen []Iterate
	res, err := Solve(context.Background(), p, Settings{Recorder: RecorderFunc(func(it Iterate) error {
		seen = append(seen, it)
		return nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != res.Iterations {
		t.Fatalf("recorder saw %d iterations, solve ran %d", len(seen), res.Iterations)
	}
	for k, it := range seen {
		if it.Iteration != k+1 || it.Residual != res.Samples[0].Trace[k] {
			t.Errorf("iterate %d: %+v, trace %v", k, it, res.Samples[0].Trace[k])
		}
	}
	stop := errors.New("stop")
	_, err = Solve(context.Background(), p, Settings{Recorder: RecorderFunc(func(Iterate) error { return stop })})
	if !errors.Is(err, stop) {
		t.Errorf("recorder error not returned: %v", err)
	}
}

func TestWarmStart(t *testing.T) {
	p, want := linearProblem(t, 10, 0.9, 4)
	res, err := Solve(context.Background(), p, Settings{Method: &Picard{}, Init: want})
	if err != nil {
		t.Fatal(err)
	}
	if res.Iterations != 1 || res.Status != Converged {
		t.Errorf("warm start at the fixed point took %d iterations (%v)", res.Iterations, res.Status)
	}
}

func TestSolverSteps(t *testing.T) {
	p, want := linearProblem(t, 10, 0.9, 5)
	bp := BatchProblem{Dim: p.Dim, F: func(dst, z []float64, _ []int) { p.F(dst, z) }}
	sv, err := NewSolver(bp, 1, Settings{RelTol: 1e-12})
	if err != nil {
		t.Fatal(err)
	}
	chunks := 0
	for !sv.Done() {
		if err := sv.Step(context.Background(), 2); err != nil {
			t.Fatal(err)
		}
		chunks++
	}
	res := sv.Result()
	if res.Status != Converged || maxAbsDiff(res.Z, want) > 1e-9 {
		t.Fatalf("status %v, error %g", res.Status, maxAbsDiff(res.Z, want))
	}
	if chunks != (res.Iterations+1)/2 {
		t.Errorf("%d chunks of 2 for %d iterations", chunks, res.Iterations)
	}
}

func TestBadProblems(t *testing.T) {
	f := func(dst, z []float64, _ []int) {}
	for name, c := range map[string]struct {
		p BatchProblem
		n int
		s Settings
	}{
		"zero dim":       {BatchProblem{Dim: 0, F: f}, 1, Settings{}},
		"nil F":          {BatchProblem{Dim: 1}, 1, Settings{}},
		"negative n":     {BatchProblem{Dim: 1, F: f}, -1, Settings{}},
		"init length":    {BatchProblem{Dim: 2, F: f}, 2, Settings{Init: []float64{1, 2, 3}}},
		"negative iters": {BatchProblem{Dim: 1, F: f}, 1, Settings{MaxIter: -1}},
		"NaN tol":        {BatchProblem{Dim: 1, F: f}, 1, Settings{RelTol: math.NaN()}},
		"bad damping":    {BatchProblem{Dim: 1, F: f}, 1, Settings{Method: &Picard{Damping: 1.5}}},
		"bad memory":     {BatchProblem{Dim: 1, F: f}, 1, Settings{Method: &Anderson{Memory: -2}}},
		"no splitting":   {BatchProblem{Dim: 1, F: f}, 1, Settings{Method: &PeacemanRachford{}}},
		"fb no split":    {BatchProblem{Dim: 1, F: f}, 1, Settings{Method: &ForwardBackward{}}},
	} {
		if _, err := SolveBatch(context.Background(), c.p, c.n, c.s); !errors.Is(err, ErrProblem) {
			t.Errorf("%s: err = %v, want ErrProblem", name, err)
		}
	}
	if _, err := MethodByName("newton"); !errors.Is(err, ErrProblem) {
		t.Errorf("unknown method: %v", err)
	}
}

func TestProblemSampleCount(t *testing.T) {
	m, err := NewModel(randomDense(1, ReLU, Direct, 4, 2, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	p := m.Problem([]float64{1, 2, 3, 4}) // two samples
	if _, err := NewSolver(p, 3, Settings{}); !errors.Is(err, ErrProblem) {
		t.Errorf("3 samples of a 2-sample problem: %v", err)
	}
	if _, err := m.NewSolver([]float64{1, 2, 3}, Settings{}); !errors.Is(err, ErrProblem) {
		t.Errorf("ragged input: %v", err)
	}
}

// Values around 1e200 are finite, though their squares are not: such a
// solve must converge, not be reported as non-finite.
func TestLargeFiniteValues(t *testing.T) {
	p := Problem{Dim: 3, F: func(dst, z []float64) {
		for i := range dst {
			dst[i] = 0.5*z[i] + 1e200
		}
	}}
	res, err := Solve(context.Background(), p, Settings{Method: &Picard{}, MaxIter: 500})
	if err != nil || res.Status != Converged {
		t.Fatalf("status %v, err %v", res.Status, err)
	}
	if got := res.Z[0]; math.Abs(got-2e200) > 1e-5*2e200 {
		t.Errorf("z = %g, want 2e200", got)
	}
}

// Run after a Step that ctx stopped reports why, as Step did.
func TestRunAfterCanceledStep(t *testing.T) {
	p := BatchProblem{Dim: 1, F: func(dst, z []float64, _ []int) { dst[0] = 0.9*z[0] + 1 }}
	sv, err := NewSolver(p, 1, Settings{Method: &Picard{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sv.Step(ctx, 5); !errors.Is(err, context.Canceled) {
		t.Fatalf("Step: %v", err)
	}
	res, err := sv.Run(context.Background())
	if !errors.Is(err, context.Canceled) || res.Status != Canceled {
		t.Errorf("Run after a canceled Step: %v, %v", res.Status, err)
	}
}

// The splittings' residual need not fall on the way to the fixed point: on
// this monotone layer Peaceman-Rachford's rises over 6,000-fold from its
// smallest value and still converges, so their default is no divergence
// test (a ratio of 1,000, asked for, stops it).
func TestSplittingResidualRisesAndConverges(t *testing.T) {
	rng := rand.New(rand.NewPCG(11075, 9))
	d, err := NewDense(DenseConfig{Hidden: 4, In: 4, Out: 1, Activation: ReLU, Param: Monotone}, rng)
	if err != nil {
		t.Fatal(err)
	}
	for i := range d.A.Data {
		d.A.Data[i] *= 5
		d.B.Data[i] *= 5
	}
	clear(d.U.Data)
	for i := range 4 {
		d.U.Data[i*4+i] = 1
	}
	m, err := NewModel(d)
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{-rng.Float64(), -rng.Float64(), -rng.Float64(), 1e-6}
	rng.Shuffle(4, func(i, j int) { x[i], x[j] = x[j], x[i] })

	var rise, low float64 = 0, math.Inf(1)
	rec := RecorderFunc(func(it Iterate) error {
		rise, low = math.Max(rise, it.Residual/low), math.Min(low, it.Residual)
		return nil
	})
	out, err := m.Infer(context.Background(), x, Settings{Recorder: rec, MaxIter: 500})
	if err != nil || out.Result.Status != Converged {
		t.Fatalf("default settings: %v, %v", out.Result.Status, err)
	}
	if rise < 5000 {
		t.Fatalf("the residual rose only %.0f-fold: the layer no longer shows the case", rise)
	}
	if _, err := m.Infer(context.Background(), x, Settings{DivergenceRatio: 1000, MaxIter: 500}); !errors.Is(err, ErrDiverged) {
		t.Errorf("an explicit ratio of 1000: %v", err)
	}
	for meth, off := range map[Method]bool{&PeacemanRachford{}: true, &ForwardBackward{}: true, &Picard{}: false, &Anderson{}: false, &Broyden{}: false} {
		if r := (Settings{Method: meth}).withDefaults().DivergenceRatio; (r < 0) != off {
			t.Errorf("%s: default DivergenceRatio %v", meth, r)
		}
	}
}
