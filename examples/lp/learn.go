package main

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/implicitlab/implicit/core"
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

// train fits a monotone relu deq-dense model with hidden units on data (p
// inputs, q outputs) or, if explicit, the one-hidden-layer MLP
// y = C relu(U x + b) + c: a direct model whose W is zero and frozen
// (TrainSettings.FreezeCore), so that it is trained exactly the same way.
func train(ctx context.Context, cfg trainConfig, hidden int, explicit bool, data core.Data, p, q int) (*core.Model, error) {
	dc := core.DenseConfig{Hidden: hidden, In: p, Out: q, Activation: core.ReLU, Param: core.Monotone}
	if explicit {
		dc.Param = core.Direct
	}
	d, err := core.NewDense(dc, rand.New(rand.NewPCG(cfg.seed, 0)))
	if err != nil {
		return nil, err
	}
	if explicit {
		clear(d.W.Data)
	}
	tr, err := core.NewTrainer(d, core.TrainSettings{
		BatchSize: cfg.batch, LearningRate: cfg.lr, Seed: cfg.seed, Loss: core.MSE{}, FreezeCore: explicit,
		// The default 100 iterations are not always enough as W grows
		// during training; an unconverged solve would stop training.
		Gradient: core.GradientSettings{Forward: core.Settings{MaxIter: 1000}, Backward: core.Settings{MaxIter: 1000}},
	})
	if err != nil {
		return nil, err
	}
	for range cfg.epochs {
		if err := tr.Epoch(ctx, data, nil); err != nil {
			return nil, err
		}
	}
	return core.NewModel(tr.Model())
}

// paramCount is the number of trained parameters: U, b, C, c, and W's A
// and B for the monotone implicit model.
func paramCount(h, p, q int, explicit bool) int {
	n := h*(p+1) + q*(h+1)
	if !explicit {
		n += 2 * h * h
	}
	return n
}

// mlpWidth is the hidden width that gives the MLP the parameter count
// closest to the implicit model's.
func mlpWidth(h, p, q int) int {
	return max(1, int(math.Round(float64(paramCount(h, p, q, false)-q)/float64(p+1+q))))
}
