package fixedpoint_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
)

// The scalar map G(y) = y − η(x·y − 1) has the fixed point 1/x.
func ExampleSolve() {
	const x, eta = 4.0, 0.2
	p := fixedpoint.Problem{Dim: 1, F: func(dst, y []float64) { dst[0] = y[0] - eta*(x*y[0]-1) }}
	res, err := fixedpoint.Solve(context.Background(), p, api.Settings{RelTol: 1e-12})
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
	p := fixedpoint.Problem{Dim: 1, F: func(dst, z []float64) { dst[0] = 3*z[0] + 1 }}
	res, err := fixedpoint.Solve(context.Background(), p, api.Settings{Method: &api.Picard{}})
	fmt.Println(errors.Is(err, api.ErrDiverged), res.Status, res.Iterations)
	// Output: true diverged 10
}

// A batch of independent samples: each stops when it converges.
func ExampleSolveBatch() {
	rates := []float64{0.1, 0.9}
	p := fixedpoint.BatchProblem{Dim: 1, F: func(dst, z []float64, rows []int) {
		for k, i := range rows {
			dst[k] = rates[i]*z[k] + 1 // fixed point 1/(1 − rate)
		}
	}}
	res, _ := fixedpoint.SolveBatch(context.Background(), p, 2, api.Settings{Method: &api.Picard{}, MaxIter: 1000, RelTol: 1e-9})
	for i, s := range res.Samples {
		fmt.Printf("sample %d: %.6f in %d iterations\n", i, res.Z[i], s.Iterations)
	}
	// Output:
	// sample 0: 1.111111 in 10 iterations
	// sample 1: 10.000000 in 176 iterations
}
