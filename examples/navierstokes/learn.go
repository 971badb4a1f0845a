package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/implicitlab/implicit/core"
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

// Recipe is how a model is made and trained: a monotone relu deq-dense
// model of Hidden units, or (MLP) the explicit network y = C relu(Ux + b) + c
// of Hidden units, trained by the same trainer with W held at zero.
type Recipe struct {
	Hidden       int
	MLP          bool
	Epochs       int
	BatchSize    int
	LearningRate float64
	Seed         uint64
}

// Params is the number of parameters of the recipe's model with p inputs
// and q outputs: h(p+1) + q(h+1), plus 2h² for the monotone core (A, B).
func (r Recipe) Params(p, q int) int {
	n := r.Hidden*(p+1) + q*(r.Hidden+1)
	if !r.MLP {
		n += 2 * r.Hidden * r.Hidden
	}
	return n
}

// MatchingMLP is the explicit recipe whose parameter count is nearest r's.
func (r Recipe) MatchingMLP(p, q int) Recipe {
	m := r
	m.MLP = true
	m.Hidden = max(1, int(math.Round(float64(r.Params(p, q)-q)/float64(p+1+q))))
	return m
}

// Train fits the recipe's model to the standardised data by Adam on the
// mean squared error, calling onEpoch after each epoch with its mean loss.
func (r Recipe) Train(ctx context.Context, data core.Data, p, q int, onEpoch func(epoch int, loss float64)) (*core.Model, error) {
	if r.Hidden < 1 || r.Epochs < 1 || r.BatchSize < 1 {
		return nil, fmt.Errorf("hidden %d, epochs %d, batch size %d: want at least 1 each", r.Hidden, r.Epochs, r.BatchSize)
	}
	cfg := core.DenseConfig{Hidden: r.Hidden, In: p, Out: q, Activation: core.ReLU, Param: core.Monotone}
	if r.MLP {
		cfg.Param = core.Direct
	}
	d, err := core.NewDense(cfg, rand.New(rand.NewPCG(r.Seed, 0)))
	if err != nil {
		return nil, err
	}
	if r.MLP {
		clear(d.W.Data) // z = relu(Ux + b) after one iteration, exactly
	}
	tr, err := core.NewTrainer(d, core.TrainSettings{
		BatchSize: r.BatchSize, LearningRate: r.LearningRate, Seed: r.Seed,
		Loss: core.MSE{}, FreezeCore: r.MLP,
		// The fixed points get slower to reach as the layer learns; allow
		// more than the default 100 iterations rather than stop training.
		Gradient: core.GradientSettings{Forward: core.Settings{MaxIter: solveLimit}, Backward: core.Settings{MaxIter: solveLimit}},
	})
	if err != nil {
		return nil, err
	}
	for e := 1; e <= r.Epochs; e++ {
		var sum float64
		var samples int
		err := tr.Epoch(ctx, data, func(s core.StepStats) {
			sum += s.Loss * float64(s.Samples)
			samples += s.Samples
		})
		if err != nil {
			return nil, fmt.Errorf("epoch %d: %w", e, err)
		}
		if onEpoch != nil {
			onEpoch(e, sum/float64(samples))
		}
	}
	return core.NewModel(tr.Model())
}

// solveLimit bounds the iterations of a solve to the fixed point.
const solveLimit = 1000

// Predict runs the model on the physical fields x, solved to the fixed
// point (relative residual 1e-6), and returns its physical predictions and
// the solve's statistics.
func Predict(ctx context.Context, m *core.Model, in, out Standardizer, x []float64) ([]float64, *core.Result, error) {
	o, err := m.Infer(ctx, in.Apply(x), core.Settings{MaxIter: solveLimit})
	if err != nil {
		return nil, nil, err
	}
	if o.Result.Status != core.Converged {
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

// Operator is the solver as a core.Inferer on standardised fields: the map
// the models learn. core.ScaleAnalysis on it measures the true map's
// Lipschitz number with the same perturbations as the model's; its
// iteration budget means nothing, and its residuals are zero.
type Operator struct {
	NS      *NS
	T       float64
	In, Out Standardizer
}

// Sizes returns 0 hidden units and the number of grid points, in and out.
func (o Operator) Sizes() (h, p, q int) { return 0, len(o.In.Mean), len(o.Out.Mean) }

// Infer solves each standardised field in x to time T.
func (o Operator) Infer(ctx context.Context, x []float64, _ core.Settings) (*core.Output, error) {
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
	res := &core.Result{Status: core.Converged, Samples: make([]core.Sample, n)}
	for i := range res.Samples {
		res.Samples[i].Status = core.Converged
	}
	return &core.Output{Y: o.Out.Apply(y), Result: res}, nil
}
