package main

import (
	"context"
	"fmt"
	"math"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
	"github.com/implicitlab/implicit/internal/models"
)

// Standardizer maps fields to the models' scale: each grid point's
// training mean is removed and everything divided by one common scale (the
// root mean square of the points' standard deviations), so that the MSE
// the models train on is the physical squared error up to a constant.
type Standardizer struct {
	Mean  []float64
	Scale float64
}

// FitStandardizer fits a Standardizer to n×p values x.
func FitStandardizer(x []float64, p int) (Standardizer, error) {
	n := len(x) / p
	if n < 2 || len(x) != n*p {
		return Standardizer{}, fmt.Errorf("%d values are not at least 2 samples of %d", len(x), p)
	}
	s := Standardizer{Mean: make([]float64, p)}
	for i := range n {
		for j, v := range x[i*p : (i+1)*p] {
			s.Mean[j] += v / float64(n)
		}
	}
	var ss float64
	for i := range n {
		for j, v := range x[i*p : (i+1)*p] {
			d := v - s.Mean[j]
			ss += d * d
		}
	}
	s.Scale = math.Sqrt(ss / float64((n-1)*p))
	if !(s.Scale > 0) {
		return Standardizer{}, fmt.Errorf("the samples do not vary")
	}
	return s, nil
}

// Apply returns x standardised.
func (s Standardizer) Apply(x []float64) []float64 {
	out := make([]float64, len(x))
	p := len(s.Mean)
	for i, v := range x {
		out[i] = (v - s.Mean[i%p]) / s.Scale
	}
	return out
}

// Invert undoes Apply.
func (s Standardizer) Invert(z []float64) []float64 {
	out := make([]float64, len(z))
	p := len(s.Mean)
	for i, v := range z {
		out[i] = v*s.Scale + s.Mean[i%p]
	}
	return out
}

// implicitRecipe is how the implicit model is made and trained (the flags
// set its size, epochs, batch, learning rate and seed): monotone relu, by
// Adam on the mean squared error. Its MatchingMLP is the explicit baseline.
var implicitRecipe = models.Recipe{Param: model.Monotone, Activation: model.ReLU, Loss: train.MSE{}}

// solveLimit bounds the iterations of a solve to the fixed point.
const solveLimit = 1000

// Predict runs the model on the physical fields x, solved to the fixed
// point (relative residual 1e-6), and returns its physical predictions and
// the solve's statistics.
func Predict(ctx context.Context, m *model.Model, in, out Standardizer, x []float64) ([]float64, *api.Result, error) {
	o, err := m.Infer(ctx, in.Apply(x), api.Settings{MaxIter: solveLimit})
	if err != nil {
		return nil, nil, err
	}
	if o.Result.Status != api.Converged {
		return nil, nil, fmt.Errorf("the fixed point was not reached in %d iterations (relative residual %.2g)", solveLimit, o.Result.RelResidual)
	}
	return out.Invert(o.Y), o.Result, nil
}

// RelativeL2 is the benchmark's error measure: the mean over samples of
// ‖prediction − truth‖₂ / ‖truth‖₂, fields of p values.
func RelativeL2(pred, truth []float64, p int) float64 {
	n := len(truth) / p
	var sum float64
	for i := range n {
		var d, t float64
		for j := i * p; j < (i+1)*p; j++ {
			d += (pred[j] - truth[j]) * (pred[j] - truth[j])
			t += truth[j] * truth[j]
		}
		sum += math.Sqrt(d / t)
	}
	return sum / float64(n)
}

// Operator is the solver as an api.Inferer on standardised fields: the map
// the models learn. scale.Analysis on it measures the true map's
// Lipschitz number with the same perturbations as the model's; its
// iteration budget means nothing, and its residuals are zero.
type Operator struct {
	NS      *NS
	T       float64
	In, Out Standardizer
}

// Info describes the solver as a map of grid points to grid points.
func (o Operator) Info() api.Info {
	return api.Info{Kind: "solver", Description: "pseudo-spectral Navier-Stokes", Sizes: api.Sizes{In: len(o.In.Mean), State: len(o.Out.Mean), Out: len(o.Out.Mean)}, Explicit: true}
}

// Infer solves each standardised field in x to time T.
func (o Operator) Infer(ctx context.Context, x []float64, _ api.Settings) (*api.Output, error) {
	p := len(o.In.Mean)
	n := len(x) / p
	phys := o.In.Invert(x)
	y := make([]float64, 0, len(x))
	for i := range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		w, err := o.NS.Evolve(phys[i*p:(i+1)*p], o.T)
		if err != nil {
			return nil, err
		}
		y = append(y, w...)
	}
	res := &api.Result{Status: api.Converged, Samples: make([]api.Sample, n)}
	for i := range res.Samples {
		res.Samples[i].Status = api.Converged
	}
	return &api.Output{Y: o.Out.Apply(y), Result: res}, nil
}
