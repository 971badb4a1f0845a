package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/scale"
	"github.com/implicitlab/implicit/core/train"
	"github.com/implicitlab/implicit/internal/atomicfile"
)

// results are what the case study measured; its JSON is -json's file.
type results struct {
	Images []imageResult `json:"images"`
	// Lipschitz is L_t of the implicit model on held-out crops, t → L_t,
	// and of the one-pass explicit denoiser.
	Lipschitz         map[string]float64 `json:"lipschitz_implicit"`
	LipschitzExplicit float64            `json:"lipschitz_explicit_one_pass"`
	Params            map[string]int     `json:"parameters"`
	Lambda            map[string]float64 `json:"lambda"`
	Setup             map[string]string  `json:"setup"`
}

// imageResult is one test photograph's PSNR (dB) by method.
type imageResult struct {
	Name            string      `json:"name"`
	Width           int         `json:"width"`
	Height          int         `json:"height"`
	Degraded        float64     `json:"degraded"`
	Implicit        implicitRun `json:"implicit"`                  // from y⁰ = 0
	FromObservation implicitRun `json:"implicit_from_observation"` // from y⁰ = x
	ExplicitOnePass float64     `json:"explicit_one_pass"`
	ExplicitCNN     float64     `json:"explicit_cnn"`
	Tikhonov        float64     `json:"tikhonov"`
	TV              float64     `json:"tv"`
}

// implicitRun is the implicit model's PSNR after t iterations and at the
// fixed point (reached after FixedPointIters iterations in all).
type implicitRun struct {
	FixedPoint      float64            `json:"fixed_point"`
	FixedPointIters int                `json:"fixed_point_iterations"`
	Converged       bool               `json:"converged"`
	T               map[string]float64 `json:"t"`
}

// Streams of the seed, one for each use.
const (
	streamCrops = 1000 + iota
	streamLambda
	streamTest
	streamInit
)

// models are the trained models, at the training crops' size.
type models struct {
	implicit, onePass, cnn *model.PnP
}

// run carries out the case study, writing the report to w and the files to
// the configured paths.
func run(ctx context.Context, cfg config, w io.Writer) (*results, error) {
	k := cfg.kernel()
	template, err := model.NewPnP(model.PnPConfig{Splitting: cfg.splitting, Boundary: model.BoundarySymmetric, Height: cfg.crop, Width: cfg.crop,
		Noise: cfg.noise, Kernel: k, Depth: cfg.depth, Channels: cfg.chans, Gamma: cfg.gamma, Beta: cfg.beta}, rand.New(rand.NewPCG(cfg.seed, streamInit)))
	if err != nil {
		return nil, err
	}
	tests, err := loadTests(cfg, template)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(tests))
	for i, p := range tests {
		names[i] = fmt.Sprintf("%s (%d×%d)", p.name, p.clean.w, p.clean.h)
	}
	fmt.Fprintf(w, "Training photographs %v; test photographs %v.\n", trainingPhotos, names)
	fmt.Fprintf(w, "Degradation: %s (symmetric boundaries), then noise σ = %g.\n", cfg.describeBlur(), cfg.noise)
	res := &results{Lipschitz: map[string]float64{}, Lambda: map[string]float64{}, Params: map[string]int{}, Setup: map[string]string{
		"splitting": cfg.splitting, "blur": cfg.describeBlur(), "noise": strconv.FormatFloat(cfg.noise, 'g', -1, 64),
		"gradient": gradientName(cfg), "crops": fmt.Sprintf("%d of %d×%d", cfg.crops, cfg.crop, cfg.crop), "epochs": strconv.Itoa(cfg.epochs)}}

	start := time.Now()
	lambdaPairs, err := trainingPairs(cfg, template, 4, 96, streamLambda)
	if err != nil {
		return nil, err
	}
	iters := cfg.baselineIters
	tik := func(o *operator, y []float64, l float64) []float64 { return tikhonov(o, y, l, iters) }
	tvf := func(o *operator, y []float64, l float64) []float64 { return tv(o, y, l, iters) }
	if res.Lambda["tikhonov"], err = bestLambda(lambdaPairs, template, tikhonovLambdas, tik); err != nil {
		return nil, err
	}
	if res.Lambda["tv"], err = bestLambda(lambdaPairs, template, tvLambdas, tvf); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "Baselines' λ chosen on 4 training crops of 96×96: Tikhonov λ = %g, TV λ = %g (%.1f s).\n\n",
		res.Lambda["tikhonov"], res.Lambda["tv"], time.Since(start).Seconds())

	ms, err := trainAll(ctx, cfg, template, res, w)
	if err != nil {
		return nil, err
	}
	if cfg.modelPath != "" {
		b, err := model.Encode(ms.implicit, model.F64)
		if err == nil {
			err = atomicfile.WriteFile(cfg.modelPath, b, 0o644)
		}
		if err != nil {
			return nil, fmt.Errorf("-model: %w", err)
		}
		fmt.Fprintf(w, "Saved the implicit model to %s (%d×%d in its metadata; implicit restore runs it on any size).\n", cfg.modelPath, cfg.crop, cfg.crop)
	}

	var first *restored
	for i, p := range tests {
		start := time.Now()
		r, err := evaluate(ctx, cfg, ms, p, res.Lambda)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		res.Images = append(res.Images, r.imageResult)
		fmt.Fprintf(w, "\n%s, %d×%d (%.1f s):\n\n", p.name, p.clean.w, p.clean.h, time.Since(start).Seconds())
		if err := writeImageTable(w, r.imageResult, res.Params, cfg); err != nil {
			return nil, err
		}
		if i == 0 {
			first = r
		}
	}

	start = time.Now()
	if err := lipschitz(ctx, cfg, ms, tests[0], res); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "\nEmpirical Lipschitz number L_t of the t-step map from y⁰ = 0 on %d held-out 32×32 crops of %s (%.1f s):\n\n  ",
		cfg.lipschitzCrops, tests[0].name, time.Since(start).Seconds())
	for _, t := range budgets(cfg.maxBudget) {
		fmt.Fprintf(w, "t=%d: %.3f   ", t, res.Lipschitz[strconv.Itoa(t)])
	}
	fmt.Fprintf(w, "\n  one-pass explicit denoiser: %.3f\n", res.LipschitzExplicit)

	if err := writeQuad(cfg.imagePath, tests[0].obs, first.implicit, first.onePass, tests[0].clean); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "\nWrote %s (%s: observation | implicit at its fixed point | one-pass explicit | clean).\n", cfg.imagePath, tests[0].name)
	if cfg.jsonPath != "" {
		b, err := json.MarshalIndent(res, "", " ")
		if err == nil {
			err = atomicfile.WriteFile(cfg.jsonPath, append(b, '\n'), 0o644)
		}
		if err != nil {
			return nil, fmt.Errorf("-json: %w", err)
		}
		fmt.Fprintf(w, "Wrote %s.\n", cfg.jsonPath)
	}
	return res, nil
}

func gradientName(cfg config) string {
	name := fmt.Sprintf("implicit (forward ≤ %d iterations, adjoint ≤ %d)", cfg.forwardIters, cfg.backwardIters)
	if cfg.jacobianFree {
		name = "jacobian-free"
	}
	switch {
	case cfg.jacobianPenalty > 0 && cfg.jacobianPower > 0:
		name += fmt.Sprintf(", Jacobian penalty %g·σ_max(J)² (%d power steps)", cfg.jacobianPenalty, cfg.jacobianPower)
	case cfg.jacobianPenalty > 0:
		name += fmt.Sprintf(", Jacobian penalty %g·‖J‖²_F/n", cfg.jacobianPenalty)
	}
	return name
}

// loadTests reads the test photographs (-test, or the held-out one) and
// degrades each with its own noise.
func loadTests(cfg config, template *model.PnP) ([]pair, error) {
	var pairs []pair
	add := func(name string, g *grey, i int) error {
		obs, err := degrade(template, g, cfg.noise, rand.New(rand.NewPCG(cfg.seed, streamTest+uint64(10*i))))
		if err != nil {
			return err
		}
		pairs = append(pairs, pair{name: name, clean: g, obs: obs})
		return nil
	}
	if len(cfg.test) == 0 {
		g, err := loadPhoto(heldOutPhoto)
		if err != nil {
			return nil, err
		}
		return pairs, add(heldOutPhoto, g, 0)
	}
	for i, path := range cfg.test {
		g, err := loadFile(path)
		if err != nil {
			return nil, fmt.Errorf("-test: %w", err)
		}
		if err := add(path, g, i); err != nil {
			return nil, err
		}
	}
	return pairs, nil
}

// trainingPairs draws n crops of side pixels from the training photographs
// (each flipped at random), each degraded with the operator on the crop.
func trainingPairs(cfg config, template *model.PnP, n, side int, stream uint64) ([]pair, error) {
	var srcs []*grey
	for _, name := range trainingPhotos {
		g, err := loadPhoto(name)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, g)
	}
	rng := rand.New(rand.NewPCG(cfg.seed, stream))
	pairs := make([]pair, n)
	for i := range pairs {
		src := srcs[i%len(srcs)]
		c := src.crop(rng.IntN(src.w-side+1), rng.IntN(src.h-side+1), side, side)
		if rng.IntN(2) == 1 {
			flipRows(c)
		}
		if rng.IntN(2) == 1 {
			flipColumns(c)
		}
		obs, err := degrade(template, c, cfg.noise, rng)
		if err != nil {
			return nil, err
		}
		pairs[i] = pair{clean: c, obs: obs}
	}
	return pairs, nil
}

func flipRows(g *grey) {
	for y := range g.h / 2 {
		a, b := g.pix[y*g.w:(y+1)*g.w], g.pix[(g.h-1-y)*g.w:(g.h-y)*g.w]
		for i := range a {
			a[i], b[i] = b[i], a[i]
		}
	}
}

func flipColumns(g *grey) {
	for y := range g.h {
		row := g.pix[y*g.w : (y+1)*g.w]
		for i := range g.w / 2 {
			row[i], row[g.w-1-i] = row[g.w-1-i], row[i]
		}
	}
}

// matchingCNN returns the (depth, channels) of the explicit CNN, depth
// twice the denoiser's, whose parameter count is nearest target.
func matchingCNN(depth, target int) (int, int) {
	d, best, bestC := 2*depth, math.MaxInt, 1
	for c := 1; c <= 256; c++ {
		n := denoiserParams(d, c)
		if diff := abs(n - target); diff < best {
			best, bestC = diff, c
		}
	}
	return d, bestC
}

// denoiserParams counts a denoiser's parameters: 1 → C, C → C (L − 2
// times), C → 1, 3×3 kernels with biases.
func denoiserParams(depth, c int) int {
	return 10*c + (depth-2)*(9*c*c+c) + 9*c + 1
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// trainAll trains the implicit model and the two explicit baselines on the
// same crops, batches, epochs and learning rate.
func trainAll(ctx context.Context, cfg config, template *model.PnP, res *results, w io.Writer) (*models, error) {
	pairs, err := trainingPairs(cfg, template, cfg.crops, cfg.crop, streamCrops)
	if err != nil {
		return nil, err
	}
	px := cfg.crop * cfg.crop
	data := train.Data{N: len(pairs), X: make([]float64, 0, len(pairs)*px), Target: make([]float64, 0, len(pairs)*px)}
	for _, p := range pairs {
		data.X = append(data.X, p.obs.pix...)
		data.Target = append(data.Target, p.clean.pix...)
	}
	fmt.Fprintf(w, "Training on %d crops of %d×%d (their observations: %.2f dB), %d epochs, batch %d, Adam lr %g, MSE:\n",
		cfg.crops, cfg.crop, cfg.crop, unclippedPSNR(data.X, data.Target), cfg.epochs, cfg.batch, cfg.learningRate)
	implicitParams := denoiserParams(cfg.depth, cfg.chans) + 1
	cd, cc := matchingCNN(cfg.depth, implicitParams)
	rng := rand.New(rand.NewPCG(cfg.seed, streamInit+1))
	onePass, err := model.NewPnP(model.PnPConfig{Explicit: true, Height: cfg.crop, Width: cfg.crop, Noise: cfg.noise, Depth: cfg.depth, Channels: cfg.chans}, rng)
	if err != nil {
		return nil, err
	}
	cnn, err := model.NewPnP(model.PnPConfig{Explicit: true, Height: cfg.crop, Width: cfg.crop, Noise: cfg.noise, Depth: cd, Channels: cc}, rng)
	if err != nil {
		return nil, err
	}
	// Plug-and-play starts from a denoiser: each network is first trained to
	// remove white noise of σ = -denoise-sigma from the clean crops, in one
	// pass (cheap); the implicit model and the one-pass baseline start from
	// the same pretrained denoiser.
	if cfg.pretrainEpochs > 0 {
		noisy := train.Data{N: data.N, X: make([]float64, len(data.Target)), Target: data.Target}
		nrng := rand.New(rand.NewPCG(cfg.seed, streamInit+2))
		for i, v := range data.Target {
			noisy.X[i] = v + cfg.denoiseSigma*nrng.NormFloat64()
		}
		fmt.Fprintf(w, "Pretraining the denoisers on the clean crops with noise σ = %g, %d epochs:\n", cfg.denoiseSigma, cfg.pretrainEpochs)
		pre := cfg
		pre.epochs = cfg.pretrainEpochs
		for _, m := range []struct {
			name string
			a    *model.PnP
		}{{"denoiser", onePass}, {fmt.Sprintf("CNN L=%d C=%d", cd, cc), cnn}} {
			if err := fit(ctx, pre, m.a, noisy, train.GradientSettings{}, m.name, w); err != nil {
				return nil, fmt.Errorf("pretraining the %s: %w", m.name, err)
			}
		}
		for l := range onePass.Denoiser {
			copy(template.Denoiser[l].Weight, onePass.Denoiser[l].Weight)
			copy(template.Denoiser[l].Bias, onePass.Denoiser[l].Bias)
		}
	}
	fmt.Fprintf(w, "Training to restore, gradient %s:\n", gradientName(cfg))
	gs := train.GradientSettings{Forward: api.Settings{MaxIter: cfg.forwardIters, RelTol: 1e-4}, Backward: api.Settings{MaxIter: cfg.backwardIters, RelTol: 1e-4}, AllowUnconverged: true,
		JacobianPenalty: cfg.jacobianPenalty, JacobianPowerSteps: cfg.jacobianPower}
	if cfg.jacobianFree {
		gs.Mode = train.JacobianFree
	}
	for _, m := range []struct {
		name string
		a    *model.PnP
		gs   train.GradientSettings
	}{{"implicit " + cfg.splitting, template, gs}, {"(a) one-pass", onePass, train.GradientSettings{}}, {fmt.Sprintf("(b) CNN L=%d C=%d", cd, cc), cnn, train.GradientSettings{}}} {
		if err := fit(ctx, cfg, m.a, data, m.gs, m.name, w); err != nil {
			return nil, fmt.Errorf("training the %s model: %w", m.name, err)
		}
	}
	for name, a := range map[string]*model.PnP{"implicit": template, "explicit_one_pass": onePass, "explicit_cnn": cnn} {
		mm, err := model.New(a)
		if err != nil {
			return nil, err
		}
		res.Params[name] = mm.Info().Params
	}
	res.Setup["explicit_cnn"] = fmt.Sprintf("depth %d, %d channels", cd, cc)
	return &models{implicit: template, onePass: onePass, cnn: cnn}, nil
}

// fit trains a with Adam, printing each epoch's mean loss as a PSNR on the
// crops (unclipped) and the mean iterations.
func fit(ctx context.Context, cfg config, a *model.PnP, data train.Data, gs train.GradientSettings, name string, w io.Writer) error {
	tr, err := train.NewTrainer(a, train.TrainSettings{BatchSize: cfg.batch, LearningRate: cfg.learningRate, Seed: cfg.seed, Loss: train.MSE{}, Gradient: gs})
	if err != nil {
		return err
	}
	px := float64(a.Height * a.Width)
	start := time.Now()
	var last float64 // the last epoch's training PSNR
	for e := 1; e <= cfg.epochs; e++ {
		var loss, fwd, bwd, jac float64
		var steps int
		if err := tr.Epoch(ctx, data, func(s train.StepStats) {
			loss += s.Loss
			fwd += s.ForwardIters
			bwd += s.BackwardIters
			jac += s.Jacobian
			steps++
		}); err != nil {
			return err
		}
		n := float64(steps)
		last = 10 * math.Log10(px/(2*loss/n))
		line := fmt.Sprintf("  %-16s epoch %d: training PSNR %.2f dB", name, e, last)
		if !a.Explicit {
			line += fmt.Sprintf(", forward %.1f and adjoint %.1f iterations a crop", fwd/n, bwd/n)
			if a.Splitting == model.SplittingPGD {
				line += fmt.Sprintf(", γ = %.3f", a.Gamma[0])
			} else {
				line += fmt.Sprintf(", β = %.4f", a.Beta[0])
			}
			if gs.JacobianPenalty > 0 {
				line += fmt.Sprintf(", Jacobian estimate %.3g", jac/n)
			}
		}
		fmt.Fprintf(w, "%s (%.0f s)\n", line, time.Since(start).Seconds())
	}
	// A residual network whose ReLUs have all died outputs its input, and
	// no gradient revives it: say so, or its results would pass for a
	// baseline's.
	if !a.Explicit {
		return nil
	}
	if in := unclippedPSNR(data.X, data.Target); stuckAtInput(last, in) {
		fmt.Fprintf(w, "  warning: %s has not learned: its training PSNR, %.2f dB, is its input's (%.2f dB); its ReLUs have likely died (try a lower -lr)\n", name, last, in)
	}
	return nil
}

// unclippedPSNR is the PSNR in dB of x against target, peak 1, as training
// measures it: without psnr's clipping to [0, 1].
func unclippedPSNR(x, target []float64) float64 {
	var se float64
	for i, v := range x {
		d := v - target[i]
		se += d * d
	}
	return 10 * math.Log10(float64(len(x))/se)
}

// stuckAtInput reports whether a trained explicit network's PSNR is its
// input's, to within rounding.
func stuckAtInput(trained, input float64) bool { return math.Abs(trained-input) < 0.005 }

// budgets are 1, 2, 4, … up to max.
func budgets(max int) []int {
	var b []int
	for t := 1; t <= max; t *= 2 {
		b = append(b, t)
	}
	return b
}

// restored is one test photograph's results and the images shown.
type restored struct {
	imageResult
	implicit, onePass *grey
}

// at returns a for an image of w×h pixels, as a model.
func at(a *model.PnP, w, h int) (*model.Model, error) {
	r, err := model.Resize(a, h, w)
	if err != nil {
		return nil, err
	}
	return model.New(r)
}

// evaluate restores one test photograph with every method.
func evaluate(ctx context.Context, cfg config, ms *models, p pair, lambda map[string]float64) (*restored, error) {
	w, h := p.clean.w, p.clean.h
	r := &restored{imageResult: imageResult{Name: p.name, Width: w, Height: h, Degraded: psnr(p.obs.pix, p.clean.pix)}}
	im, err := at(ms.implicit, w, h)
	if err != nil {
		return nil, err
	}
	var fixed []float64
	if r.Implicit, fixed, err = sweep(ctx, cfg, im, p, nil); err != nil {
		return nil, err
	}
	r.implicit = &grey{w: w, h: h, pix: fixed}
	if r.FromObservation, _, err = sweep(ctx, cfg, im, p, p.obs.pix); err != nil {
		return nil, err
	}
	for _, e := range []struct {
		a   *model.PnP
		dst *float64
		img **grey
	}{{ms.onePass, &r.ExplicitOnePass, &r.onePass}, {ms.cnn, &r.ExplicitCNN, nil}} {
		m, err := at(e.a, w, h)
		if err != nil {
			return nil, err
		}
		out, err := m.Infer(ctx, p.obs.pix, api.Settings{})
		if err != nil {
			return nil, err
		}
		*e.dst = psnr(out.Y, p.clean.pix)
		if e.img != nil {
			*e.img = &grey{w: w, h: h, pix: out.Y}
		}
	}
	o, err := newOperator(ms.implicit, w, h)
	if err != nil {
		return nil, err
	}
	r.Tikhonov = psnr(tikhonov(o, p.obs.pix, lambda["tikhonov"], cfg.baselineIters), p.clean.pix)
	r.TV = psnr(tv(o, p.obs.pix, lambda["tv"], cfg.baselineIters), p.clean.pix)
	return r, nil
}

// sweep iterates the implicit model's map from y⁰ = init (nil: 0) on the
// observation, recording the PSNR after t = 1, 2, 4, … iterations, then
// solves on to the fixed point (Anderson from the last iterate, relative
// residual 1e-4, at most 150 more iterations).
func sweep(ctx context.Context, cfg config, m *model.Model, p pair, init []float64) (implicitRun, []float64, error) {
	run := implicitRun{T: map[string]float64{}}
	layer := m.Layer()
	n := len(p.obs.pix)
	prob := layer.Problem(layer.Inject(p.obs.pix, 1), 1)
	y, next := make([]float64, n), make([]float64, n)
	if init != nil {
		copy(y, init)
	}
	bs := budgets(cfg.maxBudget)
	last := bs[len(bs)-1]
	for t := 1; t <= last; t++ {
		if err := ctx.Err(); err != nil {
			return run, nil, err
		}
		prob.F(next, y, []int{0})
		y, next = next, y
		for _, b := range bs {
			if b == t {
				run.T[strconv.Itoa(t)] = psnr(y, p.clean.pix)
			}
		}
	}
	out, err := m.Infer(ctx, p.obs.pix, api.Settings{Init: y, MaxIter: 150, RelTol: 1e-4})
	if out == nil {
		return run, nil, err
	}
	run.FixedPoint, run.FixedPointIters, run.Converged = psnr(out.Y, p.clean.pix), last+out.Result.Iterations, out.Result.Status == api.Converged
	return run, out.Y, nil
}

// lipschitz measures L_t of the implicit model (and of the one-pass
// denoiser) with scale.Analysis on crops of the test photograph's
// observation, plain iteration from 0.
func lipschitz(ctx context.Context, cfg config, ms *models, p pair, res *results) error {
	const side = 32
	if p.clean.w < side || p.clean.h < side {
		return nil
	}
	rng := rand.New(rand.NewPCG(cfg.seed, streamTest+1))
	var x, target []float64
	for range cfg.lipschitzCrops {
		x0, y0 := rng.IntN(p.clean.w-side+1), rng.IntN(p.clean.h-side+1)
		x = append(x, p.obs.crop(x0, y0, side, side).pix...)
		target = append(target, p.clean.crop(x0, y0, side, side).pix...)
	}
	im, err := at(ms.implicit, side, side)
	if err != nil {
		return err
	}
	pts, err := scale.Analysis(ctx, im, x, target, train.MSE{}, scale.Settings{MaxBudget: cfg.maxBudget, Method: &api.Picard{}, Perturbations: 4, Seed: cfg.seed})
	if err != nil {
		return fmt.Errorf("L_t: %w", err)
	}
	for _, pt := range pts {
		res.Lipschitz[strconv.Itoa(pt.Budget)] = pt.Lipschitz
	}
	em, err := at(ms.onePass, side, side)
	if err != nil {
		return err
	}
	pts, err = scale.Analysis(ctx, em, x, target, train.MSE{}, scale.Settings{MaxBudget: 1, Perturbations: 4, Seed: cfg.seed})
	if err != nil {
		return fmt.Errorf("L of the one-pass denoiser: %w", err)
	}
	res.LipschitzExplicit = pts[0].Lipschitz
	return nil
}

// writeImageTable prints one photograph's PSNR by method.
func writeImageTable(w io.Writer, r imageResult, params map[string]int, cfg config) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "method\tparameters\tPSNR dB\tgain dB\t")
	row := func(name, n string, v float64) {
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%+.2f\t\n", name, n, v, v-r.Degraded)
	}
	row("observation", "–", r.Degraded)
	row("Tikhonov", "–", r.Tikhonov)
	row("TV", "–", r.TV)
	row("(a) explicit, the denoiser once", strconv.Itoa(params["explicit_one_pass"]), r.ExplicitOnePass)
	row("(b) explicit CNN, equal size", strconv.Itoa(params["explicit_cnn"]), r.ExplicitCNN)
	np := strconv.Itoa(params["implicit"])
	for _, t := range budgets(cfg.maxBudget) {
		k := strconv.Itoa(t)
		fmt.Fprintf(tw, "implicit %s, t = %d (y⁰ = 0 | y⁰ = x)\t%s\t%.2f | %.2f\t%+.2f\t\n", cfg.splitting, t, np, r.Implicit.T[k], r.FromObservation.T[k], r.Implicit.T[k]-r.Degraded)
	}
	fp := func(run implicitRun) string {
		s := fmt.Sprintf("%d it.", run.FixedPointIters)
		if !run.Converged {
			s += ", not converged"
		}
		return s
	}
	fmt.Fprintf(tw, "implicit %s, fixed point (%s | %s)\t%s\t%.2f | %.2f\t%+.2f\t\n", cfg.splitting, fp(r.Implicit), fp(r.FromObservation), np,
		r.Implicit.FixedPoint, r.FromObservation.FixedPoint, r.Implicit.FixedPoint-r.Degraded)
	return tw.Flush()
}

// writeQuad writes the images side by side, 8 white pixels apart.
func writeQuad(path string, imgs ...*grey) error {
	const gap = 8
	w, h := imgs[0].w, imgs[0].h
	out := image.NewGray(image.Rect(0, 0, len(imgs)*w+(len(imgs)-1)*gap, h))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	for i, g := range imgs {
		r := image.Rect(i*(w+gap), 0, i*(w+gap)+w, h)
		draw.Draw(out, r, g.toImage(), image.Point{}, draw.Src)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, out); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b.Bytes(), 0o644)
}
