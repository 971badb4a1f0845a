package train_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/scale"
	"github.com/implicitlab/implicit/core/train"
)

// Training by implicit differentiation: the gradient flows through the fixed
// point without storing the forward iterations.
func ExampleTrainer() {
	d, err := model.NewDense(model.DenseConfig{Hidden: 8, In: 2, Out: 2, Activation: model.Tanh, Param: model.Monotone},
		rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		fmt.Println(err)
		return
	}
	tr, err := train.NewTrainer(d, train.TrainSettings{BatchSize: 4, LearningRate: 0.05, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	// XOR, which no linear model fits.
	data := train.Data{X: []float64{0, 0, 0, 1, 1, 0, 1, 1}, Target: []float64{0, 1, 1, 0}, N: 4}
	var first, last float64
	for e := range 200 {
		err := tr.Epoch(context.Background(), data, func(s train.StepStats) {
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
	m, err := model.New(tr.Model())
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := m.Infer(context.Background(), data.X, api.Settings{})
	if err != nil {
		fmt.Println(err)
		return
	}
	acc, err := train.Accuracy(out.Y, data.Target, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("loss fell tenfold: %v; accuracy at the fixed point %.2f\n", last < first/10, acc)

	// Test-time compute: quality and the Lipschitz number of the t-step map
	// at budgets t = 1, 2, 4, …, 32, from z⁰ = 0.
	pts, err := scale.Analysis(context.Background(), m, data.X, data.Target, train.CrossEntropy{},
		scale.Settings{MaxBudget: 32, Seed: 1})
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
