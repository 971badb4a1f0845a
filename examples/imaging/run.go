package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math/rand/v2"
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

// results are what the case study measured on the held-out photograph.
type results struct {
	degraded         float64 // PSNR of the degraded image, dB
	tikhonov, lambda float64 // PSNR of the Tikhonov baseline and its λ
	mlp              float64 // PSNR of the explicit network
	budgets          []int
	implicit         []float64 // PSNR after budgets[i] iterations
	converged        float64   // PSNR at the fixed point
	convergedIters   int       // the most any window took
	convergedStatus  api.Status
	scale            []scale.Point
	windows          int // the held-out image's windows
}

// Streams of the seed, one for each use, so that changing one size does not
// change the draws of another.
const (
	streamTrain = 1000 + iota
	streamScales
	streamHeldOut
)

// run carries out the case study on the training pairs and the held-out
// one, writing the report to w and the PNGs to the configured paths.
func run(ctx context.Context, cfg config, trainPairs []pair, held pair, w io.Writer) (*results, error) {
	t := cfg.tiling
	fmt.Fprintf(w, "Degradation: Gaussian blur σ = %g px, then noise σ = %g.\n", cfg.blurSigma, cfg.noise)
	fmt.Fprintf(w, "Model input: a %d×%d degraded window minus its mean; output: the residual of the %d×%d square at its centre; images rebuilt with stride %d.\n\n",
		t.in, t.in, t.out, t.out, t.stride)
	res := &results{degraded: psnr(held.deg, held.clean)}
	start := time.Now()
	res.lambda = bestLambda(trainPairs, cfg.blurSigma, cfg.tikhonovIters)
	res.tikhonov = psnr(tikhonov(held.deg, cfg.blurSigma, res.lambda, cfg.tikhonovIters), held.clean)
	fmt.Fprintf(w, "Tikhonov baseline: λ = %g chosen on the training photographs (%.1f s).\n", res.lambda, time.Since(start).Seconds())

	sc := t.fitScales(trainPairs, cfg.trainSquares, rand.New(rand.NewPCG(cfg.seed, streamScales)))
	implicit, mlp, err := trainModels(ctx, cfg, trainPairs, sc, w)
	if err != nil {
		return nil, err
	}
	method, err := cfg.testMethod()
	if err != nil {
		return nil, err
	}
	start = time.Now()
	sx, sy := t.sample([]pair{held}, cfg.scaleSquares, sc, rand.New(rand.NewPCG(cfg.seed, streamHeldOut)))
	res.scale, err = scale.Analysis(ctx, implicit, sx, sy, train.MSE{}, scale.Settings{MaxBudget: cfg.maxBudget, Method: method, Seed: cfg.seed})
	if err != nil {
		return nil, fmt.Errorf("test-time compute analysis: %w", err)
	}
	scaleTime := time.Since(start)

	start = time.Now()
	fixed, err := res.reconstruct(ctx, cfg, held, sc, implicit, mlp, method)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "\nHeld-out reconstruction, %d windows (%.1f s for all budgets):\n\n", res.windows, time.Since(start).Seconds())
	if err := writeComparison(w, res, cfg); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "\nTest-time compute on %d held-out squares (%.1f s); loss is ½‖y − target‖² per square in units of the\ntraining residual's rms (%.4f), so a loss ℓ is a pixel RMSE of %.4f·√(2ℓ/%d):\n\n",
		cfg.scaleSquares, scaleTime.Seconds(), 1/sc.y, 1/sc.y, t.q())
	if err := scalereport.WriteTable(w, res.scale, false); err != nil {
		return nil, err
	}
	if err := scalereport.WritePNG(cfg.plotPath, "imaging: monotone deq-dense, held-out squares", res.scale); err != nil {
		return nil, err
	}
	if err := writeTriptych(cfg.imagePath, held.deg, fixed, held.clean); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "\nWrote %s (degraded | implicit at its fixed point | clean) and %s.\n", cfg.imagePath, cfg.plotPath)
	return res, nil
}

// trainModels trains the implicit model and the explicit network on the same
// squares drawn from the training pairs.
func trainModels(ctx context.Context, cfg config, trainPairs []pair, sc scales, w io.Writer) (implicit, mlp *model.Model, err error) {
	x, y := cfg.sample(trainPairs, cfg.trainSquares, sc, rand.New(rand.NewPCG(cfg.seed, streamTrain)))
	data := train.Data{X: x, Target: y, N: cfg.trainSquares}
	ri, re := recipes(cfg)
	fmt.Fprintf(w, "Training on %d squares, %d epochs, batch %d, Adam lr %g, MSE:\n", cfg.trainSquares, cfg.epochs, cfg.batch, cfg.learningRate)
	if implicit, err = fit(ctx, ri, data, cfg, w, "implicit"); err != nil {
		return nil, nil, fmt.Errorf("training the implicit model: %w", err)
	}
	if mlp, err = fit(ctx, re, data, cfg, w, "explicit"); err != nil {
		return nil, nil, fmt.Errorf("training the explicit model: %w", err)
	}
	return implicit, mlp, nil
}

// reconstruct rebuilds the held-out photograph with the implicit model after
// each budget of the scale analysis, at its fixed point, and with the explicit
// network, recording their PSNR; it returns the fixed point's image.
func (res *results) reconstruct(ctx context.Context, cfg config, held pair, sc scales, implicit, mlp *model.Model, method api.Method) (*grey, error) {
	x, at := cfg.tiles(held.deg, sc)
	res.windows = len(at)
	rebuild := func(m *model.Model, s api.Settings) (*grey, *api.Output, error) {
		out, err := m.Infer(ctx, x, s)
		if err != nil {
			return nil, nil, err
		}
		return cfg.assemble(held.deg, out.Y, at, sc), out, nil
	}
	for _, pt := range res.scale {
		// Exactly t iterations from z⁰ = 0, as scale.Analysis runs them.
		img, _, err := rebuild(implicit, api.Settings{Method: method, MaxIter: pt.Budget, RelTol: -1, DivergenceRatio: -1})
		if err != nil {
			return nil, fmt.Errorf("implicit model, %d iterations: %w", pt.Budget, err)
		}
		res.budgets = append(res.budgets, pt.Budget)
		res.implicit = append(res.implicit, psnr(img, held.clean))
	}
	fixed, out, err := rebuild(implicit, api.Settings{Method: method, MaxIter: 1000})
	if err != nil {
		return nil, fmt.Errorf("implicit model at its fixed point: %w", err)
	}
	res.converged, res.convergedIters, res.convergedStatus = psnr(fixed, held.clean), out.Result.Iterations, out.Result.Status
	explicit, _, err := rebuild(mlp, api.Settings{})
	if err != nil {
		return nil, fmt.Errorf("explicit model: %w", err)
	}
	res.mlp = psnr(explicit, held.clean)
	return fixed, nil
}

// recipes are the implicit model's training run (monotone relu, m = 0.5,
// MSE) and the explicit network's: as nearly as possible its parameter
// count, trained the same way.
func recipes(cfg config) (implicit, mlp models.Recipe) {
	implicit = models.Recipe{
		Hidden: cfg.hidden, Param: model.Monotone, Activation: model.ReLU, Monotone: 0.5,
		Epochs: cfg.epochs, BatchSize: cfg.batch, LearningRate: cfg.learningRate, Seed: cfg.seed, Loss: train.MSE{},
	}
	return implicit, implicit.MatchingMLP(cfg.p(), cfg.q())
}

// fit trains the recipe's model, printing the first and last epochs' mean
// loss and forward iterations.
func fit(ctx context.Context, r models.Recipe, data train.Data, cfg config, w io.Writer, name string) (*model.Model, error) {
	start := time.Now()
	var epoch, steps int
	var loss, iters float64
	report := func() {
		if epoch == 1 || epoch == r.Epochs {
			fmt.Fprintf(w, "  %-8s epoch %2d: loss %.4f, forward iterations %.1f a square\n", name, epoch, loss/float64(steps), iters/float64(steps))
		}
	}
	m, err := r.Train(ctx, data, cfg.p(), cfg.q(), func(s train.StepStats) {
		if s.Epoch != epoch {
			if epoch > 0 {
				report()
			}
			epoch, steps, loss, iters = s.Epoch, 0, 0, 0
		}
		loss += s.Loss
		iters += s.ForwardIters
		steps++
	})
	if err != nil {
		return nil, err
	}
	report()
	fmt.Fprintf(w, "  %-8s trained in %.1f s\n", name, time.Since(start).Seconds())
	return m, nil
}

// writeComparison prints the held-out PSNR of every method.
func writeComparison(w io.Writer, res *results, cfg config) error {
	implicit, mlp := recipes(cfg)
	p, q := cfg.p(), cfg.q()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "method\tparameters\tPSNR dB\tgain dB\t")
	row := func(name, n string, v float64) {
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%+.2f\t\n", name, n, v, v-res.degraded)
	}
	row("degraded input", "–", res.degraded)
	row(fmt.Sprintf("Tikhonov deconvolution, λ = %g", res.lambda), "–", res.tikhonov)
	row(fmt.Sprintf("explicit MLP, %d hidden", mlp.Hidden), fmt.Sprint(mlp.Params(p, q)), res.mlp)
	for i, b := range res.budgets {
		row(fmt.Sprintf("implicit, t = %d", b), fmt.Sprint(implicit.Params(p, q)), res.implicit[i])
	}
	fp := fmt.Sprintf("implicit, fixed point (at most %d iterations)", res.convergedIters)
	if res.convergedStatus != api.Converged {
		fp = fmt.Sprintf("implicit, at most %d iterations (%s, not converged)", res.convergedIters, res.convergedStatus)
	}
	row(fp, fmt.Sprint(implicit.Params(p, q)), res.converged)
	return tw.Flush()
}

// writeTriptych writes the three images side by side, 8 white pixels apart.
func writeTriptych(path string, imgs ...*grey) error {
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
