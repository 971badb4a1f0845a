package core_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/implicitlab/implicit/core"
)

// The scalar map G(y) = y − η(x·y − 1) has the fixed point 1/x.
func ExampleSolve() {
	const x, eta = 4.0, 0.2
	p := core.Problem{Dim: 1, F: func(dst, y []float64) { dst[0] = y[0] - eta*(x*y[0]-1) }}
	res, err := core.Solve(context.Background(), p, core.Settings{RelTol: 1e-12})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.10f after %d iterations (%v)\n", res.Z[0], res.Iterations, res.Status)
	// Output: 0.2500000000 after 5 iterations (converged)
}

// A divergent map is reported as an error that errors.Is recognises, with
// the statistics so far.
func ExampleSolve_divergence() {
	p := core.Problem{Dim: 1, F: func(dst, z []float64) { dst[0] = 3*z[0] + 1 }}
	res, err := core.Solve(context.Background(), p, core.Settings{Method: &core.Picard{}})
	fmt.Println(errors.Is(err, core.ErrDiverged), res.Status, res.Iterations)
	// Output: true diverged 10
}

// A batch of independent samples: each stops when it converges.
func ExampleSolveBatch() {
	rates := []float64{0.1, 0.9}
	p := core.BatchProblem{Dim: 1, F: func(dst, z []float64, rows []int) {
		for k, i := range rows {
			dst[k] = rates[i]*z[k] + 1 // fixed point 1/(1 − rate)
		}
	}}
	res, _ := core.SolveBatch(context.Background(), p, 2, core.Settings{Method: &core.Picard{}, MaxIter: 1000, RelTol: 1e-9})
	for i, s := range res.Samples {
		fmt.Printf("sample %d: %.6f in %d iterations\n", i, res.Z[i], s.Iterations)
	}
	// Output:
	// sample 0: 1.111111 in 10 iterations
	// sample 1: 10.000000 in 176 iterations
}

// A monotone deq-dense model has exactly one fixed point whatever its
// weights; its default solver, Peaceman-Rachford, finds it.
func ExampleModel_Infer() {
	d, err := core.NewDense(core.DenseConfig{Hidden: 16, In: 3, Out: 2, Activation: core.ReLU, Param: core.Monotone},
		rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := core.NewModel(d)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := m.Infer(context.Background(), []float64{0.5, -1, 2}, core.Settings{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d outputs, %v, residual below 1e-6: %v\n", len(out.Y), out.Result.Status, out.Result.RelResidual < 1e-6)
	// Output: 2 outputs, converged, residual below 1e-6: true
}

// Training by implicit differentiation: the gradient flows through the fixed
// point without storing the forward iterations.
func ExampleTrainer() {
	d, err := core.NewDense(core.DenseConfig{Hidden: 8, In: 2, Out: 2, Activation: core.Tanh, Param: core.Monotone},
		rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		fmt.Println(err)
		return
	}
	tr, err := core.NewTrainer(d, core.TrainSettings{BatchSize: 4, LearningRate: 0.05, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	// XOR, which no linear model fits.
	data := core.Data{X: []float64{0, 0, 0, 1, 1, 0, 1, 1}, Target: []float64{0, 1, 1, 0}, N: 4}
	var first, last float64
	for e := range 200 {
		err := tr.Epoch(context.Background(), data, func(s core.StepStats) {
			if e == 0 {
				first = s.Loss
			}
			last = s.Loss
		})
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	m, err := core.NewModel(tr.Model())
	if err != nil {
		fmt.Println(err)
		return
	}
	acc, _, err := m.Accuracy(context.Background(), data.X, data.Target, core.Settings{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("loss fell tenfold: %v; accuracy at the fixed point %.2f\n", last < first/10, acc)

	// Test-time compute: quality and the Lipschitz number of the t-step map
	// at budgets t = 1, 2, 4, …, 32, from z⁰ = 0.
	pts, err := core.ScaleAnalysis(context.Background(), m, data.X, data.Target, core.CrossEntropy{},
		core.ScaleSettings{MaxBudget: 32, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range pts {
		fmt.Printf("t=%2d: accuracy %.2f, loss %.0e, residual %.0e, L_t %.1f\n", p.Budget, p.Accuracy, p.Loss, p.MaxResidual, p.Lipschitz)
	}
	// Output:
	// loss fell tenfold: true; accuracy at the fixed point 1.00
	// t= 1: accuracy 0.50, loss 9e-01, residual 1e+00, L_t 5.5
	// t= 2: accuracy 1.00, loss 2e-01, residual 7e-01, L_t 7.7
	// t= 4: accuracy 1.00, loss 2e-03, residual 5e-01, L_t 8.4
	// t= 8: accuracy 1.00, loss 2e-04, residual 2e-01, L_t 7.0
	// t=16: accuracy 1.00, loss 2e-04, residual 2e-02, L_t 5.8
	// t=32: accuracy 1.00, loss 2e-04, residual 4e-04, L_t 5.7
}
