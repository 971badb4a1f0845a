package fixedpoint

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/implicitlab/implicit/api"

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
// spread over [0, rho], and its fixed point: a slow contraction for api.Picard.
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

var mapMethods = []api.Method{&api.Picard{}, &api.Picard{Damping: 0.7}, &api.Anderson{}, &api.Anderson{Memory: 3, Mixing: 0.5}, &api.Broyden{}}

func TestSolveLinearClosedForm(t *testing.T) {
	p, want := linearProblem(t, 20, 0.8, 1)
	for _, m := range mapMethods {
		t.Run(m.String(), func(t *testing.T) {
			res, err := Solve(context.Background(), p, api.Settings{Method: m, MaxIter: 500, RelTol: 1e-12, AbsTol: 1e-14})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != api.Converged {
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
			res, err := SolveBatch(context.Background(), p, len(xs), api.Settings{Method: m, RelTol: 1e-13, MaxIter: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range xs {
				if got := res.Z[i]; math.Abs(got-1/x) > 1e-11 {
					t.Errorf("x=%v: got %v, want %v", x, got, 1/x)
				}
				if res.Samples[i].Status != api.Converged {
					t.Errorf("x=%v: %v", x, res.Samples[i].Status)
				}
			}
		})
	}
}

func TestAndersonBeatsPicard(t *testing.T) {
	p, want := symmetricProblem(t, 50, 0.95, 2)
	s := api.Settings{RelTol: 1e-10, MaxIter: 2000}
	s.Method = &api.Picard{}
	pic, err := Solve(context.Background(), p, s)
	if err != nil {
		t.Fatal(err)
	}
	s.Method = &api.Anderson{}
	and, err := Solve(context.Background(), p, s)
	if err != nil {
		t.Fatal(err)
	}
	if pic.Status != api.Converged || and.Status != api.Converged {
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
	res, err := SolveBatch(context.Background(), p, len(rates), api.Settings{Method: &api.Picard{}, RelTol: 1e-9, MaxIter: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != api.Converged {
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
	for _, m := range []api.Method{&api.Picard{}, &api.Picard{Damping: 0.5}} {
		res, err := Solve(context.Background(), p, api.Settings{Method: m, MaxIter: 10000})
		if !errors.Is(err, api.ErrDiverged) {
			t.Fatalf("%v: err = %v, want api.ErrDiverged", m, err)
		}
		var se *api.SolveError
		if !errors.As(err, &se) || se.Sample != 0 {
			t.Errorf("%v: error %#v is not a *api.SolveError for sample 0", m, err)
		}
		if res == nil || res.Status != api.Diverged || res.Iterations == 0 || res.Iterations >= 100 {
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
		res, err := SolveBatch(context.Background(), p, 3, api.Settings{Method: m})
		if !errors.Is(err, api.ErrNonFinite) {
			t.Fatalf("%v: err = %v, want api.ErrNonFinite", m, err)
		}
		var se *api.SolveError
		if !errors.As(err, &se) || se.Sample != 1 {
			t.Errorf("%v: %v should name sample 1", m, err)
		}
		if res.Samples[1].Status != api.NonFinite || res.Samples[0].Status != api.Converged || res.Samples[2].Status != api.Converged {
			t.Errorf("%v: statuses %v %v %v", m, res.Samples[0].Status, res.Samples[1].Status, res.Samples[2].Status)
		}
		if math.Abs(res.Z[2]-4) > 1e-5 {
			t.Errorf("%v: the healthy sample got %v, want 4", m, res.Z[2])
		}
	}
}

func TestSolveIterationLimitAndExactBudget(t *testing.T) {
	// With a negative tolerance the solve runs exactly MaxIter iterations,
	// and plain api.Picard returns f applied MaxIter times to zero.
	p := Problem{Dim: 1, F: func(dst, z []float64) { dst[0] = 0.5*z[0] + 1 }}
	res, err := Solve(context.Background(), p, api.Settings{Method: &api.Picard{}, MaxIter: 3, RelTol: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != api.IterationLimit || res.Iterations != 3 {
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
	for _, s := range []api.Settings{{RelTol: -1}, {AbsTol: -1}, {AbsTol: 1e-10, RelTol: -1}} {
		for _, m := range mapMethods {
			s.Method, s.MaxIter = m, 4
			res, err := Solve(context.Background(), zero, s)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != api.IterationLimit || res.Iterations != 4 {
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
	res, err := Solve(ctx, p, api.Settings{Method: &api.Picard{}, MaxIter: 1000000})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if res.Status != api.Canceled || res.Iterations != 5 {
		t.Errorf("status %v after %d iterations", res.Status, res.Iterations)
	}
}

func TestRecorderSeesEveryIteration(t *testing.T) {
	p, _ := linearProblem(t, 5, 0.5, 3)
	var seen []api.Iterate
	res, err := Solve(context.Background(), p, api.Settings{Recorder: api.RecorderFunc(func(it api.Iterate) error {
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
	_, err = Solve(context.Background(), p, api.Settings{Recorder: api.RecorderFunc(func(api.Iterate) error { return stop })})
	if !errors.Is(err, stop) {
		t.Errorf("recorder error not returned: %v", err)
	}
}

func TestWarmStart(t *testing.T) {
	p, want := linearProblem(t, 10, 0.9, 4)
	res, err := Solve(context.Background(), p, api.Settings{Method: &api.Picard{}, Init: want})
	if err != nil {
		t.Fatal(err)
	}
	if res.Iterations != 1 || res.Status != api.Converged {
		t.Errorf("warm start at the fixed point took %d iterations (%v)", res.Iterations, res.Status)
	}
}

func TestSolverSteps(t *testing.T) {
	p, want := linearProblem(t, 10, 0.9, 5)
	bp := BatchProblem{Dim: p.Dim, F: func(dst, z []float64, _ []int) { p.F(dst, z) }}
	sv, err := NewSolver(bp, 1, api.Settings{RelTol: 1e-12})
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
	if res.Status != api.Converged || maxAbsDiff(res.Z, want) > 1e-9 {
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
		s api.Settings
	}{
		"zero dim":       {BatchProblem{Dim: 0, F: f}, 1, api.Settings{}},
		"nil F":          {BatchProblem{Dim: 1}, 1, api.Settings{}},
		"negative n":     {BatchProblem{Dim: 1, F: f}, -1, api.Settings{}},
		"init length":    {BatchProblem{Dim: 2, F: f}, 2, api.Settings{Init: []float64{1, 2, 3}}},
		"negative iters": {BatchProblem{Dim: 1, F: f}, 1, api.Settings{MaxIter: -1}},
		"NaN tol":        {BatchProblem{Dim: 1, F: f}, 1, api.Settings{RelTol: math.NaN()}},
		"bad damping":    {BatchProblem{Dim: 1, F: f}, 1, api.Settings{Method: &api.Picard{Damping: 1.5}}},
		"bad memory":     {BatchProblem{Dim: 1, F: f}, 1, api.Settings{Method: &api.Anderson{Memory: -2}}},
		"no splitting":   {BatchProblem{Dim: 1, F: f}, 1, api.Settings{Method: &api.PeacemanRachford{}}},
		"fb no split":    {BatchProblem{Dim: 1, F: f}, 1, api.Settings{Method: &api.ForwardBackward{}}},
	} {
		if _, err := SolveBatch(context.Background(), c.p, c.n, c.s); !errors.Is(err, api.ErrProblem) {
			t.Errorf("%s: err = %v, want api.ErrProblem", name, err)
		}
	}
	if _, err := api.MethodByName("newton"); !errors.Is(err, api.ErrProblem) {
		t.Errorf("unknown method: %v", err)
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
	res, err := Solve(context.Background(), p, api.Settings{Method: &api.Picard{}, MaxIter: 500})
	if err != nil || res.Status != api.Converged {
		t.Fatalf("status %v, err %v", res.Status, err)
	}
	if got := res.Z[0]; math.Abs(got-2e200) > 1e-5*2e200 {
		t.Errorf("z = %g, want 2e200", got)
	}
}

// Run after a Step that ctx stopped reports why, as Step did.
func TestRunAfterCanceledStep(t *testing.T) {
	p := BatchProblem{Dim: 1, F: func(dst, z []float64, _ []int) { dst[0] = 0.9*z[0] + 1 }}
	sv, err := NewSolver(p, 1, api.Settings{Method: &api.Picard{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sv.Step(ctx, 5); !errors.Is(err, context.Canceled) {
		t.Fatalf("Step: %v", err)
	}
	res, err := sv.Run(context.Background())
	if !errors.Is(err, context.Canceled) || res.Status != api.Canceled {
		t.Errorf("Run after a canceled Step: %v, %v", res.Status, err)
	}
}

func eye(n int) *mat.Dense {
	e := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		e.Set(i, i, 1)
	}
	return e
}

// The operator splittings have no divergence test by default (their
// residual can rise thousands-fold on the way to a guaranteed fixed point,
// see core/model's TestSplittingResidualRisesAndConverges); the others do.
func TestDefaultDivergenceRatio(t *testing.T) {
	for meth, off := range map[api.Method]bool{&api.PeacemanRachford{}: true, &api.ForwardBackward{}: true, &api.Picard{}: false, &api.Anderson{}: false, &api.Broyden{}: false} {
		if r := (api.Settings{Method: meth}).WithDefaults().DivergenceRatio; (r < 0) != off {
			t.Errorf("%s: default DivergenceRatio %v", meth, r)
		}
	}
}

// An infinite tolerance is met by every residual, so "converged" would mean
// nothing: it is refused.
func TestInfiniteToleranceIsRefused(t *testing.T) {
	p := Problem{Dim: 1, F: func(dst, z []float64) { dst[0] = 2*z[0] + 1 }}
	for _, s := range []api.Settings{{RelTol: math.Inf(1)}, {AbsTol: math.Inf(1)}, {RelTol: math.Inf(-1)}} {
		if _, err := Solve(context.Background(), p, s); !errors.Is(err, api.ErrProblem) {
			t.Errorf("AbsTol %v, RelTol %v: %v, want ErrProblem", s.AbsTol, s.RelTol, err)
		}
	}
}

// A Constant problem (an explicit network) is solved by one evaluation of
// its map, whatever the method, tolerance or budget; a non-finite value is
// still an error.
func TestConstantProblem(t *testing.T) {
	xs := []float64{1, 2, math.Inf(1)}
	evals := 0
	p := BatchProblem{Dim: 2, Constant: true, F: func(dst, _ []float64, rows []int) {
		for k, i := range rows {
			evals++
			dst[2*k], dst[2*k+1] = xs[i], -xs[i]
		}
	}}
	for _, s := range []api.Settings{{}, {Method: &api.Picard{}, MaxIter: 1, RelTol: -1}, {MaxIter: 8, RelTol: -1}, {Method: &api.PeacemanRachford{}}} {
		evals = 0
		res, err := SolveBatch(context.Background(), p, 3, s)
		if !errors.Is(err, api.ErrNonFinite) {
			t.Errorf("%+v: err %v, want ErrNonFinite for the infinite sample", s, err)
		}
		if evals != 3 {
			t.Errorf("%+v: %d evaluations, want one a sample", s, evals)
		}
		for i, want := range []api.Status{api.Converged, api.Converged, api.NonFinite} {
			if smp := res.Samples[i]; smp.Status != want || smp.Iterations != 1 || (i < 2 && smp.Residual != 0) {
				t.Errorf("%+v: sample %d: %v after %d iterations, residual %v", s, i, smp.Status, smp.Iterations, smp.Residual)
			}
		}
		if res.Z[2] != 2 || res.Z[3] != -2 {
			t.Errorf("%+v: z = %v", s, res.Z)
		}
	}
}
