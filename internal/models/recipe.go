package models

import (
	"fmt"
	"math/rand/v2"

	"github.com/implicitlab/implicit/core"
)

// Recipe is a training run's configuration: what implicit train's flags
// set, and how the default digits model was made.
type Recipe struct {
	Hidden     int
	Param      core.Parametrization
	Activation core.Activation
	Monotone   float64 // m, for the monotone parametrisation
	// MLP trains the explicit baseline y = C σ(U x + b) + c: a direct model
	// whose W stays zero, so that its solve is one exact evaluation.
	MLP          bool
	Epochs       int
	BatchSize    int
	LearningRate float64
	Seed         uint64
	Gradient     core.GradientSettings
}

// DigitsRecipe made digits.safetensors; its values are implicit train's
// defaults.
var DigitsRecipe = Recipe{
	Hidden: 64, Param: core.Monotone, Activation: core.ReLU, Monotone: 0.5,
	Epochs: 30, BatchSize: 32, LearningRate: 3e-3, Seed: 1,
}

// NewTrainer initialises a model of p inputs and q outputs from the seed and
// returns its trainer.
func (r Recipe) NewTrainer(p, q int) (*core.Trainer, error) {
	if r.BatchSize < 1 || r.Epochs < 1 {
		return nil, fmt.Errorf("batch size %d, epochs %d: want at least 1", r.BatchSize, r.Epochs)
	}
	cfg := core.DenseConfig{Hidden: r.Hidden, In: p, Out: q, Activation: r.Activation, Param: r.Param, Monotone: r.Monotone}
	ts := core.TrainSettings{BatchSize: r.BatchSize, LearningRate: r.LearningRate, Seed: r.Seed, Gradient: r.Gradient, FreezeCore: r.MLP}
	if r.MLP {
		cfg.Param, cfg.Monotone = core.Direct, 0
	}
	d, err := core.NewDense(cfg, rand.New(rand.NewPCG(r.Seed, 0)))
	if err != nil {
		return nil, err
	}
	if r.MLP {
		clear(d.W.Data)
	}
	if m := r.Gradient.Forward.Method; m != nil {
		d.Defaults.Solver = m.String()
	}
	return core.NewTrainer(d, ts)
}
