package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// tensors lists a model's parameter slices by name, for perturbing and
// comparing.
func tensors(d *Dense) map[string][]float64 {
	t := map[string][]float64{"U": d.U.Data, "b": d.Bias, "C": d.C.Data, "c": d.OutBias}
	if d.Param == Monotone {
		t["A"], t["B"] = d.A.Data, d.B.Data
	} else {
		t["W"] = d.W.Data
	}
	return t
}

var tight = Settings{RelTol: 1e-15, AbsTol: 1e-15, MaxIter: 20000}

func lossAt(t *testing.T, d *Dense, x, target []float64, loss Loss) float64 {
	t.Helper()
	m, err := NewModel(d)
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Gradient(context.Background(), x, target, loss, GradientSettings{Mode: JacobianFree, Forward: tight, AllowUnconverged: true})
	if err != nil {
		t.Fatal(err)
	}
	return r.Loss
}

// The implicit gradient must match central finite differences of the loss
// (each forward solved to machine precision) to a relative error below 1e-5,
// for both parametrisations and all three activations.
func TestGradientMatchesFiniteDifferences(t *testing.T) {
	const h, p, q, n = 6, 4, 3, 5
	for _, param := range []Parametrization{Direct, Monotone} {
		for _, act := range []Activation{ReLU, Tanh, Identity} {
			for _, loss := range []Loss{CrossEntropy{}, MSE{}} {
				t.Run(fmt.Sprintf("%s/%s/%T", param, act, loss), func(t *testing.T) {
					d := randomDense(31, act, param, h, p, q, 1)
					rng := rand.New(rand.NewPCG(32, 1))
					x := randVec(rng, n*p, 1)
					target := randVec(rng, n*loss.TargetLen(q), 1)
					if _, ok := loss.(CrossEntropy); ok {
						for i := range target {
							target[i] = float64(rng.IntN(q))
						}
					}
					m, err := NewModel(d)
					if err != nil {
						t.Fatal(err)
					}
					// Solves to 1e-15 may stall a hair above it, at the
					// rounding floor: that is converged enough here.
					r, err := m.Gradient(context.Background(), x, target, loss, GradientSettings{Forward: tight, Backward: tight, AllowUnconverged: true})
					if err != nil {
						t.Fatal(err)
					}
					if r.Backward == nil || r.Backward.RelResidual > 1e-13 {
						t.Fatalf("adjoint solve: %+v", r.Backward)
					}
					analytic := tensors(r.Grad)
					const eps = 1e-6
					for name, vals := range tensors(d) {
						var num2, diff2 float64
						for i := range vals {
							orig := vals[i]
							vals[i] = orig + eps
							lp := lossAt(t, d, x, target, loss)
							vals[i] = orig - eps
							lm := lossAt(t, d, x, target, loss)
							vals[i] = orig
							fd := (lp - lm) / (2 * eps)
							num2 += fd * fd
							diff2 += (fd - analytic[name][i]) * (fd - analytic[name][i])
						}
						rel := math.Sqrt(diff2 / num2)
						t.Logf("∂L/∂%s: relative error %.2g", name, rel)
						if !(rel < 1e-5) {
							t.Errorf("∂L/∂%s: relative error %.2g (‖fd‖ = %.3g)", name, rel, math.Sqrt(num2))
						}
					}
				})
			}
		}
	}
}

func TestJacobianFreeIsADescentDirection(t *testing.T) {
	d := randomDense(33, Tanh, Direct, 16, 5, 3, 0)
	rng := rand.New(rand.NewPCG(34, 1))
	x, target := randVec(rng, 20*5, 1), randVec(rng, 20*3, 1)
	m, _ := NewModel(d)
	ex, err := m.Gradient(context.Background(), x, target, MSE{}, GradientSettings{Forward: tight, Backward: tight, AllowUnconverged: true})
	if err != nil {
		t.Fatal(err)
	}
	jf, err := m.Gradient(context.Background(), x, target, MSE{}, GradientSettings{Mode: JacobianFree, Forward: tight, AllowUnconverged: true})
	if err != nil {
		t.Fatal(err)
	}
	if jf.Backward != nil || jf.Loss != ex.Loss {
		t.Fatalf("jacobian-free: backward %v, loss %v vs %v", jf.Backward, jf.Loss, ex.Loss)
	}
	var inner float64
	for name, g := range tensors(ex.Grad) {
		inner += dot(g, tensors(jf.Grad)[name])
	}
	if !(inner > 0) {
		t.Errorf("⟨exact, jacobian-free⟩ = %v, want > 0", inner)
	}
	// Readout gradients do not pass through the fixed point: equal.
	if maxAbsDiff(ex.Grad.C.Data, jf.Grad.C.Data) != 0 {
		t.Error("∂C differs between modes")
	}
}

func TestGradientBadInput(t *testing.T) {
	m, _ := NewModel(randomDense(35, ReLU, Direct, 4, 2, 3, 0))
	ctx := context.Background()
	if _, err := m.Gradient(ctx, []float64{1, 2, 3}, []float64{0}, CrossEntropy{}, GradientSettings{}); !errors.Is(err, ErrProblem) {
		t.Errorf("3 inputs for p=2: %v", err)
	}
	if _, err := m.Gradient(ctx, []float64{1, 2}, []float64{0, 1}, CrossEntropy{}, GradientSettings{}); !errors.Is(err, ErrProblem) {
		t.Errorf("2 labels for 1 sample: %v", err)
	}
	for _, label := range []float64{3, -1, 0.5, math.NaN()} {
		if _, err := m.Gradient(ctx, []float64{1, 2}, []float64{label}, CrossEntropy{}, GradientSettings{}); !errors.Is(err, ErrProblem) {
			t.Errorf("label %v: %v", label, err)
		}
	}
}

// On a stiff monotone layer (‖W‖₂ > 4), where undamped Anderson diverges,
// the default adjoint solve (Peaceman-Rachford on the adjoint's own monotone
// splitting) must converge, and agree with a damped Anderson solve.
func TestAdjointOfStiffMonotoneLayer(t *testing.T) {
	for _, act := range []Activation{ReLU, Tanh, Identity} {
		d := randomDense(7, act, Monotone, 32, 6, 3, 2)
		m, err := NewModel(d)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(36, 1))
		x, target := randVec(rng, 16*6, 1), randVec(rng, 16*3, 1)
		s := Settings{RelTol: 1e-10, MaxIter: 2000}
		def, err := m.Gradient(context.Background(), x, target, MSE{}, GradientSettings{Forward: s, Backward: s})
		if err != nil {
			t.Fatalf("%s: %v", act, err)
		}
		damped := s
		damped.Method = &Anderson{Mixing: 0.2}
		ref, err := m.Gradient(context.Background(), x, target, MSE{}, GradientSettings{Forward: s, Backward: damped})
		if err != nil {
			t.Fatalf("%s, damped Anderson: %v", act, err)
		}
		if diff := maxAbsDiff(def.Grad.A.Data, ref.Grad.A.Data); diff > 1e-7 {
			t.Errorf("%s: ∂A differs between adjoint solvers by %g", act, diff)
		}
		t.Logf("%s: adjoint in %d iterations", act, def.Backward.Iterations)
	}
}

func TestGradientRefusesUnconvergedSolves(t *testing.T) {
	d := randomDense(7, ReLU, Monotone, 32, 6, 3, 2)
	m, _ := NewModel(d)
	rng := rand.New(rand.NewPCG(37, 1))
	x, target := randVec(rng, 4*6, 1), randVec(rng, 4*3, 1)
	few := Settings{MaxIter: 3}
	_, err := m.Gradient(context.Background(), x, target, MSE{}, GradientSettings{Forward: few})
	if !errors.Is(err, ErrNotConverged) || errors.Is(err, ErrAdjoint) {
		t.Errorf("3 forward iterations: %v", err)
	}
	_, err = m.Gradient(context.Background(), x, target, MSE{}, GradientSettings{Backward: few})
	if !errors.Is(err, ErrNotConverged) || !errors.Is(err, ErrAdjoint) {
		t.Errorf("3 adjoint iterations: %v", err)
	}
	if _, err = m.Gradient(context.Background(), x, target, MSE{}, GradientSettings{Forward: few, Backward: few, AllowUnconverged: true}); err != nil {
		t.Errorf("allowed: %v", err)
	}
	if _, err := m.Gradient(context.Background(), nil, nil, MSE{}, GradientSettings{}); !errors.Is(err, ErrProblem) {
		t.Errorf("empty batch: %v", err)
	}
}
