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
}

// DigitsRecipe made digits.safetensors; its values are implicit train's
// defaults.
var DigitsRecipe = Recipe{
	Hidden: 64, Param: model.Monotone, Activation: model.ReLU, Monotone: 0.5,
	Epochs: 30, BatchSize: 32, LearningRate: 3e-3, Seed: 1,
}

// NewTrainer initialises a model of p inputs and q outputs from the seed and
// returns its trainer.
func (r Recipe) NewTrainer(p, q int) (*train.Trainer, error) {
	if r.BatchSize < 1 || r.Epochs < 1 {
		return nil, fmt.Errorf("batch size %d, epochs %d: want at least 1", r.BatchSize, r.Epochs)
	}
	a, err := r.Init(p, q)
	if err != nil {
		return nil, err
	}
	return train.NewTrainer(a, train.TrainSettings{BatchSize: r.BatchSize, LearningRate: r.LearningRate, Seed: r.Seed, Gradient: r.Gradient, Loss: r.Loss})
}

// Init returns the recipe's model of p inputs and q outputs with its initial
// parameters, drawn from the seed.
func (r Recipe) Init(p, q int) (model.Architecture, error) {
	rng := rand.New(rand.NewPCG(r.Seed, 0))
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
// (monotone) unless it is the MLP.
func (r Recipe) Params(p, q int) int {
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
