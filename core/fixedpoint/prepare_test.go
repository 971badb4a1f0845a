package fixedpoint_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
	"github.com/implicitlab/implicit/core/model"
)

// monotone returns a monotone deq-dense model of h hidden units.
func monotone(t *testing.T, h int) *model.Model {
	t.Helper()
	d, err := model.NewDense(model.DenseConfig{Hidden: h, In: 4, Out: 2, Activation: model.ReLU, Param: model.Monotone}, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(d)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The first Peaceman-Rachford solve of a monotone layer factors its
// resolvent in the Solver's Steps, a bounded piece a step, not in one call:
// a Step of one iteration's bound runs no iteration yet, a done context stops
// the factorisation between steps, and a later solve goes on from where it
// stopped. The result is the one of a solve that factors at once.
func TestPrepareInSteps(t *testing.T) {
	const h = 48
	m := monotone(t, h)
	x := make([]float64, 3*4)
	for i := range x {
		x[i] = float64(i%5) - 2
	}
	s := api.Settings{Method: &api.PeacemanRachford{}, RelTol: 1e-10, MaxIter: 500}
	ctx := context.Background()
	sv, err := m.NewSolver(x, s)
	if err != nil {
		t.Fatal(err)
	}
	steps := stepsToFirstIteration(t, sv)
	// The bounds' power iteration (100 iterations, 2 a step for 3 rows) and
	// a Gauss-Jordan elimination of h columns, 3 a step, among others.
	if steps < 20 {
		t.Fatalf("the first iteration came after %d steps: the preparation was not in steps", steps)
	}
	t.Logf("first iteration after %d steps", steps)
	if _, err := sv.Run(ctx); err != nil {
		t.Fatal(err)
	}
	stepped := sv.Result()

	// Canceled during the preparation of a fresh layer.
	m2 := monotone(t, h)
	done, cancel := context.WithCancel(ctx)
	sv2, err := m2.NewSolver(x, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := sv2.Step(ctx, 5); err != nil || sv2.Result().Iterations != 0 {
		t.Fatalf("5 steps: %v, %d iterations", err, sv2.Result().Iterations)
	}
	cancel()
	if err := sv2.Step(done, 1000); !errors.Is(err, context.Canceled) || sv2.Result().Status != api.Canceled {
		t.Fatalf("canceled: %v, %v", err, sv2.Result().Status)
	}
	// A solve that needs the factorisation at once (Infer) finishes it.
	out, err := m2.Infer(ctx, x, s)
	if err != nil {
		t.Fatal(err)
	}
	for i, z := range out.Z {
		if z != stepped.Z[i] {
			t.Fatalf("z[%d] = %v, stepped %v", i, z, stepped.Z[i])
		}
	}
	// Now the layer is prepared: the next solve iterates at once.
	sv3, err := m2.NewSolver(x, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := sv3.Step(ctx, 1); err != nil || sv3.Result().Iterations != 1 {
		t.Fatalf("a prepared layer: %v, %d iterations after one step", err, sv3.Result().Iterations)
	}
}

// A direct layer's monotonicity (the smallest eigenvalue of the symmetric
// part of I − W) is computed in the Solver's Steps too, and a splitting
// method's refusal of a layer that is not monotone comes from them.
func TestPrepareDirectInSteps(t *testing.T) {
	const h = 64
	direct := func(scale float64) *model.Model {
		d, err := model.NewDense(model.DenseConfig{Hidden: h, In: 4, Out: 2, Activation: model.ReLU, Param: model.Direct}, rand.New(rand.NewPCG(5, 6)))
		if err != nil {
			t.Fatal(err)
		}
		for i := range d.W.Data {
			d.W.Data[i] *= scale
		}
		m, err := model.New(d)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	x := make([]float64, 2*4)
	for i := range x {
		x[i] = float64(i%3) - 1
	}
	ctx := context.Background()
	s := api.Settings{Method: &api.ForwardBackward{}, RelTol: 1e-9, MaxIter: 2000}
	sv, err := direct(0.5).NewSolver(x, s)
	if err != nil {
		t.Fatal(err)
	}
	steps := stepsToFirstIteration(t, sv)
	if steps < 20 {
		t.Fatalf("the first iteration came after %d steps: the eigenvalue was not computed in steps", steps)
	}
	if _, err := sv.Run(ctx); err != nil || sv.Result().Status != api.Converged {
		t.Fatalf("forward-backward on a monotone direct layer: %v, %v", err, sv.Result().Status)
	}

	// Scaled up, W makes I − W indefinite: refused after the steps.
	sv, err = direct(40).NewSolver(x, s)
	if err != nil {
		t.Fatalf("NewSolver refused before the bounds' steps: %v", err)
	}
	_, err = sv.Run(ctx)
	if !errors.Is(err, api.ErrProblem) {
		t.Fatalf("a layer that is not monotone: %v, want an error wrapping ErrProblem", err)
	}
	t.Log(err)
}

// stepsToFirstIteration steps sv one iteration's bound at a time until its
// first iteration has run, and returns the number of steps.
func stepsToFirstIteration(t *testing.T, sv *fixedpoint.Solver) int {
	t.Helper()
	steps := 0
	for sv.Result().Iterations == 0 && !sv.Done() {
		if err := sv.Step(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		steps++
	}
	return steps
}
