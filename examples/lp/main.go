// Command lp is the operations-research case study of Liu, Ding, Osher, Yin,
// "Implicit Models: Expressive Power Scales with Test-Time Compute"
// (arXiv:2510.03638), at a small scale: an implicit model learns to solve a
// family of linear programs, and the quality of its predicted solution is
// measured against the number of fixed-point iterations it is given.
//
//	go run ./examples/lp [-epochs 40] [-hidden 32] [-png lp_scale.png]
//
// The family is production planning with m = 5 resources and n = 8
// products, minimise cᵀx s.t. A x ≤ b, x ≥ 0: the resource use A is fixed,
// the costs c (negative profits) and capacities b are a nominal instance's
// perturbed by up to ±30 % per instance, from a seed. Each instance is
// solved exactly with gonum's simplex method (optimize/convex/lp, in
// standard form with slacks), and so is its dual; an instance is kept only
// if the pair certifies optimality (both feasible, no duality gap), and the
// skipped ones are counted. A monotone deq-dense model, z* = relu(W z* +
// U x + b), x̂ = C z* + c, learns the map (c, b) → x* by MSE on
// standardised inputs and targets.
//
// On held-out instances the program reports, against the iterations t = 1,
// 2, 4, …, 64 and at the converged fixed point: the relative error to x*,
// the relative objective gap |cᵀx̂ − cᵀx*|/|cᵀx*|, the constraint violation
// ‖((A x̂ − b)₊, (−x̂)₊)‖ (mean and largest), and the objective gap after a
// cheap repair (clip x̂ to x ≥ 0, scale it into A x ≤ b); the test-time
// compute table of scale.Analysis (loss and Lipschitz number L_t
// against t), also drawn as a PNG; and, as baselines, an explicit MLP with
// the same parameter count trained the same way, the mean training solution,
// the classical first-order method PDHG at the same and at larger iteration
// budgets, and the simplex method itself.
//
// How it differs from the paper: the paper runs an implicit graph neural
// network on the LPs' variable–constraint graph, so one model serves LPs of
// any size; here a dense layer sees a fixed-size instance as a flat vector
// of its parameters, A is fixed across the family, and the LPs are tiny.
// The learned map x*(c, b) is piecewise linear with jumps where the optimal
// basis changes, which bounds how well any smooth regressor can do.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
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

// config is the case study's settings, the command's flags.
type config struct {
	m, n          int
	train, test   int
	spread        float64
	hidden        int
	trainConfig   trainConfig
	maxT, maxPDHG int
	png           string
}

func main() {
	var cfg config
	var seed uint64
	flag.IntVar(&cfg.m, "m", 5, "resources (constraints A x ≤ b)")
	flag.IntVar(&cfg.n, "n", 8, "products (variables x ≥ 0)")
	flag.IntVar(&cfg.train, "train", 5000, "training instances")
	flag.IntVar(&cfg.test, "test", 500, "held-out instances")
	flag.Float64Var(&cfg.spread, "spread", 0.3, "relative perturbation of c and b around the nominal instance, in [0, 1)")
	flag.IntVar(&cfg.hidden, "hidden", 32, "hidden units h of the implicit model")
	flag.IntVar(&cfg.trainConfig.epochs, "epochs", 40, "training epochs (both networks)")
	flag.IntVar(&cfg.trainConfig.batch, "batch", 32, "mini-batch size")
	flag.Float64Var(&cfg.trainConfig.lr, "lr", 3e-3, "Adam learning rate")
	flag.Uint64Var(&seed, "seed", 1, "seed of the LP family, the instances, the initialisation and the batches")
	flag.IntVar(&cfg.maxT, "maxt", 64, "largest iteration budget t of the analysis (1, 2, 4, … up to it)")
	flag.IntVar(&cfg.maxPDHG, "pdhg", 4096, "largest PDHG iteration budget in the comparison")
	flag.StringVar(&cfg.png, "png", "lp_scale.png", "where to write the test-time compute plot (empty: no plot)")
	flag.Parse()
	cfg.trainConfig.seed = seed
	if flag.NArg() > 0 {
		fail(2, fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	if err := cfg.validate(); err != nil {
		fail(2, err)
	}
	start := time.Now()
	if err := run(context.Background(), cfg, os.Stdout); err != nil {
		fail(1, err)
	}
	fmt.Printf("\nTotal time %.1f s.\n", time.Since(start).Seconds())
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "lp:", err)
	os.Exit(code)
}

func (c config) validate() error {
	tc := c.trainConfig
	switch {
	case c.m < 1 || c.m > 100 || c.n < 1 || c.n > 100:
		return fmt.Errorf("-m %d, -n %d: want each in [1, 100]", c.m, c.n)
	case c.train < 2 || c.train > 1e6 || c.test < 1 || c.test > 1e6:
		return fmt.Errorf("-train %d, -test %d: want 2 … 10⁶ and 1 … 10⁶", c.train, c.test)
	case !(c.spread >= 0 && c.spread < 1):
		return fmt.Errorf("-spread %v: want 0 ≤ spread < 1", c.spread)
	case c.hidden < 1 || c.hidden > 4096:
		return fmt.Errorf("-hidden %d: want 1 … 4096", c.hidden)
	case tc.epochs < 1 || tc.batch < 1:
		return fmt.Errorf("-epochs %d, -batch %d: want at least 1", tc.epochs, tc.batch)
	case !(tc.lr > 0) || math.IsInf(tc.lr, 0):
		return fmt.Errorf("-lr %v: want a positive number", tc.lr)
	case c.maxT < 1 || c.maxT > 1<<16:
		return fmt.Errorf("-maxt %d: want 1 … 65536", c.maxT)
	case c.maxPDHG < 1 || c.maxPDHG > 1<<24:
		return fmt.Errorf("-pdhg %d: want 1 … 2²⁴", c.maxPDHG)
	}
	if c.png != "" {
		// Fail now rather than after the whole run.
		if err := atomicfile.CheckDir(c.png); err != nil {
			return fmt.Errorf("-png %w", err)
		}
	}
	return nil
}

// study is what run measures, for the report and the tests.
type study struct {
	fam          *family
	trainSet     []instance
	testSet      []instance
	skipped      int
	solveTime    time.Duration // simplex, primal and dual, per instance
	simplexTime  time.Duration // simplex, primal only, per held-out instance
	budgets      []int
	scale        []scale.Point
	implicitAt   []quality // at each budget
	converged    quality
	convIters    int // the most any instance took
	convStatus   api.Status
	pdhgAt       []quality // at each budget
	pdhgBudgets  []int     // the comparison's larger PDHG budgets
	pdhgLarge    []quality
	pdhgTimes    [2]time.Duration // per instance, to the largest of budgets and of pdhgBudgets
	implicitTime time.Duration    // per instance, at the largest t
	mlp, mean    quality
	mlpWidth     int
	trainTimes   [2]time.Duration // implicit, explicit
	inferTimes   [2]time.Duration // per instance: implicit converged, explicit
	implicitSize int
	mlpSize      int
}

// run carries out the case study and prints its report to w.
func run(ctx context.Context, cfg config, w io.Writer) error {
	s, err := measure(ctx, cfg)
	if err != nil {
		return err
	}
	if err := report(w, cfg, s); err != nil {
		return err
	}
	if cfg.png != "" {
		title := fmt.Sprintf("LP %d×%d: implicit model, held-out MSE of standardised x*", cfg.m, cfg.n)
		if err := scalereport.WritePNG(cfg.png, title, s.scale); err != nil {
			return fmt.Errorf("writing the plot: %w", err)
		}
		fmt.Fprintf(w, "\nWrote the test-time compute plot to %s.\n", cfg.png)
	}
	return nil
}

// measure generates the data, trains both networks and evaluates
// everything.
func measure(ctx context.Context, cfg config) (*study, error) {
	seed := cfg.trainConfig.seed
	fam, err := newFamily(cfg.m, cfg.n, cfg.spread, rand.New(rand.NewPCG(seed, 1)))
	if err != nil {
		return nil, err
	}
	s := &study{fam: fam}
	start := time.Now()
	var skipped int
	if s.trainSet, s.skipped, err = fam.generate(cfg.train, rand.New(rand.NewPCG(seed, 2))); err != nil {
		return nil, err
	}
	if s.testSet, skipped, err = fam.generate(cfg.test, rand.New(rand.NewPCG(seed, 3))); err != nil {
		return nil, err
	}
	s.skipped += skipped
	s.solveTime = time.Since(start) / time.Duration(cfg.train+cfg.test+s.skipped)

	// Standardise inputs and targets with the training set's statistics.
	p, q := cfg.m+cfg.n, cfg.n
	xs, ys := fitScaler(features(s.trainSet), p), fitScaler(solutions(s.trainSet), q)
	data := train.Data{X: xs.apply(features(s.trainSet)), Target: ys.apply(solutions(s.trainSet)), N: cfg.train}
	testX, testY := xs.apply(features(s.testSet)), ys.apply(solutions(s.testSet))

	implicitRecipe := cfg.trainConfig.recipe(cfg.hidden)
	mlpRecipe := implicitRecipe.MatchingMLP(p, q)
	s.mlpWidth = mlpRecipe.Hidden
	s.implicitSize, s.mlpSize = implicitRecipe.Params(p, q), mlpRecipe.Params(p, q)
	var trained [2]*model.Model
	for i, r := range []models.Recipe{implicitRecipe, mlpRecipe} {
		start := time.Now()
		if trained[i], err = r.Train(ctx, data, p, q, nil); err != nil {
			return nil, fmt.Errorf("training (explicit %v): %w", r.MLP, err)
		}
		s.trainTimes[i] = time.Since(start)
	}
	implicit, mlp := trained[0], trained[1]

	// The analysis hands over each budget's predictions: exactly t
	// iterations from z⁰ = 0.
	collect := func(t int, y []float64) error {
		s.budgets = append(s.budgets, t)
		s.implicitAt = append(s.implicitAt, assess(fam.a, s.testSet, ys.invert(y)))
		return nil
	}
	if s.scale, err = scale.Analysis(ctx, implicit, testX, testY, train.MSE{}, scale.Settings{MaxBudget: cfg.maxT, Seed: seed, Outputs: collect}); err != nil {
		return nil, fmt.Errorf("scale analysis: %w", err)
	}
	predict := func(m *model.Model, st api.Settings) (quality, *api.Output, time.Duration, error) {
		start := time.Now()
		out, err := m.Infer(ctx, testX, st)
		if err != nil {
			return quality{}, nil, 0, err
		}
		took := time.Since(start) / time.Duration(cfg.test)
		return assess(fam.a, s.testSet, ys.invert(out.Y)), out, took, nil
	}
	top := s.budgets[len(s.budgets)-1]
	if _, _, s.implicitTime, err = predict(implicit, api.Settings{MaxIter: top, RelTol: -1, DivergenceRatio: -1}); err != nil {
		return nil, fmt.Errorf("budget %d: %w", top, err)
	}
	conv, out, took, err := predict(implicit, api.Settings{MaxIter: 1000})
	if err != nil {
		return nil, fmt.Errorf("converged solve: %w", err)
	}
	s.converged, s.convIters, s.convStatus, s.inferTimes[0] = conv, out.Result.Iterations, out.Result.Status, took
	if s.mlp, _, s.inferTimes[1], err = predict(mlp, api.Settings{}); err != nil {
		return nil, fmt.Errorf("explicit model: %w", err)
	}

	guess := make([]float64, 0, cfg.test*q)
	for range cfg.test {
		guess = append(guess, ys.mean...) // the mean training solution
	}
	s.mean = assess(fam.a, s.testSet, guess)

	for t := 4 * cfg.maxT; t <= cfg.maxPDHG; t *= 4 {
		s.pdhgBudgets = append(s.pdhgBudgets, t)
	}
	start = time.Now()
	for _, in := range s.testSet {
		if _, _, err := solvePrimal(fam.a, in.c, in.b); err != nil {
			return nil, err
		}
	}
	s.simplexTime = time.Since(start) / time.Duration(cfg.test)
	s.pdhgAt, s.pdhgTimes[0] = runPDHG(fam, s.testSet, s.budgets)
	s.pdhgLarge, s.pdhgTimes[1] = runPDHG(fam, s.testSet, s.pdhgBudgets)
	return s, nil
}

// runPDHG assesses PDHG's iterates at each budget on the instances, and
// returns the time an instance took to reach the largest budget.
func runPDHG(f *family, insts []instance, budgets []int) ([]quality, time.Duration) {
	start := time.Now()
	iterates := make([][]float64, len(budgets))
	for _, in := range insts {
		for k, x := range pdhg(f.a, in.c, in.b, budgets) {
			iterates[k] = append(iterates[k], x...)
		}
	}
	took := time.Since(start) / time.Duration(len(insts))
	qs := make([]quality, len(budgets))
	for k := range budgets {
		qs[k] = assess(f.a, insts, iterates[k])
	}
	return qs, took
}

// report prints the study.
func report(w io.Writer, cfg config, s *study) error {
	tc := cfg.trainConfig
	var xNorm, bNorm, active float64
	for _, in := range s.testSet {
		xNorm += norm(in.x) / float64(len(s.testSet))
		bNorm += norm(in.b) / float64(len(s.testSet))
		for _, v := range in.x {
			if v > 1e-9 {
				active += 1 / float64(len(s.testSet))
			}
		}
	}
	fmt.Fprintf(w, "Production-planning LPs: minimise cᵀx s.t. A x ≤ b, x ≥ 0 with %d resources and %d products;\n", cfg.m, cfg.n)
	fmt.Fprintf(w, "A fixed, c and b perturbed by up to ±%g %% around a nominal instance (seed %d).\n", 100*cfg.spread, tc.seed)
	fmt.Fprintf(w, "%d training and %d held-out instances, each solved by simplex and certified by its dual (%.2f ms an instance);\n",
		cfg.train, cfg.test, float64(s.solveTime.Microseconds())/1000)
	fmt.Fprintf(w, "%d skipped (simplex failure or failed certificate). Held-out: mean ‖x*‖ = %.2f, mean ‖b‖ = %.2f, %.2f of %d products made on average.\n\n",
		s.skipped, xNorm, bNorm, active, cfg.n)
	fmt.Fprintf(w, "Implicit: monotone relu deq-dense, h = %d, %d parameters, trained in %.1f s.\n", cfg.hidden, s.implicitSize, s.trainTimes[0].Seconds())
	fmt.Fprintf(w, "Explicit: one-hidden-layer relu MLP, width %d, %d parameters, trained in %.1f s.\n", s.mlpWidth, s.mlpSize, s.trainTimes[1].Seconds())
	fmt.Fprintf(w, "Both: %d epochs, batch %d, Adam lr %g, MSE on standardised (c, b) → x*.\n\n", tc.epochs, tc.batch, tc.lr)

	fmt.Fprintln(w, "Test-time compute (scale.Analysis on the held-out set; loss = MSE of standardised x*, Peaceman-Rachford iterations):")
	if err := scalereport.WriteTable(w, s.scale, false); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nSolution quality against iterations t (held-out means; viol = ‖((Ax̂−b)₊, (−x̂)₊)‖; repaired = gap after clip-and-scale):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "t\timplicit rel err\tobj gap\tviol mean\tviol max\trepaired gap\t\tPDHG rel err\tobj gap\tviol mean\trepaired gap\t")
	for k, t := range s.budgets {
		fmt.Fprintf(tw, "%d\t%s\t\t%s\n", t, qualityCells(s.implicitAt[k], true), qualityCells(s.pdhgAt[k], false))
	}
	fmt.Fprintf(tw, "≤ %d (%s)\t%s\t\t\n", s.convIters, s.convStatus, qualityCells(s.converged, true))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nComparison on the held-out set:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "method\tparameters\trel err\tobj gap\tviol mean\tviol max\trepaired gap\tms an instance\t")
	row := func(name string, params string, q quality, per time.Duration) {
		ms := "-"
		if per > 0 {
			ms = fmt.Sprintf("%.4f", float64(per.Nanoseconds())/1e6)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s%s\t\n", name, params, qualityCells(q, true), ms)
	}
	last := len(s.budgets) - 1
	row("mean training solution", "-", s.mean, 0)
	row(fmt.Sprintf("explicit MLP, width %d", s.mlpWidth), fmt.Sprint(s.mlpSize), s.mlp, s.inferTimes[1])
	row(fmt.Sprintf("implicit, t = %d", s.budgets[last]), fmt.Sprint(s.implicitSize), s.implicitAt[last], s.implicitTime)
	row(fmt.Sprintf("implicit, converged (≤ %d it)", s.convIters), fmt.Sprint(s.implicitSize), s.converged, s.inferTimes[0])
	row(fmt.Sprintf("PDHG, %d iterations", s.budgets[last]), "-", s.pdhgAt[last], s.pdhgTimes[0])
	for k, t := range s.pdhgBudgets {
		var per time.Duration
		if k == len(s.pdhgBudgets)-1 {
			per = s.pdhgTimes[1]
		}
		row(fmt.Sprintf("PDHG, %d iterations", t), "-", s.pdhgLarge[k], per)
	}
	row("simplex (exact)", "-", quality{}, s.simplexTime)
	return tw.Flush()
}

// qualityCells formats q as tab-terminated table cells; the largest
// violation only if withMax.
func qualityCells(q quality, withMax bool) string {
	if withMax {
		return fmt.Sprintf("%.4f\t%.4f\t%.3f\t%.3f\t%.4f\t", q.relErr, q.gap, q.violMean, q.violMax, q.repaired)
	}
	return fmt.Sprintf("%.4f\t%.4f\t%.3f\t%.4f\t", q.relErr, q.gap, q.violMean, q.repaired)
}
