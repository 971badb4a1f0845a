package models

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
)

// Recipe is a training run's configuration: what implicit train's flags
// set, and how the default digits model was made.
type Recipe struct {
	Hidden     int
	Param      model.Parametrization
	Activation model.Activation
	Monotone   float64 // m, for the monotone parametrisation
	// MLP trains the explicit baseline y = C σ(U x + b) + c, the mlp kind,
	// from the same initial U, b, C and c as the implicit model's.
	MLP          bool
	Epochs       int
	BatchSize    int
	LearningRate float64
	Seed         uint64
	Gradient     train.GradientSettings
	// Loss is the training loss; nil means CrossEntropy.
	Loss train.Loss
	// Conv, if set, makes the model convolutional: deq-conv, or the
	// explicit cnn when its Depth is set. Hidden, Param, Activation,
	// Monotone and MLP are then unused.
	Conv *ConvRecipe
}

// ConvRecipe is a convolutional model's shape: its input images and its
// layers.
type ConvRecipe struct {
	InChannels, Height, Width int // an input image, c_in·H·W = p
	Channels, Inner           int // C and I
	Groups, Pool              int // G and P
	// CellStd is the cell's initial weight scale; 0 means 0.01.
	CellStd float64
	// Depth > 0 trains the explicit cnn of that many cells instead of
	// deq-conv.
	Depth int
	// Tol and MaxIter, if set, are the deq-conv model file's own solver
	// defaults (implicit.tol, implicit.max_iter), which training's solves
	// use too.
	Tol     float64
	MaxIter int
}

// DigitsConv is implicit train --arch conv's default shape for the digits:
// 8×8 grey images, C = 32, I = 16, G = 4, pool 2 (with fewer state channels,
// C = 16, the cell at its initial weights does not converge on every digit),
// solved to 1e-4 in at most 100 iterations, the tolerances DEQ training
// libraries use for convolutional cells.
var DigitsConv = ConvRecipe{InChannels: 1, Height: 8, Width: 8, Channels: 32, Inner: 16, Groups: 4, Pool: 2, Tol: 1e-4, MaxIter: 100}

// DigitsRecipe made digits.safetensors; its values are implicit train's
// defaults.
var DigitsRecipe = Recipe{
	Hidden: 64, Param: model.Monotone, Activation: model.ReLU, Monotone: 0.5,
	Epochs: 30, BatchSize: 32, LearningRate: 3e-3, Seed: 1,
}

// DigitsConvRecipe made digits-conv.safetensors: implicit train --arch conv's
// defaults with 10 epochs.
var DigitsConvRecipe = Recipe{
	Conv: &DigitsConv, Epochs: 10, BatchSize: 32, LearningRate: 3e-3, Seed: 1,
	Gradient: train.GradientSettings{AllowUnconverged: true},
}

// The limits of a recipe, checked before anything is allocated, so that a
// size from a flag or a data file (a class label of 1e12, --hidden 1e9)
// is an error naming it rather than a panic or an exhausted memory.
const (
	// MaxParams is the largest model: 2²³ (8.4 million) parameters, 67 MB
	// as float64; training holds about five copies (the parameters, the
	// gradient, Adam's two moments, a checkpoint's encoding), and the
	// training state holds three (201 MB; the command line reads files of
	// up to 256 MiB).
	MaxParams = 1 << 23
	// MaxBatch is the largest mini-batch.
	MaxBatch = 1 << 16
	// MaxStepValues bounds a training step's largest buffers: the batch
	// times a sample's state (for a convolutional model, its 3×3 patches:
	// 9 values a pixel and channel), 2²⁴ values, 134 MB as float64.
	MaxStepValues = 1 << 24
)

// sizes returns the number of parameters of the recipe's model with p
// inputs and q outputs, and the values a sample's step buffers hold, as
// float64s so that no product of untrusted sizes overflows. Those of a
// convolutional model are within a few per cent (its norms' counts
// rounded up).
func (r Recipe) sizes(p, q int) (params, step float64) {
	fp, fq := float64(p), float64(q)
	if c := r.Conv; c != nil {
		cc, ii, cin := float64(c.Channels), float64(c.Inner), float64(c.InChannels)
		pixels := float64(c.Height) * float64(c.Width)
		pooled := pixels / float64(max(c.Pool, 1)*max(c.Pool, 1))
		frame := 9*cin*cc + cc + 2*2*cc + fq*cc*pooled + fq
		cell := 2*9*ii*cc + 2*ii + 4*cc
		return frame + float64(max(c.Depth, 1))*cell, 9 * pixels * max(cc, ii, cin)
	}
	h := float64(r.Hidden)
	params = h*(fp+1) + fq*(h+1)
	switch {
	case r.MLP:
	case r.Param == model.Monotone:
		params += 2 * h * h
	default:
		params += h * h
	}
	return params, max(h, fp, fq)
}

// checkSizes reports sizes over the limits, naming them.
func (r Recipe) checkSizes(p, q int) error {
	params, _ := r.sizes(p, q)
	if params <= MaxParams {
		return nil
	}
	what := fmt.Sprintf("h = %d", r.Hidden)
	if c := r.Conv; c != nil {
		what = fmt.Sprintf("C = %d channels, I = %d inner channels, %d×%d×%d images, depth %d", c.Channels, c.Inner, c.Height, c.Width, c.InChannels, max(c.Depth, 1))
	}
	return fmt.Errorf("%s, %d inputs and %d outputs make a model of about %.3g parameters, over the limit of %d (models.MaxParams)", what, p, q, params, MaxParams)
}

// NewTrainer initialises a model of p inputs and q outputs from the seed and
// returns its trainer.
func (r Recipe) NewTrainer(p, q int) (*train.Trainer, error) {
	if r.BatchSize < 1 || r.Epochs < 1 {
		return nil, fmt.Errorf("batch size %d, epochs %d: want at least 1", r.BatchSize, r.Epochs)
	}
	if r.BatchSize > MaxBatch {
		return nil, fmt.Errorf("batch size %d: over the limit of %d (models.MaxBatch)", r.BatchSize, MaxBatch)
	}
	a, err := r.Init(p, q) // which checks the sizes
	if err != nil {
		return nil, err
	}
	if _, step := r.sizes(p, q); float64(r.BatchSize)*step > MaxStepValues {
		return nil, fmt.Errorf("batch size %d × %.0f values a sample = %.3g values a step, over the limit of %d (models.MaxStepValues): use a smaller batch",
			r.BatchSize, step, float64(r.BatchSize)*step, MaxStepValues)
	}
	return train.NewTrainer(a, train.TrainSettings{BatchSize: r.BatchSize, LearningRate: r.LearningRate, Seed: r.Seed, Gradient: r.Gradient, Loss: r.Loss})
}

// Init returns the recipe's model of p inputs and q outputs with its initial
// parameters, drawn from the seed.
func (r Recipe) Init(p, q int) (model.Architecture, error) {
	if c := r.Conv; c != nil && float64(c.InChannels)*float64(c.Height)*float64(c.Width) != float64(p) {
		return nil, fmt.Errorf("images of %d×%d×%d pixels are %.0f values, the data has %d features", c.Height, c.Width, c.InChannels, float64(c.InChannels)*float64(c.Height)*float64(c.Width), p)
	}
	if err := r.checkSizes(p, q); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(r.Seed, 0))
	if c := r.Conv; c != nil {
		cfg := model.ConvConfig{InChannels: c.InChannels, Height: c.Height, Width: c.Width, Channels: c.Channels, Inner: c.Inner,
			Groups: c.Groups, Pool: c.Pool, Out: q, CellStd: c.CellStd}
		if c.Depth > 0 {
			return model.NewCNN(cfg, c.Depth, rng)
		}
		cv, err := model.NewConv(cfg, rng)
		if err != nil {
			return nil, err
		}
		cv.Defaults.Tol, cv.Defaults.MaxIter = c.Tol, c.MaxIter
		if m := r.Gradient.Forward.Method; m != nil {
			cv.Defaults.Solver = m.String()
		}
		return cv, nil
	}
	if r.MLP {
		return model.NewMLP(model.MLPConfig{Hidden: r.Hidden, In: p, Out: q, Activation: r.Activation}, rng)
	}
	d, err := model.NewDense(model.DenseConfig{Hidden: r.Hidden, In: p, Out: q, Activation: r.Activation, Param: r.Param, Monotone: r.Monotone}, rng)
	if err != nil {
		return nil, err
	}
	if m := r.Gradient.Forward.Method; m != nil {
		d.Defaults.Solver = m.String()
	}
	return d, nil
}

// Params is the number of trained parameters of the recipe's model with p
// inputs and q outputs: U, b, C and c, and W (direct) or A and B
// (monotone) unless it is the MLP; a convolutional model's are counted
// from the model itself (0 if the recipe does not make one).
func (r Recipe) Params(p, q int) int {
	if r.Conv != nil {
		a, err := r.Init(p, q)
		if err != nil {
			return 0
		}
		m, err := model.New(a)
		if err != nil {
			return 0
		}
		return m.Info().Params
	}
	h := r.Hidden
	n := h*(p+1) + q*(h+1)
	switch {
	case r.MLP:
	case r.Param == model.Monotone:
		n += 2 * h * h
	default:
		n += h * h
	}
	return n
}

// MatchingExplicit is the explicit baseline for r with the same number of
// parameters: for deq-conv the cnn of depth 1 (exactly deq-conv's
// parameters, from the same initial weights), else MatchingMLP.
func (r Recipe) MatchingExplicit(p, q int) Recipe {
	if r.Conv == nil {
		return r.MatchingMLP(p, q)
	}
	m := r
	c := *r.Conv
	c.Depth = 1
	m.Conv = &c
	return m
}

// MatchingMLP is the explicit baseline for r: the MLP trained the same way
// whose hidden width gives the parameter count nearest r's.
func (r Recipe) MatchingMLP(p, q int) Recipe {
	m := r
	m.MLP = true
	// One hidden layer of width w has w(p+1) + q(w+1) parameters.
	m.Hidden = max(1, int(math.Round(float64(r.Params(p, q)-q)/float64(p+1+q))))
	return m
}

// Train initialises a model of p inputs and q outputs and trains it for the
// recipe's epochs, calling onStep (if set) after every step.
func (r Recipe) Train(ctx context.Context, data train.Data, p, q int, onStep func(train.StepStats)) (*model.Model, error) {
	tr, err := r.NewTrainer(p, q)
	if err != nil {
		return nil, err
	}
	for e := 1; e <= r.Epochs; e++ {
		if err := tr.Epoch(ctx, data, onStep); err != nil {
			return nil, fmt.Errorf("epoch %d: %w", e, err)
		}
	}
	return model.New(tr.Model())
}
