// Command navierstokes is the scientific-computing case study of Liu, Ding,
// Osher, Yin, "Implicit Models: Expressive Power Scales with Test-Time
// Compute" (arXiv:2510.03638): an implicit model learns the solution
// operator of the 2D incompressible Navier–Stokes equations, and its error
// is measured against the number of test-time iterations.
//
//	go run ./examples/navierstokes [-grid 16] [-T 1] [-train 1000] [-epochs 60]
//
// The physics is the FNO benchmark's (Li et al. 2021): the vorticity form
// ∂w/∂t + u·∇w = νΔw + f, ∇·u = 0, on the unit torus, with ν = 1e-3, the
// forcing f(x, y) = 0.1(sin 2π(x+y) + cos 2π(x+y)) and initial vorticities
// from the Gaussian random field of covariance 7³(−Δ + 49I)^(−2.5). The data
// are generated here, seeded, by a small pseudo-spectral solver (ns.go:
// 2/3-rule dealiasing, Crank–Nicolson for the viscous term, Adams–Bashforth
// for advection and forcing; tested against exact solutions). The map
// learnt is w(0) ↦ w(T) on the grid.
//
// The model is the project's deq-dense, z* = relu(W z* + U x + b),
// y = C z* + c, with the monotone parametrisation of W (a unique fixed
// point), trained by implicit differentiation on the mean squared error of
// standardised fields. The report gives scale.Analysis's table (loss
// and Lipschitz number L_t against t = 1, 2, 4, …), the benchmark's
// relative L2 test error against t and at the fixed point, and the same
// error for an explicit one-hidden-layer network with as many parameters
// trained the same way, the classical linear (Stokes) solution without
// advection, and two trivial predictions.
//
// How it differs from the paper: the model is one dense layer on raw grid
// values (no convolution or Fourier layer, so no built-in translation
// structure), where the paper uses its own architecture on the benchmark's
// data; the benchmark solves on 256×256 with time step 1e-4 and learns on
// 64×64 over tens of time units, while here the grid is 16×16 (fields of
// 256 values, resolved wavenumbers |k| ≤ 5), the step 0.025 and the horizon
// one time unit, so that the whole study runs on one core in under a
// minute. The truncation is adequate for these fields: the 16×16 solution
// is within 1% of a 48×48 solve of the same initial field (tested). Over
// one time unit at ν = 1e-3 the flow is only mildly nonlinear, and the
// report shows it: the Stokes solution, which drops advection, is the
// baseline to beat.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/scale"
	"github.com/implicitlab/implicit/core/train"
	"github.com/implicitlab/implicit/internal/atomicfile"
	"github.com/implicitlab/implicit/internal/models"
	"github.com/implicitlab/implicit/internal/scalereport"
)

// config is what the flags set.
type config struct {
	Flow        Flow
	Train, Test int
	Seed        uint64
	Implicit    models.Recipe
	MaxBudget   int
	ScalePNG    string
	FieldPNG    string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("navierstokes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := config{Flow: Flow{NS: NSConfig{Forcing: true}, Alpha: 2.5, Tau: 7}, Implicit: implicitRecipe}
	fs.IntVar(&c.Flow.NS.N, "grid", 16, "grid points a side (even, ≥ 4)")
	fs.Float64Var(&c.Flow.NS.Viscosity, "nu", 1e-3, "viscosity ν")
	fs.Float64Var(&c.Flow.NS.Step, "dt", 0.025, "solver time step (at most)")
	fs.Float64Var(&c.Flow.T, "T", 1, "horizon: the map learnt is w(0) ↦ w(T)")
	fs.IntVar(&c.Train, "train", 1000, "training samples")
	fs.IntVar(&c.Test, "test", 200, "test samples")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the data, the initialisation and the batches")
	fs.IntVar(&c.Implicit.Hidden, "hidden", 128, "hidden units of the implicit model")
	fs.IntVar(&c.Implicit.Epochs, "epochs", 60, "training epochs (both models)")
	fs.IntVar(&c.Implicit.BatchSize, "batch", 32, "mini-batch size (both models)")
	fs.Float64Var(&c.Implicit.LearningRate, "lr", 3e-3, "Adam's learning rate (both models)")
	fs.IntVar(&c.MaxBudget, "max-budget", 64, "largest test-time iteration budget t (budgets 1, 2, 4, …)")
	fs.StringVar(&c.ScalePNG, "plot", filepath.Join(atomicfile.OutDir, "navierstokes_scale.png"), "test-time compute plot (PNG; the default directory is made)")
	fs.StringVar(&c.FieldPNG, "field-plot", filepath.Join(atomicfile.OutDir, "navierstokes_field.png"), "one test field, true and predicted (PNG; empty: none; the default directory is made)")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("%w: %w", errFlagSyntax, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.Implicit.Seed = c.Seed
	switch {
	case c.Train < 2 || c.Test < 1:
		return c, fmt.Errorf("-train %d, -test %d: want at least 2 training and 1 test sample", c.Train, c.Test)
	case c.Implicit.Hidden < 1 || c.Implicit.Epochs < 1 || c.Implicit.BatchSize < 1:
		return c, errors.New("-hidden, -epochs and -batch must be at least 1")
	case !(c.Implicit.LearningRate > 0) || math.IsInf(c.Implicit.LearningRate, 0):
		return c, fmt.Errorf("-lr %v: want a positive number", c.Implicit.LearningRate)
	case c.MaxBudget < 1 || c.MaxBudget > 1<<16:
		return c, fmt.Errorf("-max-budget %d: want 1 … 65536", c.MaxBudget)
	case c.Flow.NS.N > 256:
		return c, fmt.Errorf("-grid %d: want at most 256 (the models see n² values)", c.Flow.NS.N)
	case c.ScalePNG == "":
		return c, errors.New("-plot must name a file")
	case !(c.Flow.T > 0) || math.IsInf(c.Flow.T, 0):
		return c, fmt.Errorf("-T %v: want a positive time", c.Flow.T)
	}
	// Output directories and the solver's own settings are checked before
	// any work starts.
	for _, p := range []string{c.ScalePNG, c.FieldPNG} {
		if p == "" {
			continue
		}
		if err := atomicfile.CheckOutput(p); err != nil {
			return c, err
		}
	}
	if _, err := NewNS(c.Flow.NS); err != nil {
		return c, err
	}
	if c.Flow.T/c.Flow.NS.Step > maxSteps {
		return c, fmt.Errorf("-T %g with -dt %g: more than %g time steps", c.Flow.T, c.Flow.NS.Step, float64(maxSteps))
	}
	return c, nil
}

// errFlagSyntax marks the errors the flag package has already reported.
var errFlagSyntax = errors.New("bad flags")

func main() {
	c, err := parseFlags(os.Args[1:], os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errFlagSyntax):
		os.Exit(2) // the flag package has said why
	case err != nil:
		fmt.Fprintln(os.Stderr, "navierstokes:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := study(ctx, c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "navierstokes:", err)
		os.Exit(1)
	}
}

// outcome holds the study's headline numbers: relative L2 test errors.
type outcome struct {
	Budgets       []int
	ImplicitAt    []float64 // after Budgets[i] iterations
	ImplicitFixed float64   // at the fixed point
	MLP           float64
	Stokes        float64
	Initial       float64 // predict w(T) = w(0)
	Mean          float64 // predict the training mean of w(T)
	Scale         []scale.Point
	// OperatorLipschitz is the solver's own L on the same perturbations.
	OperatorLipschitz float64
}

// study runs the case study and writes its report to w.
func study(ctx context.Context, c config, w io.Writer) (*outcome, error) {
	start := time.Now()
	n := c.Flow.NS.N
	fmt.Fprintf(w, "2D Navier–Stokes, vorticity form, unit torus: %d×%d grid (resolved |k| ≤ %d), ν = %g, forcing 0.1(sin 2π(x+y) + cos 2π(x+y)).\n", n, n, (n-1)/3, c.Flow.NS.Viscosity)
	fmt.Fprintf(w, "Task: w(0) ↦ w(%g); initial vorticities from the Gaussian random field 7³(−Δ + 49I)^(−2.5).\n\n", c.Flow.T)
	e, err := newExperiment(c, w)
	if err != nil {
		return nil, err
	}
	implicit, mlp, err := e.trainModels(ctx, w)
	if err != nil {
		return nil, err
	}
	res := &outcome{}
	fixed, err := e.testTimeCompute(ctx, w, implicit, res)
	if err != nil {
		return nil, err
	}
	if err := e.compare(ctx, w, mlp, res); err != nil {
		return nil, err
	}
	if err := e.plot(w, res, fixed); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "Total time %.1f s.\n", time.Since(start).Seconds())
	return res, nil
}

// experiment is the data of a run, split and standardised.
type experiment struct {
	c           config
	p           int // grid points, the models' inputs and outputs
	train, test *Set
	in, out     Standardizer
}

// newExperiment generates the data and fits the standardisers to the
// training fields.
func newExperiment(c config, w io.Writer) (*experiment, error) {
	start := time.Now()
	e := &experiment{c: c, p: c.Flow.NS.N * c.Flow.NS.N}
	var err error
	if e.train, err = Generate(c.Flow, c.Train, c.Seed, streamTrain); err != nil {
		return nil, err
	}
	if e.test, err = Generate(c.Flow, c.Test, c.Seed, streamTest); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "Data: %d training and %d test fields solved pseudo-spectrally (time step ≤ %g) in %.1f s.\n",
		c.Train, c.Test, c.Flow.NS.Step, time.Since(start).Seconds())
	fmt.Fprintf(w, "  vorticity RMS of the training fields: %.3f at t = 0, %.3f at t = %g.\n\n", rms(e.train.X), rms(e.train.Y), c.Flow.T)
	if e.in, err = FitStandardizer(e.train.X, e.p); err != nil {
		return nil, err
	}
	if e.out, err = FitStandardizer(e.train.Y, e.p); err != nil {
		return nil, err
	}
	return e, nil
}

// trainModels trains the implicit model and the explicit one of the same
// parameter count, the same way.
func (e *experiment) trainModels(ctx context.Context, w io.Writer) (implicit, mlp *model.Model, err error) {
	data := train.Data{X: e.in.Apply(e.train.X), Target: e.out.Apply(e.train.Y), N: e.train.Count}
	trained := make([]*model.Model, 2)
	for i, r := range []models.Recipe{e.c.Implicit, e.c.Implicit.MatchingMLP(e.p, e.p)} {
		start := time.Now()
		var epoch, samples int
		var sum float64 // over the epoch's samples
		m, err := r.Train(ctx, data, e.p, e.p, func(s train.StepStats) {
			if s.Epoch != epoch {
				epoch, samples, sum = s.Epoch, 0, 0
			}
			sum += s.Loss * float64(s.Samples)
			samples += s.Samples
		})
		if err != nil {
			return nil, nil, fmt.Errorf("training the %s: %w", describe(r), err)
		}
		trained[i] = m
		fmt.Fprintf(w, "Trained the %s, %d parameters: %d epochs in %.1f s, final training loss %.4f.\n",
			describe(r), r.Params(e.p, e.p), r.Epochs, time.Since(start).Seconds(), sum/float64(samples))
	}
	fmt.Fprintf(w, "(Adam, learning rate %g, batch %d, mean squared error ½‖y − target‖² on standardised fields.)\n\n",
		e.c.Implicit.LearningRate, e.c.Implicit.BatchSize)
	return trained[0], trained[1], nil
}

// testTimeCompute reports the implicit model's loss, L_t and relative L2
// error against the iterations t, and at the fixed point, whose
// predictions it returns.
func (e *experiment) testTimeCompute(ctx context.Context, w io.Writer, m *model.Model, res *outcome) ([]float64, error) {
	x, target := e.in.Apply(e.test.X), e.out.Apply(e.test.Y)
	var err error
	res.Scale, err = scale.Analysis(ctx, m, x, target, train.MSE{}, scale.Settings{
		MaxBudget: e.c.MaxBudget, Seed: e.c.Seed,
		Outputs: func(t int, y []float64) error {
			res.Budgets = append(res.Budgets, t)
			res.ImplicitAt = append(res.ImplicitAt, RelativeL2(e.out.Invert(y), e.test.Y, e.p))
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "Test-time compute, implicit model: exactly t iterations (Peaceman–Rachford) from z⁰ = 0 on the %d test fields and 8 perturbed copies of each:\n", e.test.Count)
	if err := scalereport.WriteTable(w, res.Scale, false); err != nil {
		return nil, err
	}
	if res.OperatorLipschitz, err = e.operatorLipschitz(ctx, x, target); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "The map being learnt (the solver, on the same perturbed fields): Lipschitz number %.3f.\n", res.OperatorLipschitz)

	fmt.Fprintln(w, "\nRelative L2 test error ‖ŵ(T) − w(T)‖/‖w(T)‖, mean over test fields, against iterations:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "iterations t\trelative L2\t")
	for i, t := range res.Budgets {
		fmt.Fprintf(tw, "%d\t%.4f\t\n", t, res.ImplicitAt[i])
	}
	fixed, solve, err := Predict(ctx, m, e.in, e.out, e.test.X)
	if err != nil {
		return nil, err
	}
	res.ImplicitFixed = RelativeL2(fixed, e.test.Y, e.p)
	fmt.Fprintf(tw, "fixed point\t%.4f\t\n", res.ImplicitFixed)
	if err := tw.Flush(); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "(fixed point: relative residual ≤ 1e-6, %.1f iterations on average, %d at most)\n\n", meanIterations(solve), solve.Iterations)
	return fixed, nil
}

// operatorLipschitz measures the solver's Lipschitz number on the
// standardised test fields x, perturbed as scale.Analysis perturbs them
// for the model (same seed, same radius).
func (e *experiment) operatorLipschitz(ctx context.Context, x, target []float64) (float64, error) {
	ns, err := NewNS(e.c.Flow.NS)
	if err != nil {
		return 0, err
	}
	op := Operator{NS: ns, T: e.c.Flow.T, In: e.in, Out: e.out}
	pts, err := scale.Analysis(ctx, op, x, target, train.MSE{}, scale.Settings{Budgets: []int{1}, Seed: e.c.Seed})
	if err != nil {
		return 0, err
	}
	return pts[0].Lipschitz, nil
}

// compare reports every method's relative L2 test error.
func (e *experiment) compare(ctx context.Context, w io.Writer, mlp *model.Model, res *outcome) error {
	pred, _, err := Predict(ctx, mlp, e.in, e.out, e.test.X)
	if err != nil {
		return err
	}
	res.MLP = RelativeL2(pred, e.test.Y, e.p)
	res.Stokes = RelativeL2(e.test.Stokes, e.test.Y, e.p)
	res.Initial = RelativeL2(e.test.X, e.test.Y, e.p)
	res.Mean = RelativeL2(repeat(e.out.Mean, e.test.Count), e.test.Y, e.p)

	r, m := e.c.Implicit, e.c.Implicit.MatchingMLP(e.p, e.p)
	fmt.Fprintln(w, "Relative L2 test error, every method:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "method\tparameters\trelative L2\t")
	fmt.Fprintf(tw, "implicit %s, fixed point\t%d\t%.4f\t\n", describe(r), r.Params(e.p, e.p), res.ImplicitFixed)
	fmt.Fprintf(tw, "explicit %s\t%d\t%.4f\t\n", describe(m), m.Params(e.p, e.p), res.MLP)
	fmt.Fprintf(tw, "classical: Stokes solution (advection dropped, solved exactly)\t0\t%.4f\t\n", res.Stokes)
	fmt.Fprintf(tw, "trivial: w(T) = w(0)\t0\t%.4f\t\n", res.Initial)
	fmt.Fprintf(tw, "trivial: w(T) = training mean of w(T)\t0\t%.4f\t\n", res.Mean)
	return tw.Flush()
}

// plot writes the test-time compute plot and, if asked, the first test
// field with the implicit model's prediction at the fixed point.
func (e *experiment) plot(w io.Writer, res *outcome, fixed []float64) error {
	n, p, T := e.c.Flow.NS.N, e.p, e.c.Flow.T
	title := fmt.Sprintf("Navier-Stokes w(0) -> w(%g), %dx%d grid, implicit h=%d", T, n, n, e.c.Implicit.Hidden)
	if err := scalereport.WritePNG(e.c.ScalePNG, title, res.Scale); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nWrote %s (loss and L_t against t)", e.c.ScalePNG)
	if e.c.FieldPNG != "" {
		top, err := WriteFields(e.c.FieldPNG, n, []Panel{
			{"w(0), test field 1", e.test.X[:p]},
			{fmt.Sprintf("w(%g), solver", T), e.test.Y[:p]},
			{fmt.Sprintf("w(%g), implicit model", T), fixed[:p]},
			{"implicit − solver", diff(fixed[:p], e.test.Y[:p])},
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, " and %s (one test field; colours ±%.2f)", e.c.FieldPNG, top)
	}
	fmt.Fprintln(w, ".")
	return nil
}

func describe(r models.Recipe) string {
	if r.MLP {
		return fmt.Sprintf("MLP, one hidden relu layer of %d", r.Hidden)
	}
	return fmt.Sprintf("monotone relu deq-dense, h=%d", r.Hidden)
}

func meanIterations(r *api.Result) float64 {
	var sum float64
	for _, s := range r.Samples {
		sum += float64(s.Iterations)
	}
	return sum / float64(len(r.Samples))
}

func rms(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s / float64(len(x)))
}

func repeat(row []float64, k int) []float64 {
	out := make([]float64, 0, k*len(row))
	for range k {
		out = append(out, row...)
	}
	return out
}

func diff(a, b []float64) []float64 {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return d
}
