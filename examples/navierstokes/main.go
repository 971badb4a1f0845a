// Command navierstokes is the scientific-computing case study of Liu, Ding,
// Osher, Yin, "Implicit Models: Expressive Power Scales with Test-Time
// Compute" (arXiv:2510.03638): an implicit Fourier neural operator (FNO-DEQ,
// Marwah et al. 2023) learns the map from a forcing to the steady vorticity
// of 2-D incompressible Navier–Stokes on the periodic unit square, against
// an explicit FNO of exactly as many parameters, and its error and
// Lipschitz number are measured against the number of test-time
// iterations.
//
//	go run ./examples/navierstokes            # 32×32, a few minutes on one core
//	go run ./examples/navierstokes -long      # 64×64, more data, wider, longer
//	go run ./examples/navierstokes -json out/ns.json -seed 2
//
// The problem: for a velocity forcing f = (f₁, f₂) (two channels on the
// grid, each a Gaussian random field of covariance ∝ (−Δ + 25I)^(−4), the
// pair scaled so that its curl g = ∂f₂/∂x − ∂f₁/∂y has RMS 1), the steady
// vorticity w of u·∇w = νΔw + g, ∇·u = 0, ν = 0.01. The data are solved
// here, seeded, on the tested pseudo-spectral solver's grid and modes
// (ns.go, steady.go: the steady equations as a fixed point of the Oseen-type
// map ŵ = (ĝ − N̂(w))/(νλ), accelerated by Anderson), and every sample's
// steady residual ‖νΔw − u·∇w + g‖/‖g‖ is reported. The classical
// baseline is the Stokes solution (advection dropped, solved exactly), which
// the advection makes wrong by a third.
//
// The models are the project's fno-deq and fno kinds (core/model/fno.go):
// the lift, three Fourier layers z ← gelu(mlp(conv(z)) + w(z) + x̃) as the
// implicit cell (weights tied across iterations; z⁰ = 0, solved by Anderson)
// or run once from x̃ (the explicit FNO), and the same decoder. The implicit
// model trains by the phantom gradient the paper uses (3 damped steps
// z ← 0.2 z + 0.8 G(z) from the fixed point, back-propagated), and a second
// copy by implicit differentiation; the explicit one by back-propagation;
// all by Adam on the MSE of scaled fields.
//
// Reported: the relative L2 test error against t (exactly t Anderson
// iterations from z⁰ = 0) and at the fixed point, the explicit FNO's and
// the Stokes solution's; L_t against t, the largest ‖ŵ_t(f + δ) − ŵ_t(f)‖/‖δ‖
// over test samples and sinusoidal perturbations δ of the forcing of norm
// 1e-2, beside the solver's own; a plot of one test field; with -json, the
// numbers as JSON.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/scale"
	"github.com/implicitlab/implicit/core/train"
	"github.com/implicitlab/implicit/internal/atomicfile"
	"github.com/implicitlab/implicit/internal/scalereport"
)

// config is what the flags set.
type config struct {
	Flow        Flow
	Train, Test int
	Seed        uint64
	Arch        Arch
	Training    Training
	// Gradients are the implicit model's training modes: phantom (the
	// paper's), implicit, or both (two models).
	Gradients  []train.GradientMode
	Budgets    []int
	LipSamples int // test samples L_t is measured on
	JSON       string
	ScalePNG   string
	FieldPNG   string
	Long       bool
}

// The paper's numbers (its scientific-computing case, FNO-DEQ against an
// explicit FNO of equal parameters on 2-D steady Navier–Stokes).
const (
	paperImplicit = 0.078
	paperExplicit = 0.179
	paperL1       = 23.1
	paperL50      = 367
)

// longDefaults are -long's values of the flags not given.
var longDefaults = map[string]string{"grid": "64", "train": "1000", "test": "200", "width": "16", "modes": "12", "epochs": "30", "lip-samples": "16"}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("navierstokes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := config{Flow: Flow{Viscosity: 0.01, Alpha: 4, Tau: 5, Amplitude: 1, Tol: 1e-9},
		Training: Training{LR: 3e-3, SolveTol: 1e-3}, Arch: Arch{Blocks: 1}}
	fs.IntVar(&c.Flow.N, "grid", 32, "grid points a side (even, ≥ 8)")
	fs.Float64Var(&c.Flow.Viscosity, "nu", c.Flow.Viscosity, "viscosity ν")
	fs.Float64Var(&c.Flow.Amplitude, "amplitude", c.Flow.Amplitude, "RMS of the vorticity forcing g")
	fs.IntVar(&c.Train, "train", 256, "training samples")
	fs.IntVar(&c.Test, "test", 64, "test samples")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the data, the initialisation and the batches")
	fs.IntVar(&c.Arch.Width, "width", 12, "channels of the Fourier layers")
	fs.IntVar(&c.Arch.Modes, "modes", 8, "Fourier modes kept a dimension (k1 = k2)")
	fs.IntVar(&c.Training.Epochs, "epochs", 10, "training epochs (every model)")
	fs.IntVar(&c.Training.Batch, "batch", 16, "mini-batch size")
	fs.Float64Var(&c.Training.LR, "lr", c.Training.LR, "Adam's learning rate")
	fs.IntVar(&c.Training.SolveIters, "train-iters", 24, "iteration limit of a training step's forward and adjoint solves (relative residual 1e-3)")
	fs.Float64Var(&c.Training.JacobianPenalty, "jacobian-penalty", 0, "γ of the implicit model's Jacobian penalty γ‖J‖²_F/d (Bai et al. 2021), which keeps the cell contractive; 0: none, as the paper")
	fs.IntVar(&c.Training.JacobianPowerSteps, "jacobian-power-steps", 0, "power iterations that turn the penalty's probes into top singular vectors, so that it penalises σ_max(J)² (0: Gaussian probes, ‖J‖²_F/d)")
	grad := fs.String("gradient", "both", "the implicit model's training gradient: phantom (the paper's: 3 steps, τ = 0.8), implicit, or both")
	budgets := fs.String("budgets", "1,2,4,8,16,32,50", "test-time iteration budgets t")
	fs.IntVar(&c.LipSamples, "lip-samples", 8, "test samples L_t is measured on (each with 4 perturbations)")
	fs.StringVar(&c.JSON, "json", "", "write the results as JSON to this file")
	fs.StringVar(&c.ScalePNG, "plot", filepath.Join(atomicfile.OutDir, "navierstokes_scale.png"), "test-time compute plot (PNG; empty: none; the default directory is made)")
	fs.StringVar(&c.FieldPNG, "field-plot", filepath.Join(atomicfile.OutDir, "navierstokes_field.png"), "one test field, true and predicted (PNG; empty: none; the default directory is made)")
	fs.BoolVar(&c.Long, "long", false, "the paper-sized run: 64×64 grid, 1000 training samples, width 16, 12 modes, 30 epochs (flags given override)")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("%w: %w", errFlagSyntax, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.Long {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range longDefaults {
			if !set[name] {
				if err := fs.Set(name, v); err != nil {
					return c, err
				}
			}
		}
	}
	switch *grad {
	case "phantom":
		c.Gradients = []train.GradientMode{train.Phantom}
	case "implicit":
		c.Gradients = []train.GradientMode{train.Implicit}
	case "both":
		c.Gradients = []train.GradientMode{train.Phantom, train.Implicit}
	default:
		return c, fmt.Errorf("-gradient %q: want phantom, implicit or both", *grad)
	}
	for _, s := range strings.Split(*budgets, ",") {
		t, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || t < 1 || t > 1<<12 {
			return c, fmt.Errorf("-budgets %q: want whole numbers from 1 to %d, separated by commas", *budgets, 1<<12)
		}
		c.Budgets = append(c.Budgets, t)
	}
	slices.Sort(c.Budgets)
	c.Budgets = slices.Compact(c.Budgets)
	c.Training.Seed = c.Seed
	n := c.Flow.N
	switch {
	case n < 8 || n%2 != 0 || n > 256:
		return c, fmt.Errorf("-grid %d: want an even number from 8 to 256", n)
	case c.Train < 2 || c.Test < 1:
		return c, fmt.Errorf("-train %d, -test %d: want at least 2 training and 1 test sample", c.Train, c.Test)
	case c.Arch.Width < 1 || c.Arch.Width > 256:
		return c, fmt.Errorf("-width %d: want 1 to 256", c.Arch.Width)
	case c.Arch.Modes < 1 || 2*c.Arch.Modes > n:
		return c, fmt.Errorf("-modes %d: want 1 to %d (half the grid)", c.Arch.Modes, n/2)
	case c.Training.Epochs < 1 || c.Training.Batch < 1 || c.Training.SolveIters < 1:
		return c, errors.New("-epochs, -batch and -train-iters must be at least 1")
	case !(c.Training.LR > 0) || math.IsInf(c.Training.LR, 0):
		return c, fmt.Errorf("-lr %v: want a positive number", c.Training.LR)
	case !(c.Flow.Viscosity > 0) || math.IsInf(c.Flow.Viscosity, 0):
		return c, fmt.Errorf("-nu %v: want a positive number", c.Flow.Viscosity)
	case !(c.Flow.Amplitude > 0) || math.IsInf(c.Flow.Amplitude, 0):
		return c, fmt.Errorf("-amplitude %v: want a positive number", c.Flow.Amplitude)
	case c.LipSamples < 1:
		return c, fmt.Errorf("-lip-samples %d: want at least 1", c.LipSamples)
	}
	if err := (train.GradientSettings{JacobianPenalty: c.Training.JacobianPenalty, JacobianPowerSteps: c.Training.JacobianPowerSteps}).CheckJacobianPenalty(); err != nil {
		return c, fmt.Errorf("-jacobian-penalty %v, -jacobian-power-steps %d: %w", c.Training.JacobianPenalty, c.Training.JacobianPowerSteps, err)
	}
	c.LipSamples = min(c.LipSamples, c.Test)
	// Output directories are checked before any work starts.
	for _, p := range []string{c.ScalePNG, c.FieldPNG, c.JSON} {
		if p == "" {
			continue
		}
		if err := atomicfile.CheckOutput(p); err != nil {
			return c, err
		}
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

// implicitResult is one implicit model's measurements.
type implicitResult struct {
	Gradient   string             `json:"gradient"`
	Params     int                `json:"params"`
	RelL2      relL2ByT           `json:"rel_l2"`
	Lipschitz  map[string]float64 `json:"lipschitz_by_t"`
	FixedIters float64            `json:"fixed_point_iterations"`
	// Unconverged counts the test samples whose solve stopped at solveLimit
	// iterations above the tolerance, at relative residual up to
	// FixedResidual.
	Unconverged   int     `json:"fixed_point_unconverged"`
	FixedResidual float64 `json:"fixed_point_max_residual"`
	TrainLoss     float64 `json:"final_train_loss"`
	Seconds       float64 `json:"train_seconds"`
	// JacobianPenalty is the γ it was trained with (0: none), and
	// JacobianPowerSteps its probes' power steps.
	JacobianPenalty    float64 `json:"jacobian_penalty"`
	JacobianPowerSteps int     `json:"jacobian_power_steps"`
}

type relL2ByT struct {
	FixedPoint float64            `json:"fixed_point"`
	T          map[string]float64 `json:"t"`
}

// outcome is the study's results, as -json writes them: "implicit" is the
// phantom-trained model when it was trained (the paper's), and
// "implicit_differentiation" the one trained by implicit differentiation.
type outcome struct {
	Grid     int              `json:"grid"`
	Implicit implicitResult   `json:"implicit"`
	Others   []implicitResult `json:"-"`
	ImplDiff *implicitResult  `json:"implicit_differentiation,omitempty"`
	Explicit struct {
		Params    int     `json:"params"`
		RelL2     float64 `json:"rel_l2"`
		Lipschitz float64 `json:"lipschitz"`
		TrainLoss float64 `json:"final_train_loss"`
		Seconds   float64 `json:"train_seconds"`
	} `json:"explicit"`
	Stokes       float64            `json:"stokes"`
	LipschitzByT map[string]float64 `json:"lipschitz_by_t"`
	// SolverLipschitz is the true operator's (the steady solver's) on the
	// same perturbations.
	SolverLipschitz float64 `json:"solver_lipschitz"`
	Data            struct {
		Train              int                `json:"train"`
		Test               int                `json:"test"`
		MaxSteadyResidual  float64            `json:"max_steady_residual"`
		MeanSteadyResidual float64            `json:"mean_steady_residual"`
		MeanSteadyIters    float64            `json:"mean_steady_iterations"`
		Rejected           int                `json:"rejected_draws"`
		MillisPerIteration float64            `json:"ms_per_iteration_per_sample"`
		SecondsTotal       float64            `json:"seconds_total"`
		SecondsData        float64            `json:"seconds_data"`
		Paper              map[string]float64 `json:"paper"`
	} `json:"run"`
}

// study runs the case study and writes its report to w.
func study(ctx context.Context, c config, w io.Writer) (*outcome, error) {
	start := time.Now()
	e, err := newExperiment(ctx, c, w)
	if err != nil {
		return nil, err
	}
	res := e.res
	implicit, explicit, err := e.trainModels(ctx, w)
	if err != nil {
		return nil, err
	}
	fixed, err := e.measure(ctx, w, implicit, explicit)
	if err != nil {
		return nil, err
	}
	if err := e.plot(w, fixed); err != nil {
		return nil, err
	}
	res.Data.SecondsTotal = time.Since(start).Seconds()
	res.Data.Paper = map[string]float64{"implicit_rel_l2": paperImplicit, "explicit_rel_l2": paperExplicit, "lipschitz_t1": paperL1, "lipschitz_t50": paperL50}
	if c.JSON != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(c.JSON, append(b, '\n'), 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "Wrote %s.\n", c.JSON)
	}
	fmt.Fprintf(w, "Total time %.1f s.\n", res.Data.SecondsTotal)
	return res, nil
}

// experiment is the data of a run, scaled.
type experiment struct {
	c           config
	p           int // grid points, the output field
	train, test *Set
	in, out     Scale
	res         *outcome
	scalePts    []scale.Point // the first implicit model's analysis, for the plot
}

// newExperiment generates the data and fits the scales to the training
// fields.
func newExperiment(ctx context.Context, c config, w io.Writer) (*experiment, error) {
	start := time.Now()
	n := c.Flow.N
	e := &experiment{c: c, p: n * n, res: &outcome{Grid: n}}
	fmt.Fprintf(w, "Steady 2-D Navier–Stokes on the periodic unit square, %d×%d grid (resolved |k| ≤ %d), ν = %g:\n", n, n, (n-1)/3, c.Flow.Viscosity)
	fmt.Fprintf(w, "forcing f = (f₁, f₂) ↦ steady vorticity w of u·∇w = νΔw + ∂f₂/∂x − ∂f₁/∂y; f from the random field (−Δ + %gI)^(−%g), its curl scaled to RMS %g.\n\n", c.Flow.Tau*c.Flow.Tau, c.Flow.Alpha, c.Flow.Amplitude)
	var err error
	if e.train, err = Generate(ctx, c.Flow, c.Train, c.Seed, streamTrain); err != nil {
		return nil, err
	}
	if e.test, err = Generate(ctx, c.Flow, c.Test, c.Seed, streamTest); err != nil {
		return nil, err
	}
	d := &e.res.Data
	d.Train, d.Test = c.Train, c.Test
	d.SecondsData = time.Since(start).Seconds()
	var iters float64
	for _, s := range []*Set{e.train, e.test} {
		for i, r := range s.Residual {
			d.MaxSteadyResidual = math.Max(d.MaxSteadyResidual, r)
			d.MeanSteadyResidual += r / float64(c.Train+c.Test)
			iters += float64(s.Iterations[i]) / float64(c.Train+c.Test)
		}
		d.Rejected += s.Rejected
	}
	d.MeanSteadyIters = iters
	fmt.Fprintf(w, "Data: %d training and %d test steady states in %.1f s (Anderson-accelerated Oseen iteration, %.0f iterations on average).\n",
		c.Train, c.Test, d.SecondsData, iters)
	fmt.Fprintf(w, "  steady residual ‖νΔw − u·∇w + g‖/‖g‖ of every sample: mean %.2g, max %.2g; draws without a steady state (replaced): %d.\n",
		d.MeanSteadyResidual, d.MaxSteadyResidual, d.Rejected)
	fmt.Fprintf(w, "  RMS of the training forcings %.3f, of their steady vorticities %.3f; the Stokes solution is off by %.3f (relative L2, test).\n\n",
		rms(e.train.X), rms(e.train.Y), RelativeL2(e.test.Stokes, e.test.Y, e.p))
	if e.in, err = FitScale(e.train.X); err != nil {
		return nil, err
	}
	if e.out, err = FitScale(e.train.Y); err != nil {
		return nil, err
	}
	return e, nil
}

func modeName(m train.GradientMode) string {
	if m == train.Phantom {
		return "phantom gradient (3 steps, τ = 0.8)"
	}
	return "implicit differentiation"
}

func modeKey(m train.GradientMode) string {
	if m == train.Phantom {
		return "phantom"
	}
	return "implicit"
}

// trainModels trains the implicit model (one a gradient mode) and the
// explicit FNO of the same parameters from the same initial weights.
func (e *experiment) trainModels(ctx context.Context, w io.Writer) ([]*model.Model, *model.Model, error) {
	c := e.c
	data := train.Data{X: e.in.Apply(e.train.X), Target: e.out.Apply(e.train.Y), N: e.train.Count}
	ex, err := newFNO(c.Flow, c.Arch, true, c.Seed)
	if err != nil {
		return nil, nil, err
	}
	params := model.FNOParams(model.FNOConfig{InChannels: 2, Out: 1, Channels: c.Arch.Width, Modes1: c.Arch.Modes, Modes2: c.Arch.Modes, Blocks: c.Arch.Blocks})
	fmt.Fprintf(w, "Models: implicit FNO-DEQ (fno-deq) and explicit FNO (fno), width %d, %d×%d modes, %d Fourier layers, %d parameters each (%d and %d counted).\n",
		c.Arch.Width, c.Arch.Modes, c.Arch.Modes, 3*c.Arch.Blocks, params, params, paramCount(ex))
	if err := e.timeIteration(w); err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(w, "Training: Adam, learning rate %g, batch %d, %d epochs, on the MSE of fields scaled to RMS 1 (reported a point); forward solves Anderson to relative residual %g or %d iterations.\n",
		c.Training.LR, c.Training.Batch, c.Training.Epochs, c.Training.SolveTol, c.Training.SolveIters)
	if g, k := c.Training.JacobianPenalty, c.Training.JacobianPowerSteps; g > 0 && k > 0 {
		fmt.Fprintf(w, "The implicit models' loss adds the Jacobian penalty %g·σ_max(J_G(z*))² (%d power steps a sample).\n", g, k)
	} else if g > 0 {
		fmt.Fprintf(w, "The implicit models' loss adds the Jacobian penalty %g·‖J_G(z*)‖²_F/d (one Gaussian probe a sample).\n", g)
	}
	progress := func(what string) func(int, epochStats) {
		return func(ep int, s epochStats) {
			if ep == 1 || ep == c.Training.Epochs || ep%5 == 0 {
				extra := ""
				if s.ForwardIters > 1 {
					extra = fmt.Sprintf(", %.1f forward iterations", s.ForwardIters)
				}
				if s.BackwardIters > 0 {
					extra += fmt.Sprintf(", %.1f adjoint", s.BackwardIters)
				}
				switch {
				case s.Jacobian > 0 && c.Training.JacobianPowerSteps > 0:
					extra += fmt.Sprintf(", σ_max(J)² %.3g", s.Jacobian)
				case s.Jacobian > 0:
					extra += fmt.Sprintf(", ‖J‖²_F/d %.3g", s.Jacobian)
				}
				fmt.Fprintf(w, "  %s, epoch %d: training MSE %.4f%s, %.1f s\n", what, ep, 2*s.Loss/float64(e.p), extra, s.Seconds)
			}
		}
	}
	var implicit []*model.Model
	for _, mode := range c.Gradients {
		a, err := newFNO(c.Flow, c.Arch, false, c.Seed)
		if err != nil {
			return nil, nil, err
		}
		tr := c.Training
		tr.Mode = mode
		start := time.Now()
		stats, err := fit(ctx, a, data, tr, progress("implicit, "+modeKey(mode)))
		if err != nil {
			return nil, nil, fmt.Errorf("training the implicit model (%s): %w", modeName(mode), err)
		}
		m, err := model.New(a)
		if err != nil {
			return nil, nil, err
		}
		implicit = append(implicit, m)
		e.res.Others = append(e.res.Others, implicitResult{Gradient: modeKey(mode), Params: m.Info().Params,
			TrainLoss: stats[len(stats)-1].Loss, Seconds: time.Since(start).Seconds(), JacobianPenalty: tr.JacobianPenalty, JacobianPowerSteps: tr.JacobianPowerSteps})
		fmt.Fprintf(w, "Trained the implicit model by the %s in %.1f s.\n", modeName(mode), time.Since(start).Seconds())
	}
	tr := c.Training
	tr.Mode = train.Implicit // an explicit model's gradient is exact whatever the mode
	tr.JacobianPenalty = 0   // and it has no fixed point to keep stable
	start := time.Now()
	stats, err := fit(ctx, ex, data, tr, progress("explicit"))
	if err != nil {
		return nil, nil, fmt.Errorf("training the explicit model: %w", err)
	}
	explicit, err := model.New(ex)
	if err != nil {
		return nil, nil, err
	}
	e.res.Explicit.Params, e.res.Explicit.TrainLoss, e.res.Explicit.Seconds = explicit.Info().Params, stats[len(stats)-1].Loss, time.Since(start).Seconds()
	fmt.Fprintf(w, "Trained the explicit FNO by back-propagation in %.1f s.\n\n", e.res.Explicit.Seconds)
	return implicit, explicit, nil
}

func paramCount(a model.Architecture) int {
	n := 0
	for _, t := range a.Tensors() {
		if !t.Fixed {
			n += len(t.Data)
		}
	}
	return n
}

// timeIteration measures one evaluation of the implicit cell G on a batch
// of training samples.
func (e *experiment) timeIteration(w io.Writer) error {
	a, err := newFNO(e.c.Flow, e.c.Arch, false, e.c.Seed)
	if err != nil {
		return err
	}
	l, err := a.Build(api.Float64)
	if err != nil {
		return err
	}
	k := min(e.c.Training.Batch, e.train.Count)
	inj := l.Inject(e.in.Apply(e.train.X[:k*2*e.p]), k)
	p := l.Problem(inj, k)
	rows := make([]int, k)
	for i := range rows {
		rows[i] = i
	}
	z, dst := make([]float64, len(inj)), make([]float64, len(inj))
	p.F(z, dst, rows) // warm the buffers
	const reps = 5
	start := time.Now()
	for range reps {
		p.F(dst, z, rows)
		z, dst = dst, z
	}
	e.res.Data.MillisPerIteration = time.Since(start).Seconds() * 1e3 / reps / float64(k)
	fmt.Fprintf(w, "One iteration of the implicit cell (3 Fourier layers): %.2f ms a sample, on a batch of %d (%s GEMM kernel).\n",
		e.res.Data.MillisPerIteration, k, model.Kernel())
	return nil
}

// measure reports the relative L2 test errors against t and at the fixed
// point, the explicit model's and the Stokes solution's, and L_t; it
// returns the first implicit model's fixed-point predictions (physical).
func (e *experiment) measure(ctx context.Context, w io.Writer, implicit []*model.Model, explicit *model.Model) ([]float64, error) {
	c, res := e.c, e.res
	x := e.in.Apply(e.test.X)
	k := c.LipSamples
	xl := e.in.Apply(perturbed(e.test.X, k, c.Flow.N))
	var fixed []float64
	var scalePts []scale.Point
	for mi, m := range implicit {
		r := &res.Others[mi]
		r.RelL2.T, r.Lipschitz = map[string]float64{}, map[string]float64{}
		for _, t := range c.Budgets {
			y, _, err := predict(ctx, m, x, t)
			if err != nil {
				return nil, err
			}
			r.RelL2.T[strconv.Itoa(t)] = RelativeL2(e.out.Invert(y), e.test.Y, e.p)
			yl, _, err := predict(ctx, m, xl, t)
			if err != nil {
				return nil, err
			}
			r.Lipschitz[strconv.Itoa(t)] = lipschitz(e.out.Invert(yl), k, e.p)
			if mi == 0 {
				mse, _ := train.MSE{}.Loss(y, e.out.Apply(e.test.Y), e.test.Count, e.p, make([]float64, len(y)))
				scalePts = append(scalePts, scale.Point{Budget: t, Accuracy: math.NaN(), Loss: mse, Lipschitz: r.Lipschitz[strconv.Itoa(t)]})
			}
		}
		y, solve, err := predict(ctx, m, x, 0)
		if err != nil {
			return nil, err
		}
		yp := e.out.Invert(y)
		r.RelL2.FixedPoint = RelativeL2(yp, e.test.Y, e.p)
		var it float64
		for _, s := range solve.Samples {
			it += float64(s.Iterations) / float64(len(solve.Samples))
			if s.Status != api.Converged {
				r.Unconverged++
			}
			r.FixedResidual = math.Max(r.FixedResidual, s.RelResidual)
		}
		r.FixedIters = it
		if mi == 0 {
			fixed = yp
		}
	}
	res.Implicit = res.Others[0]
	res.LipschitzByT = res.Implicit.Lipschitz
	if len(res.Others) > 1 {
		res.ImplDiff = &res.Others[1]
	}
	ye, _, err := predict(ctx, explicit, x, 1)
	if err != nil {
		return nil, err
	}
	res.Explicit.RelL2 = RelativeL2(e.out.Invert(ye), e.test.Y, e.p)
	yel, _, err := predict(ctx, explicit, xl, 1)
	if err != nil {
		return nil, err
	}
	res.Explicit.Lipschitz = lipschitz(e.out.Invert(yel), k, e.p)
	res.Stokes = RelativeL2(e.test.Stokes, e.test.Y, e.p)
	if res.SolverLipschitz, err = e.solverLipschitz(ctx); err != nil {
		return nil, err
	}
	e.scalePts = scalePts

	fmt.Fprintf(w, "Relative L2 test error ‖ŵ − w‖/‖w‖ (mean over %d test fields) and Lipschitz number L_t (max over %d fields × %d sinusoidal forcing perturbations of norm %g),\n",
		e.test.Count, k, len(perturbations), perturbationNorm)
	fmt.Fprintln(w, "against the iterations t from z⁰ = 0 (Anderson):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "t\t"
	for _, r := range res.Others {
		head += fmt.Sprintf("rel L2 (%s)\tL_t (%s)\t", r.Gradient, r.Gradient)
	}
	fmt.Fprintln(tw, head)
	for _, t := range c.Budgets {
		line := fmt.Sprintf("%d\t", t)
		for _, r := range res.Others {
			line += fmt.Sprintf("%.4f\t%.1f\t", r.RelL2.T[strconv.Itoa(t)], r.Lipschitz[strconv.Itoa(t)])
		}
		fmt.Fprintln(tw, line)
	}
	line := "fixed point\t"
	for _, r := range res.Others {
		line += fmt.Sprintf("%.4f\t\t", r.RelL2.FixedPoint)
	}
	fmt.Fprintln(tw, line)
	if err := tw.Flush(); err != nil {
		return nil, err
	}
	for _, r := range res.Others {
		if r.Unconverged > 0 {
			fmt.Fprintf(w, "(%s: the fixed point NOT reached for %d of %d test samples: relative residual up to %.2g after %d iterations; the row is their last iterate)\n",
				r.Gradient, r.Unconverged, e.test.Count, r.FixedResidual, solveLimit)
			continue
		}
		fmt.Fprintf(w, "(%s: the fixed point, relative residual ≤ 1e-6, in %.1f iterations on average)\n", r.Gradient, r.FixedIters)
	}
	fmt.Fprintf(w, "The map being learnt (the steady solver, same perturbations): Lipschitz number %.1f.\n\n", res.SolverLipschitz)

	fmt.Fprintln(w, "Relative L2 test error, every method, beside the paper's:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "method\tparameters\trelative L2\tL\tpaper\t")
	for _, r := range res.Others {
		paper := "—"
		if r.Gradient == "phantom" {
			paper = fmt.Sprintf("%.3f", paperImplicit)
		}
		fmt.Fprintf(tw, "implicit FNO-DEQ (%s), fixed point\t%d\t%.4f\t%.1f\t%s\t\n", r.Gradient, r.Params, r.RelL2.FixedPoint, r.Lipschitz[strconv.Itoa(c.Budgets[len(c.Budgets)-1])], paper)
	}
	fmt.Fprintf(tw, "explicit FNO, equal parameters\t%d\t%.4f\t%.1f\t%.3f\t\n", res.Explicit.Params, res.Explicit.RelL2, res.Explicit.Lipschitz, paperExplicit)
	fmt.Fprintf(tw, "classical: Stokes solution (advection dropped)\t0\t%.4f\t\t\t\n", res.Stokes)
	if err := tw.Flush(); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "(L: at the largest t for the implicit models; the paper's L_t grows from %.1f at t = 1 to about %d at t = 50.)\n\n", paperL1, paperL50)
	return fixed, nil
}

// solverLipschitz measures the steady solver's Lipschitz number on the
// perturbations of the first test samples.
func (e *experiment) solverLipschitz(ctx context.Context) (float64, error) {
	s, err := e.c.Flow.solver()
	if err != nil {
		return 0, err
	}
	n, k := e.c.Flow.N, e.c.LipSamples
	x := perturbed(e.test.X, k, n)
	rows := len(x) / (2 * n * n)
	y := make([]float64, 0, rows*n*n)
	for i := range rows {
		f := x[i*2*n*n : (i+1)*2*n*n]
		w, _, _, err := s.SteadyState(ctx, s.Curl(f[:n*n], f[n*n:]), e.c.Flow.Tol)
		if err != nil {
			return 0, err
		}
		y = append(y, w...)
	}
	return lipschitz(y, k, n*n), nil
}

// plot writes the test-time compute plot and the field plot.
func (e *experiment) plot(w io.Writer, fixed []float64) error {
	n, p := e.c.Flow.N, e.p
	if e.c.ScalePNG != "" {
		title := fmt.Sprintf("steady Navier-Stokes, %dx%d, FNO-DEQ width %d (%s)", n, n, e.c.Arch.Width, e.res.Implicit.Gradient)
		if err := scalereport.WritePNG(e.c.ScalePNG, title, e.scalePts); err != nil {
			return err
		}
		fmt.Fprintf(w, "Wrote %s (test MSE of scaled fields and L_t against t).\n", e.c.ScalePNG)
	}
	if e.c.FieldPNG != "" {
		s, err := e.c.Flow.solver()
		if err != nil {
			return err
		}
		f := e.test.X[:2*p]
		top, err := WriteFields(e.c.FieldPNG, n, []Panel{
			{"forcing curl g, test field 1", s.Curl(f[:p], f[p:])},
			{"steady w, solver", e.test.Y[:p]},
			{"w, implicit FNO-DEQ", fixed[:p]},
			{"w, Stokes", e.test.Stokes[:p]},
			{"implicit - solver", diff(fixed[:p], e.test.Y[:p])},
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Wrote %s (one test field; colours ±%.2f).\n", e.c.FieldPNG, top)
	}
	return nil
}

func diff(a, b []float64) []float64 {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return d
}
