package main

import (
	"math"

	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
	"github.com/implicitlab/implicit/internal/models"
)

// features returns the instances' parameters, c then b, one row each.
func features(insts []instance) []float64 {
	var out []float64
	for _, in := range insts {
		out = append(append(out, in.c...), in.b...)
	}
	return out
}

// solutions returns the instances' optimal x*, one row each.
func solutions(insts []instance) []float64 {
	var out []float64
	for _, in := range insts {
		out = append(out, in.x...)
	}
	return out
}

// scaler standardises the columns of row-major data: (v − mean)/std.
type scaler struct{ mean, std []float64 }

// fitScaler measures the columns of rows (width values a row). A constant
// column keeps std 1.
func fitScaler(rows []float64, width int) scaler {
	s := scaler{mean: make([]float64, width), std: make([]float64, width)}
	n := float64(len(rows) / width)
	for k, v := range rows {
		s.mean[k%width] += v / n
	}
	for k, v := range rows {
		d := v - s.mean[k%width]
		s.std[k%width] += d * d / n
	}
	for j, v := range s.std {
		s.std[j] = math.Sqrt(v)
		if !(s.std[j] > 0) {
			s.std[j] = 1
		}
	}
	return s
}

func (s scaler) apply(rows []float64) []float64 {
	out := make([]float64, len(rows))
	for k, v := range rows {
		j := k % len(s.mean)
		out[k] = (v - s.mean[j]) / s.std[j]
	}
	return out
}

func (s scaler) invert(rows []float64) []float64 {
	out := make([]float64, len(rows))
	for k, v := range rows {
		j := k % len(s.mean)
		out[k] = v*s.std[j] + s.mean[j]
	}
	return out
}

// trainConfig is how both networks are trained: Adam on MSE, the same
// epochs, batches, learning rate and seed.
type trainConfig struct {
	epochs, batch int
	lr            float64
	seed          uint64
}

// recipe is the implicit model's training run, monotone relu with hidden
// units; its MatchingMLP is the explicit network's, trained the same way.
func (c trainConfig) recipe(hidden int) models.Recipe {
	return models.Recipe{
		Hidden: hidden, Param: model.Monotone, Activation: model.ReLU,
		Epochs: c.epochs, BatchSize: c.batch, LearningRate: c.lr, Seed: c.seed, Loss: train.MSE{},
	}
}
