// Command imaging is the image-reconstruction case study of Liu, Ding, Osher,
// Yin, "Implicit Models: Expressive Power Scales with Test-Time Compute"
// (arXiv:2510.03638), at the scale of a laptop: plug-and-play deblurring
// with a learned convolutional denoiser, as the paper does it.
//
//	go run ./examples/imaging [-splitting hqs|pgd] [-blur gaussian|motion] [-long] [-test a.png,b.png] [-json out.json] [-model out.safetensors]
//
// A photograph y is blurred by a known kernel A (a Gaussian, σ = 1.6 px, or
// a horizontal motion blur) with symmetric boundaries, and white Gaussian
// noise of σ = 0.03 is added: x = A y + ε. The implicit model (the pnp kind
// of core/model) restores it as the fixed point of
//
//	PGD: G(y, x) = H_θ(y − γ Aᵀ(A y − x))
//	HQS: G(y, x) = H_θ((AᵀA + βI)⁻¹(Aᵀ x + βy))
//
// with H_θ a small DnCNN-style residual denoiser (3×3 convolutions and
// ReLUs, 16 channels, depth 5), γ or β trained with it, by implicit
// differentiation (forward up to 100 iterations, adjoint up to 20, as the
// paper; -jacobian-free drops the adjoint). It trains on crops of two
// shipped photographs and restores whole held-out photographs of any size
// (convolution is translation-invariant: the same tensors, model.Resize).
//
// It reports the held-out PSNR after t = 1, 2, 4, …, 64 iterations and at
// the fixed point, from y⁰ = 0 (the theory's case, as training runs) and from
// y⁰ = x (the observation), the empirical Lipschitz number L_t of the t-step
// map (scale.Analysis on held-out crops), and the baselines: (a) the same
// denoiser trained to restore in one pass, y = H_θ(x) (the paper's explicit
// baseline, equal parameters); (b) an explicit CNN of the same form, deeper
// and narrower, with the implicit model's parameter count; (c) Tikhonov
// and TV-regularised reconstructions that know A (λ chosen on training
// crops).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
	"github.com/implicitlab/implicit/internal/atomicfile"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		if !errors.Is(err, errFlagSyntax) { // the flag package has said it
			fmt.Fprintln(os.Stderr, "imaging:", err)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "imaging:", err)
		os.Exit(1)
	}
	fmt.Printf("\nTotal time %.1f s (GOMAXPROCS %d).\n", time.Since(start).Seconds(), runtime.GOMAXPROCS(0))
}

// config is the case study's settings, from the flags.
type config struct {
	splitting       string
	blur            string
	sigma           float64
	motion          int
	noise           float64
	crop, crops     int
	epochs, batch   int
	learningRate    float64
	depth, chans    int
	gamma, beta     float64
	jacobianFree    bool
	jacobianPenalty float64 // γ of the implicit model's Jacobian penalty
	jacobianPower   int     // and its probes' power steps
	pretrainEpochs  int
	denoiseSigma    float64
	forwardIters    int
	backwardIters   int
	maxBudget       int
	lipschitzCrops  int
	baselineIters   int
	test            []string
	jsonPath        string
	modelPath       string
	imagePath       string
	seed            uint64
	long            bool
}

func parseFlags(args []string, errOut io.Writer) (config, error) {
	var c config
	var test string
	fs := flag.NewFlagSet("imaging", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&c.splitting, "splitting", model.SplittingHQS, "the plug-and-play operator: hqs or pgd")
	fs.StringVar(&c.blur, "blur", "gaussian", "the blur: gaussian (σ = -sigma) or motion (horizontal, -motion pixels)")
	fs.Float64Var(&c.sigma, "sigma", 1.6, "standard deviation of the Gaussian blur, pixels (its kernel is truncated at 3σ)")
	fs.IntVar(&c.motion, "motion", 9, "length of the motion blur, pixels (odd)")
	fs.Float64Var(&c.noise, "noise", 0.03, "standard deviation of the added noise, intensities in [0, 1]")
	fs.IntVar(&c.crop, "crop", 40, "side of the training crops, pixels")
	fs.IntVar(&c.crops, "crops", 480, "training crops drawn from the training photographs")
	fs.IntVar(&c.epochs, "epochs", 4, "training epochs")
	fs.IntVar(&c.batch, "batch", 8, "crops a mini-batch")
	fs.Float64Var(&c.learningRate, "lr", 3e-3, "Adam learning rate")
	fs.IntVar(&c.depth, "depth", 5, "convolutions of the denoiser")
	fs.IntVar(&c.chans, "channels", 16, "channels of the denoiser")
	fs.Float64Var(&c.gamma, "gamma", 1, "initial step γ of PGD (trained)")
	fs.Float64Var(&c.beta, "beta", 0.1, "initial penalty β of HQS (trained; > 0)")
	fs.IntVar(&c.pretrainEpochs, "pretrain-epochs", 10, "epochs of pretraining the denoisers on noisy crops (0: none)")
	fs.Float64Var(&c.denoiseSigma, "denoise-sigma", 0.05, "noise σ of the denoisers' pretraining")
	fs.BoolVar(&c.jacobianFree, "jacobian-free", false, "train with the Jacobian-free gradient (no adjoint solve)")
	fs.Float64Var(&c.jacobianPenalty, "jacobian-penalty", 0, "γ of the implicit model's Jacobian penalty γ‖J‖²_F/n at its fixed point (Bai et al. 2021), which keeps G contractive under plain iteration; 0: none, as the paper")
	fs.IntVar(&c.jacobianPower, "jacobian-power-steps", 0, "power iterations that turn the penalty's probes into top singular vectors, so that it penalises σ_max(J)² (0: Gaussian probes, ‖J‖²_F/n)")
	fs.IntVar(&c.forwardIters, "forward-iters", 100, "iteration limit of training's forward solves")
	fs.IntVar(&c.backwardIters, "backward-iters", 20, "iteration limit of training's adjoint solves")
	fs.IntVar(&c.maxBudget, "max-budget", 64, "largest iteration budget t reported")
	fs.IntVar(&c.lipschitzCrops, "lipschitz-crops", 4, "held-out 32×32 crops for the Lipschitz numbers L_t")
	fs.IntVar(&c.baselineIters, "baseline-iters", 150, "iterations of the Tikhonov (conjugate gradients) and TV baselines")
	fs.StringVar(&test, "test", "", "comma-separated PNGs to restore instead of the held-out photograph (colour is made grey; cropped to at most 512×512)")
	fs.StringVar(&c.jsonPath, "json", "", "write the results as JSON to this file")
	fs.StringVar(&c.modelPath, "model", "", "save the trained implicit model to this file")
	fs.StringVar(&c.imagePath, "image", filepath.Join(atomicfile.OutDir, "imaging.png"), "PNG of the first test image: observation | implicit | one-pass explicit | clean (the default directory is made)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the noise, the crops, the initialisation and the batches")
	fs.BoolVar(&c.long, "long", false, "a longer run, closer to the paper's budget: 960 crops of 48×48, 5 epochs")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("%w: %w", errFlagSyntax, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.long {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["crops"] {
			c.crops = 960
		}
		if !set["crop"] {
			c.crop = 48
		}
		if !set["epochs"] {
			c.epochs = 5
		}
	}
	if test != "" {
		c.test = strings.Split(test, ",")
	}
	return c, c.validate()
}

// errFlagSyntax marks the errors the flag package has already reported.
var errFlagSyntax = errors.New("bad flags")

func (c config) validate() error {
	if c.splitting != model.SplittingHQS && c.splitting != model.SplittingPGD {
		return fmt.Errorf("-splitting %q: want hqs or pgd", c.splitting)
	}
	switch c.blur {
	case "gaussian":
		if !(c.sigma > 0 && c.sigma <= 10) {
			return fmt.Errorf("-sigma %v: want a standard deviation in (0, 10] pixels", c.sigma)
		}
	case "motion":
		if c.motion < 1 || c.motion%2 == 0 || c.motion > 63 {
			return fmt.Errorf("-motion %d: want an odd length from 1 to 63 pixels", c.motion)
		}
	default:
		return fmt.Errorf("-blur %q: want gaussian or motion", c.blur)
	}
	for _, v := range []struct {
		name string
		v    int
	}{{"crops", c.crops}, {"epochs", c.epochs}, {"batch", c.batch}, {"channels", c.chans}, {"forward-iters", c.forwardIters},
		{"backward-iters", c.backwardIters}, {"max-budget", c.maxBudget}, {"lipschitz-crops", c.lipschitzCrops}, {"baseline-iters", c.baselineIters}} {
		if v.v < 1 {
			return fmt.Errorf("-%s %d: want at least 1", v.name, v.v)
		}
	}
	switch {
	case c.crop < 8 || c.crop > 256:
		return fmt.Errorf("-crop %d: want 8 to 256 pixels", c.crop)
	case c.depth < 2 || c.depth > 64:
		return fmt.Errorf("-depth %d: want 2 to 64 convolutions", c.depth)
	case !(c.noise >= 0 && c.noise <= 1):
		return fmt.Errorf("-noise %v: want a standard deviation in [0, 1]", c.noise)
	case !(c.learningRate > 0 && c.learningRate < 1):
		return fmt.Errorf("-lr %v: want a learning rate in (0, 1)", c.learningRate)
	case !(c.gamma > 0 && c.gamma < 10):
		return fmt.Errorf("-gamma %v: want a step in (0, 10)", c.gamma)
	case !(c.beta > 0 && c.beta < 100):
		return fmt.Errorf("-beta %v: want a penalty in (0, 100)", c.beta)
	case c.pretrainEpochs < 0:
		return fmt.Errorf("-pretrain-epochs %d: want at least 0", c.pretrainEpochs)
	case !(c.denoiseSigma > 0 && c.denoiseSigma <= 1):
		return fmt.Errorf("-denoise-sigma %v: want a standard deviation in (0, 1]", c.denoiseSigma)
	case c.maxBudget > 4096:
		return fmt.Errorf("-max-budget %d: want at most 4096", c.maxBudget)
	}
	if err := (train.GradientSettings{JacobianPenalty: c.jacobianPenalty, JacobianPowerSteps: c.jacobianPower}).CheckJacobianPenalty(); err != nil {
		return fmt.Errorf("-jacobian-penalty %v, -jacobian-power-steps %d: %w", c.jacobianPenalty, c.jacobianPower, err)
	}
	for _, p := range c.test {
		if p == "" {
			return fmt.Errorf("-test: an empty path in the list")
		}
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("-test: %w", err)
		}
	}
	for _, f := range []struct{ name, path string }{{"image", c.imagePath}, {"json", c.jsonPath}, {"model", c.modelPath}} {
		if f.name == "image" && f.path == "" {
			return fmt.Errorf("-image needs a path")
		}
		if f.path == "" {
			continue
		}
		// Fail now, not after the training.
		if err := atomicfile.CheckOutput(f.path); err != nil {
			return fmt.Errorf("-%s %w", f.name, err)
		}
	}
	return nil
}

// kernel is the blur the flags describe.
func (c config) kernel() model.Matrix {
	if c.blur == "motion" {
		return motionKernel(c.motion)
	}
	return gaussianKernel(c.sigma)
}

func (c config) describeBlur() string {
	if c.blur == "motion" {
		return fmt.Sprintf("horizontal motion blur over %d px", c.motion)
	}
	k := c.kernel()
	return fmt.Sprintf("Gaussian blur σ = %g px (%d×%d kernel)", c.sigma, k.Rows, k.Cols)
}
