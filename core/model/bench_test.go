package model_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/modeltest"
	"github.com/implicitlab/implicit/core/model"
)

// benchModel returns a model of the benchmark shapes: p=64 inputs, q=10
// outputs, h hidden units.
func benchModel(b *testing.B, h int, param model.Parametrization) *model.Model {
	b.Helper()
	m, err := model.New(modeltest.RandomDense(21, model.ReLU, param, h, 64, 10, 1))
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkSolve is a forward solve to a relative residual of 1e-4, per
// solver, at h = 64 and 256 and batch 1 and 256, on one goroutine (and a
// batch of 256 spread over two, "workers=2").
func BenchmarkSolve(b *testing.B) {
	for _, h := range []int{64, 256} {
		for _, n := range []int{1, 256} {
			for _, c := range []struct {
				param model.Parametrization
				meth  api.Method
			}{
				{model.Direct, &api.Picard{}}, {model.Direct, &api.Anderson{}}, {model.Direct, &api.Broyden{}},
				{model.Monotone, &api.PeacemanRachford{}}, {model.Monotone, &api.ForwardBackward{}},
			} {
				for _, w := range []int{1, 2} {
					name := fmt.Sprintf("h=%d/batch=%d/%s/%s", h, n, c.param, c.meth)
					if w > 1 {
						if n == 1 {
							continue // one sample runs on one goroutine
						}
						name += fmt.Sprintf("/workers=%d", w)
					}
					b.Run(name, func(b *testing.B) {
						m := benchModel(b, h, c.param)
						x := modeltest.RandomInputs(22, n, 64)
						s := api.Settings{Method: c.meth, RelTol: 1e-4, MaxIter: 500, Workers: w}
						var iters int
						for b.Loop() {
							out, err := m.Infer(context.Background(), x, s)
							if err != nil {
								b.Fatal(err)
							}
							iters = out.Result.Iterations
						}
						b.ReportMetric(float64(iters), "iters")
					})
				}
			}
		}
	}
}

// BenchmarkLatency is one sample, exactly 30 plain iterations: the cost of
// the product and the solver's bookkeeping, without convergence effects.
func BenchmarkLatency(b *testing.B) {
	for _, h := range []int{64, 256} {
		b.Run(fmt.Sprintf("h=%d", h), func(b *testing.B) {
			m := benchModel(b, h, model.Direct)
			x := modeltest.RandomInputs(23, 1, 64)
			s := api.Settings{Method: &api.Picard{}, MaxIter: 30, RelTol: -1}
			for b.Loop() {
				if _, err := m.Infer(context.Background(), x, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConvSolve is a deq-conv forward solve (the digits shape: 8×8×1
// images, C = 32, I = 16, G = 4) to a relative residual of 1e-4 with
// Anderson, batch 1 and 64: implicit bench's conv rows.
func BenchmarkConvSolve(b *testing.B) {
	c, err := model.NewConv(model.ConvConfig{InChannels: 1, Height: 8, Width: 8, Channels: 32, Inner: 16, Groups: 4, Pool: 2, Out: 10}, rand.New(rand.NewPCG(1, 64)))
	if err != nil {
		b.Fatal(err)
	}
	m, err := model.New(c)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			x := modeltest.RandomInputs(65, n, 64)
			s := api.Settings{Method: &api.Anderson{Memory: 5}, RelTol: 1e-4, MaxIter: 100, Workers: 1}
			var evals float64
			for b.Loop() {
				out, err := m.Infer(context.Background(), x, s)
				if err != nil || out.Result.Status != api.Converged {
					b.Fatal(err, out.Result.Status)
				}
				evals = float64(out.Result.FuncEvals) / float64(n)
			}
			b.ReportMetric(evals, "evals/sample")
		})
	}
}
