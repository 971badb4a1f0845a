// Command lp reproduces the operations-research case of Liu, Ding, Osher,
// Yin, "Implicit Models: Expressive Power Scales with Test-Time Compute"
// (arXiv:2510.03638) at the paper's own scale: a bipartite graph implicit
// model (the gnn-lp kind) learns to map a linear program
//
//	min cᵀy  s.t.  A y ∘ b (each row = or ≤),  l ≤ y ≤ u,
//
// with m = 10 constraints and n = 50 variables, nnz(A) = 100, to its
// solution y*, against the explicit network of the same four layers
// (gnn-lp-explicit), and the error and the empirical Lipschitz number are
// measured against the number t of iterations.
//
//	go run ./examples/lp                  # one width (d = 8), a few minutes on one core
//	go run ./examples/lp -paper -json lp.json   # the paper's four widths, its Table 1 beside
//
// Instances are drawn as the paper draws them, solved by the simplex
// method (gonum's, on the standard form) and certified by the dual; the
// infeasible draws are skipped and counted. The implicit model is trained
// as the paper trains it (MSE, gradients unrolled through 3 iterations,
// then through 6) and, separately, by implicit differentiation; the
// explicit one by MSE.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
	"github.com/implicitlab/implicit/internal/atomicfile"
)

// config is the run's settings, the command's flags.
type config struct {
	widths           []int
	train, test      int
	seed             uint64
	batch            int
	epochs1, epochs2 int     // the unrolled phases: 3 steps, then 6
	lr1, lr2         float64 // their learning rates
	implicitEpochs   int     // the implicit-differentiation run (0: none)
	fixedEpochs      int     // a last phase of the unrolled run at the fixed point (0: none)
	explicitEpochs   int
	maxT, evalT      int // error_by_t up to maxT; the table at t = evalT
	lipInstances     int
	jacobianPenalty  float64 // γ of the implicit models' Jacobian penalty
	jacobianPower    int     // and its probes' power steps
	json             string
	verbose          bool
	family           lpFamily
}

// The paper's Table 1: test error and parameters at widths 4, 8, 16, 32.
var paperTable = map[int][4]float64{ // implicit error, params, explicit error, params
	4:  {0.218, 722, 0.397, 580},
	8:  {0.177, 2350, 0.273, 2088},
	16: {0.152, 8390, 0.283, 7888},
	32: {0.156, 31606, 0.318, 30624},
}

func main() {
	cfg := config{family: paperFamily}
	var paper bool
	var widths string
	flag.BoolVar(&paper, "paper", false, "run the paper's four widths 4, 8, 16, 32 (overrides -widths)")
	flag.StringVar(&widths, "widths", "8", "embedding widths d to run, comma-separated")
	flag.IntVar(&cfg.train, "train", 2500, "training instances (feasible ones)")
	flag.IntVar(&cfg.test, "test", 1000, "test instances (feasible ones)")
	flag.Uint64Var(&cfg.seed, "seed", 1, "seed of every random draw: instances, initialisation, batches, perturbations")
	flag.IntVar(&cfg.batch, "batch", 25, "mini-batch size")
	flag.IntVar(&cfg.epochs1, "epochs", 30, "epochs unrolled through 3 iterations")
	flag.IntVar(&cfg.epochs2, "epochs6", 10, "epochs unrolled through 6 iterations, after those")
	flag.Float64Var(&cfg.lr1, "lr", 3e-3, "Adam learning rate of the 3-iteration phase and of the explicit network")
	flag.Float64Var(&cfg.lr2, "lr6", 3e-4, "Adam learning rate of the 6-iteration phase")
	flag.IntVar(&cfg.fixedEpochs, "fixed-point-epochs", 0, "epochs of a last phase of the implicit model's training at its fixed point (Anderson, the phantom gradient: 3 steps, τ = 0.8) at the -lr6 rate, after the unrolled ones (0: none, as the paper)")
	flag.IntVar(&cfg.implicitEpochs, "implicit-epochs", 10, "epochs of the run by implicit differentiation (0: skip it)")
	flag.IntVar(&cfg.explicitEpochs, "explicit-epochs", 40, "epochs of the explicit network")
	flag.IntVar(&cfg.maxT, "maxt", 16, "largest t of error_by_t and lipschitz_by_t")
	flag.IntVar(&cfg.evalT, "t", 6, "iterations t of the implicit model's test error in the table (trained at 6)")
	flag.IntVar(&cfg.lipInstances, "lip", 200, "test instances of the Lipschitz estimate (each perturbed 5 ways)")
	flag.Float64Var(&cfg.jacobianPenalty, "jacobian-penalty", 0, "γ of the implicit models' Jacobian penalty γ‖J‖²_F/n (Bai et al. 2021), which keeps the map contractive; 0: none, as the paper")
	flag.IntVar(&cfg.jacobianPower, "jacobian-power-steps", 0, "power iterations that turn the penalty's probes into top singular vectors, so that it penalises σ_max(J)² (0: Gaussian probes, ‖J‖²_F/n)")
	flag.StringVar(&cfg.json, "json", "", "write the results as JSON to this file")
	flag.BoolVar(&cfg.verbose, "v", false, "log training progress")
	flag.Parse()
	if paper {
		widths = "4,8,16,32"
	}
	if flag.NArg() > 0 {
		fail(2, fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	var err error
	if cfg.widths, err = parseWidths(widths); err != nil {
		fail(2, err)
	}
	if err := cfg.validate(); err != nil {
		fail(2, err)
	}
	start := time.Now()
	res, err := run(context.Background(), cfg, os.Stdout)
	if err != nil {
		fail(1, err)
	}
	if cfg.json != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err == nil {
			err = atomicfile.WriteFile(cfg.json, append(b, '\n'), 0o644)
		}
		if err != nil {
			fail(1, fmt.Errorf("-json: %w", err))
		}
		fmt.Printf("\nWrote %s.\n", cfg.json)
	}
	fmt.Printf("\nTotal time %.1f s.\n", time.Since(start).Seconds())
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "lp:", err)
	os.Exit(code)
}

func parseWidths(s string) ([]int, error) {
	var ws []int
	for _, f := range strings.Split(s, ",") {
		w, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || w < 1 || w > 256 {
			return nil, fmt.Errorf("-widths %q: want widths from 1 to 256, comma-separated", s)
		}
		ws = append(ws, w)
	}
	return ws, nil
}

func (c config) validate() error {
	switch {
	case c.train < 1 || c.train > 1e6 || c.test < 1 || c.test > 1e6:
		return fmt.Errorf("-train %d, -test %d: want 1 … 10⁶ each", c.train, c.test)
	case c.fixedEpochs < 0:
		return fmt.Errorf("-fixed-point-epochs %d: want ≥ 0", c.fixedEpochs)
	case c.batch < 1 || c.epochs1 < 0 || c.epochs2 < 0 || c.implicitEpochs < 0 || c.explicitEpochs < 1 || c.epochs1+c.epochs2 < 1:
		return fmt.Errorf("-batch %d, -epochs %d, -epochs6 %d, -implicit-epochs %d, -explicit-epochs %d: want a batch ≥ 1, epochs ≥ 0 and some training", c.batch, c.epochs1, c.epochs2, c.implicitEpochs, c.explicitEpochs)
	case !(c.lr1 > 0 && c.lr1 < 1) || !(c.lr2 > 0 && c.lr2 < 1):
		return fmt.Errorf("-lr %v, -lr6 %v: want each in (0, 1)", c.lr1, c.lr2)
	case c.maxT < 0 || c.maxT > 1000 || c.evalT < 0 || c.evalT > c.maxT:
		return fmt.Errorf("-maxt %d, -t %d: want 0 ≤ t ≤ maxt ≤ 1000", c.maxT, c.evalT)
	case c.lipInstances < 0:
		return fmt.Errorf("-lip %d: want ≥ 0", c.lipInstances)
	}
	if err := (train.GradientSettings{JacobianPenalty: c.jacobianPenalty, JacobianPowerSteps: c.jacobianPower}).CheckJacobianPenalty(); err != nil {
		return fmt.Errorf("-jacobian-penalty %v, -jacobian-power-steps %d: %w", c.jacobianPenalty, c.jacobianPower, err)
	}
	if c.json != "" {
		if err := atomicfile.CheckDir(c.json); err != nil {
			return fmt.Errorf("-json %w", err)
		}
	}
	return nil
}

// The results, as -json writes them.
type results struct {
	Setup        setup                           `json:"setup"`
	Widths       []widthResult                   `json:"widths"`
	ErrorByT     map[string]map[string][]float64 `json:"error_by_t"`
	LipschitzByT map[string]map[string][]float64 `json:"lipschitz_by_t"`
	SolutionLip  float64                         `json:"solution_lipschitz"`
}

type setup struct {
	M, N, NNZ         int
	Train, Test       int
	InfeasibleSkipped int `json:"infeasible_skipped"`
	FailedSkipped     int `json:"failed_skipped"`
	DualLP            int `json:"dual_lp_certificates"`
	Seed              uint64
	EvalT             int     `json:"eval_t"`
	LipschitzPairs    int     `json:"lipschitz_pairs"`
	LipschitzDropped  int     `json:"lipschitz_dropped"`
	SolveMillis       float64 `json:"solve_ms_per_draw"`
	JacobianPenalty   float64 `json:"jacobian_penalty"`
	JacobianPower     int     `json:"jacobian_power_steps"`
	FixedPointEpochs  int     `json:"fixed_point_epochs"`
}

type entry struct {
	Params    int     `json:"params"`
	TestError float64 `json:"test_error"`
	TrainLoss float64 `json:"train_loss"`
	Seconds   float64 `json:"train_seconds"`
	// FixedPoint is an implicit model's test error at its solved fixed
	// point, where the curve against t should settle.
	FixedPoint *fixedPointEntry `json:"fixed_point,omitempty"`
}

// fixedPointEntry is a model's test error at the fixed point solved by
// fixedPointSettings, and how well those solves converged.
type fixedPointEntry struct {
	TestError   float64 `json:"test_error"`
	Iterations  float64 `json:"mean_iterations"`
	Unconverged int     `json:"unconverged"`
	RelResidual float64 `json:"max_rel_residual"`
}

// fixedPointSettings solve a test instance's fixed point: Anderson, as in
// training, with room to converge.
var fixedPointSettings = api.Settings{Method: &api.Anderson{}, MaxIter: 50, RelTol: 1e-5}

// atFixedPoint measures m at its solved fixed point on the test set. A
// solve that stops short of the tolerance, or diverges, is counted, not an
// error: the paper's map need not be a contraction.
func atFixedPoint(ctx context.Context, m *model.Model, te dataset) (*fixedPointEntry, error) {
	out, err := m.Infer(ctx, te.x, fixedPointSettings)
	if err != nil && !(errors.Is(err, api.ErrDiverged) && out != nil && out.Result != nil) {
		return nil, fmt.Errorf("solving the test instances' fixed points: %w", err)
	}
	fp := &fixedPointEntry{TestError: relErr(out.Y, te.y, m.Info().Out)}
	for _, s := range out.Result.Samples {
		fp.Iterations += float64(s.Iterations) / float64(len(out.Result.Samples))
		if s.Status != api.Converged {
			fp.Unconverged++
		}
		fp.RelResidual = math.Max(fp.RelResidual, s.RelResidual)
	}
	return fp, nil
}

type widthResult struct {
	Width        int         `json:"width"`
	Implicit     entry       `json:"implicit"`
	ImplicitDiff *entry      `json:"implicit_diff,omitempty"`
	Explicit     entry       `json:"explicit"`
	Paper        *paperEntry `json:"paper,omitempty"`
}

type paperEntry struct {
	ImplicitError  float64 `json:"implicit_error"`
	ImplicitParams int     `json:"implicit_params"`
	ExplicitError  float64 `json:"explicit_error"`
	ExplicitParams int     `json:"explicit_params"`
}

// run carries out the study and prints its report to w.
func run(ctx context.Context, cfg config, w io.Writer) (*results, error) {
	f := cfg.family
	start := time.Now()
	trainSet, inf1, fail1, err := f.drawSolved(cfg.train, rand.New(rand.NewPCG(cfg.seed, 1)))
	if err != nil {
		return nil, err
	}
	testSet, inf2, fail2, err := f.drawSolved(cfg.test, rand.New(rand.NewPCG(cfg.seed, 2)))
	if err != nil {
		return nil, err
	}
	draws := cfg.train + cfg.test + inf1 + inf2 + fail1 + fail2
	res := &results{ErrorByT: map[string]map[string][]float64{}, LipschitzByT: map[string]map[string][]float64{}}
	res.Setup = setup{M: f.m, N: f.n, NNZ: f.nnz, Train: cfg.train, Test: cfg.test, InfeasibleSkipped: inf1 + inf2, FailedSkipped: fail1 + fail2,
		Seed: cfg.seed, EvalT: cfg.evalT, JacobianPenalty: cfg.jacobianPenalty, JacobianPower: cfg.jacobianPower, FixedPointEpochs: cfg.fixedEpochs, SolveMillis: float64(time.Since(start).Microseconds()) / 1000 / float64(draws)}
	for _, in := range append(append([]*lpInstance(nil), trainSet...), testSet...) {
		if in.dualLP {
			res.Setup.DualLP++
		}
	}
	fmt.Fprintf(w, "LPs min cᵀy s.t. A y ∘ b, l ≤ y ≤ u: %d constraints (each = with probability %g), %d variables, %d nonzeros of A (seed %d).\n", f.m, f.pEq, f.n, f.nnz, cfg.seed)
	fmt.Fprintf(w, "%d training and %d test instances, solved by simplex and certified by the dual (%.1f ms a draw, %d by the dual LP);\n", cfg.train, cfg.test, res.Setup.SolveMillis, res.Setup.DualLP)
	fmt.Fprintf(w, "skipped: %d infeasible draws of %d (%.0f %%), %d failed solves.\n\n", inf1+inf2, draws, 100*float64(inf1+inf2)/float64(draws), fail1+fail2)
	if g, k := cfg.jacobianPenalty, cfg.jacobianPower; g > 0 && k > 0 {
		fmt.Fprintf(w, "The implicit models' loss adds the Jacobian penalty %g·σ_max(J_G(y))² (%d power steps an instance).\n\n", g, k)
	} else if g > 0 {
		fmt.Fprintf(w, "The implicit models' loss adds the Jacobian penalty %g·‖J_G(y)‖²_F/n (one Gaussian probe an instance).\n\n", g)
	}
	tr, te := newDataset(trainSet), newDataset(testSet)
	lipSet := testSet[:min(cfg.lipInstances, len(testSet))]
	logf := func(string) {}
	if cfg.verbose {
		logf = func(s string) { fmt.Fprintln(w, "  "+s) }
	}
	for _, d := range cfg.widths {
		wr, err := runWidth(ctx, cfg, d, tr, te, lipSet, res, logf)
		if err != nil {
			return nil, fmt.Errorf("width %d: %w", d, err)
		}
		res.Widths = append(res.Widths, wr)
		fmt.Fprintf(w, "d = %d: implicit (%s) %.4f, explicit %.4f", d, implicitRecipe(cfg), wr.Implicit.TestError, wr.Explicit.TestError)
		if wr.ImplicitDiff != nil {
			fmt.Fprintf(w, ", implicit (implicit differentiation) %.4f", wr.ImplicitDiff.TestError)
		}
		fmt.Fprintf(w, "  [trained in %.0f s, %.0f s, %.0f s]\n", wr.Implicit.Seconds, wr.Explicit.Seconds, diffSeconds(wr))
	}
	return res, report(w, cfg, res)
}

func diffSeconds(wr widthResult) float64 {
	if wr.ImplicitDiff == nil {
		return 0
	}
	return wr.ImplicitDiff.Seconds
}

// runWidth trains and measures the three networks of width d.
func runWidth(ctx context.Context, cfg config, d int, tr, te dataset, lipSet []*lpInstance, res *results, logf func(string)) (widthResult, error) {
	f := cfg.family
	key := strconv.Itoa(d)
	res.ErrorByT[key], res.LipschitzByT[key] = map[string][]float64{}, map[string][]float64{}
	wr := widthResult{Width: d}
	if p, ok := paperTable[d]; ok {
		wr.Paper = &paperEntry{ImplicitError: p[0], ImplicitParams: int(p[1]), ExplicitError: p[2], ExplicitParams: int(p[3])}
	}
	newGNN := func(explicit bool, stream uint64) (*model.GNN, error) {
		return model.NewGNN(model.GNNConfig{Explicit: explicit, Constraints: f.m, Variables: f.n, Width: d}, rand.New(rand.NewPCG(cfg.seed, 100+stream)))
	}
	// The implicit model, trained as the paper: unrolled through 3, then 6.
	var phases []phase
	if cfg.epochs1 > 0 {
		phases = append(phases, phase{epochs: cfg.epochs1, lr: cfg.lr1, steps: 3})
	}
	if cfg.epochs2 > 0 {
		phases = append(phases, phase{epochs: cfg.epochs2, lr: cfg.lr2, steps: 6})
	}
	if cfg.fixedEpochs > 0 {
		phases = append(phases, phase{epochs: cfg.fixedEpochs, lr: cfg.lr2, fixedPoint: true})
	}
	measure := func(name string, g *model.GNN, sched schedule, mode train.GradientMode, stream uint64) (entry, *model.Model, error) {
		start := time.Now()
		loss, err := fit(ctx, g, tr, sched, cfg.seed+1000*stream, mode, func(s string) { logf(fmt.Sprintf("d=%d %s: %s", d, name, s)) })
		if err != nil {
			return entry{}, nil, fmt.Errorf("training the %s network: %w", name, err)
		}
		e := entry{Params: model.GNNParams(g.Explicit, d, 2, 3), TrainLoss: loss, Seconds: time.Since(start).Seconds()}
		m, err := model.New(g)
		if err != nil {
			return entry{}, nil, err
		}
		return e, m, nil
	}
	g, err := newGNN(false, 1)
	if err != nil {
		return wr, err
	}
	var m *model.Model
	if wr.Implicit, m, err = measure("implicit", g, schedule{batch: cfg.batch, phases: phases, jacobianPenalty: cfg.jacobianPenalty, jacobianPower: cfg.jacobianPower}, train.Unrolled, 1); err != nil {
		return wr, err
	}
	errs, err := errorByT(m, te, cfg.maxT)
	if err != nil {
		return wr, err
	}
	wr.Implicit.TestError = errs[cfg.evalT]
	res.ErrorByT[key]["implicit"] = errs
	if wr.Implicit.FixedPoint, err = atFixedPoint(ctx, m, te); err != nil {
		return wr, err
	}
	if len(lipSet) > 0 {
		lip, err := measureLipschitz(m, lipSet, cfg.maxT, 1e-4, rand.New(rand.NewPCG(cfg.seed, 3)))
		if err != nil {
			return wr, err
		}
		res.LipschitzByT[key]["implicit"] = lip.byT
		res.SolutionLip, res.Setup.LipschitzPairs, res.Setup.LipschitzDropped = lip.solution, lip.pairs, lip.dropped
	}
	// The explicit network: the same four layers, once.
	ge, err := newGNN(true, 2)
	if err != nil {
		return wr, err
	}
	var me *model.Model
	if wr.Explicit, me, err = measure("explicit", ge, schedule{batch: cfg.batch, phases: []phase{{epochs: cfg.explicitEpochs, lr: cfg.lr1}}}, train.Implicit, 2); err != nil {
		return wr, err
	}
	if errs, err = errorByT(me, te, 0); err != nil {
		return wr, err
	}
	wr.Explicit.TestError = errs[0]
	// The implicit model trained by implicit differentiation.
	if cfg.implicitEpochs > 0 {
		gi, err := newGNN(false, 1) // the same start as the unrolled run
		if err != nil {
			return wr, err
		}
		e, mi, err := measure("implicit-diff", gi, schedule{batch: cfg.batch, phases: []phase{{epochs: cfg.implicitEpochs, lr: cfg.lr1}}, jacobianPenalty: cfg.jacobianPenalty, jacobianPower: cfg.jacobianPower}, train.Implicit, 3)
		if err != nil {
			return wr, err
		}
		if e.FixedPoint, err = atFixedPoint(ctx, mi, te); err != nil {
			return wr, err
		}
		e.TestError = e.FixedPoint.TestError
		wr.ImplicitDiff = &e
		if res.ErrorByT[key]["implicit_diff"], err = errorByT(mi, te, cfg.maxT); err != nil {
			return wr, err
		}
		if len(lipSet) > 0 {
			lip, err := measureLipschitz(mi, lipSet, cfg.maxT, 1e-4, rand.New(rand.NewPCG(cfg.seed, 3)))
			if err != nil {
				return wr, err
			}
			res.LipschitzByT[key]["implicit_diff"] = lip.byT
		}
	}
	return wr, nil
}

// fixedPointCell prints a fixed-point error with its unconverged solves.
func fixedPointCell(fp *fixedPointEntry) string {
	if fp == nil {
		return "-"
	}
	if fp.Unconverged > 0 {
		return fmt.Sprintf("%.4f (%d unconverged)", fp.TestError, fp.Unconverged)
	}
	return fmt.Sprintf("%.4f", fp.TestError)
}

// implicitRecipe names the implicit model's training phases.
func implicitRecipe(cfg config) string {
	if cfg.fixedEpochs > 0 {
		return "unrolled 3 → 6 → fixed point"
	}
	return "unrolled 3 → 6"
}

// report prints the table beside the paper's, and the curves against t.
func report(w io.Writer, cfg config, res *results) error {
	fmt.Fprintf(w, "\nTest error ‖ŷ − y*‖ / (‖y*‖ + 1), mean over %d test instances (implicit at t = %d), beside the paper's Table 1:\n", cfg.test, cfg.evalT)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "d\timplicit params\terror\tat fixed point\tpaper\t\texplicit params\terror\tpaper\t\timplicit-diff error\t")
	for _, wr := range res.Widths {
		pi, pe := "-", "-"
		if wr.Paper != nil {
			pi, pe = fmt.Sprintf("%.3f (%d)", wr.Paper.ImplicitError, wr.Paper.ImplicitParams), fmt.Sprintf("%.3f (%d)", wr.Paper.ExplicitError, wr.Paper.ExplicitParams)
		}
		diff := "-"
		if wr.ImplicitDiff != nil {
			diff = fixedPointCell(wr.ImplicitDiff.FixedPoint)
		}
		fmt.Fprintf(tw, "%d\t%d\t%.4f\t%s\t%s\t\t%d\t%.4f\t%s\t\t%s\t\n", wr.Width, wr.Implicit.Params, wr.Implicit.TestError, fixedPointCell(wr.Implicit.FixedPoint), pi, wr.Explicit.Params, wr.Explicit.TestError, pe, diff)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "(at fixed point: solved by Anderson, at most %d iterations to a relative residual of %g; the instances that stopped short are counted)\n", fixedPointSettings.MaxIter, fixedPointSettings.RelTol)
	for _, name := range []string{"implicit", "implicit_diff"} {
		if _, ok := res.ErrorByT[strconv.Itoa(res.Widths[0].Width)][name]; !ok {
			continue
		}
		fmt.Fprintf(w, "\n%s model (%s): test error and empirical Lipschitz number L_t against t (perturbations of norm 1e-4 of A's nonzeros, b, c, l or u; %d pairs; exact solutions: %.1f):\n",
			name, map[string]string{"implicit": implicitRecipe(cfg), "implicit_diff": "implicit differentiation"}[name], res.Setup.LipschitzPairs, res.SolutionLip)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "t\t")
		for _, wr := range res.Widths {
			fmt.Fprintf(tw, "error d=%d\tL_t d=%d\t", wr.Width, wr.Width)
		}
		fmt.Fprintln(tw)
		for t := 0; t <= cfg.maxT; t++ {
			fmt.Fprintf(tw, "%d\t", t)
			for _, wr := range res.Widths {
				key := strconv.Itoa(wr.Width)
				lip := "-"
				if l := res.LipschitzByT[key][name]; l != nil {
					lip = fmt.Sprintf("%.3f", l[t])
				}
				fmt.Fprintf(tw, "%.4f\t%s\t", res.ErrorByT[key][name][t], lip)
			}
			fmt.Fprintln(tw)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
