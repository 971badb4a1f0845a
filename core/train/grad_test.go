package train_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/modeltest"
	"github.com/implicitlab/implicit/core/internal/vec"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
)

// tensors lists an architecture's trained parameter slices by name, for
// perturbing and comparing.
func tensors(a model.Architecture) map[string][]float64 {
	t := map[string][]float64{}
	for _, tn := range a.Tensors() {
		if !tn.Fixed {
			t[tn.Name] = tn.Data
		}
	}
	return t
}

var tight = api.Settings{RelTol: 1e-15, AbsTol: 1e-15, MaxIter: 20000}

func lossAt(t *testing.T, d model.Architecture, x, target []float64, loss train.Loss) float64 {
	t.Helper()
	m, err := model.New(d)
	if err != nil {
		t.Fatal(err)
	}
	r, err := train.Gradient(context.Background(), m, x, target, loss, train.GradientSettings{Mode: train.JacobianFree, Forward: tight, AllowUnconverged: true})
	if err != nil {
		t.Fatal(err)
	}
	return r.Loss
}

// The implicit gradient must match central finite differences of the loss
// (each forward solved to machine precision) to a relative error below 1e-5,
// for both parametrisations of deq-dense, the mlp, all three activations and
// both losses.
func TestGradientMatchesFiniteDifferences(t *testing.T) {
	const h, p, q, n = 6, 4, 3, 5
	for _, act := range []model.Activation{model.ReLU, model.Tanh, model.Identity} {
		for _, loss := range []train.Loss{train.CrossEntropy{}, train.MSE{}} {
			archs := map[string]model.Architecture{
				"direct":   modeltest.RandomDense(31, act, model.Direct, h, p, q, 1),
				"monotone": modeltest.RandomDense(31, act, model.Monotone, h, p, q, 1),
				"mlp":      modeltest.RandomMLP(31, act, h, p, q),
			}
			if act == model.ReLU {
				// 1×4×4 images, C = 4, I = 4, G = 2, P = 2: p = 16 inputs.
				archs["conv"] = modeltest.RandomConv(31, 1, 4, 4, 4, 4, 2, 2, q, 0.01)
				archs["cnn"] = modeltest.RandomCNN(31, 2, 1, 4, 4, 4, 4, 2, 2, q, 0.3)
			}
			for name, a := range archs {
				t.Run(fmt.Sprintf("%s/%s/%T", name, act, loss), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(32, 1))
					x := modeltest.RandVec(rng, n*a.Sizes().In, 1)
					target := modeltest.RandVec(rng, n*loss.TargetLen(q), 1)
					if _, ok := loss.(train.CrossEntropy); ok {
						for i := range target {
							target[i] = float64(rng.IntN(q))
						}
					}
					checkGradient(t, a, x, target, loss)
				})
			}
		}
	}
}

// checkGradient compares the implicit gradient of a with central finite
// differences.
func checkGradient(t *testing.T, a model.Architecture, x, target []float64, loss train.Loss) {
	t.Helper()
	m, err := model.New(a)
	if err != nil {
		t.Fatal(err)
	}
	// Solves to 1e-15 may stall a hair above it, at the rounding floor:
	// that is converged enough here.
	r, err := train.Gradient(context.Background(), m, x, target, loss, train.GradientSettings{Forward: tight, Backward: tight, AllowUnconverged: true})
	if err != nil {
		t.Fatal(err)
	}
	if explicit := m.Info().Explicit; explicit != (r.Backward == nil) || (!explicit && r.Backward.RelResidual > 1e-13) {
		t.Fatalf("adjoint solve of a model explicit=%v: %+v", explicit, r.Backward)
	}
	analytic := tensors(r.Grad)
	const eps = 1e-6
	for name, vals := range tensors(a) {
		var num2, diff2 float64
		for i := range vals {
			orig := vals[i]
			vals[i] = orig + eps
			lp := lossAt(t, a, x, target, loss)
			vals[i] = orig - eps
			lm := lossAt(t, a, x, target, loss)
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
}

func TestJacobianFreeIsADescentDirection(t *testing.T) {
	d := modeltest.RandomDense(33, model.Tanh, model.Direct, 16, 5, 3, 0)
	rng := rand.New(rand.NewPCG(34, 1))
	x, target := modeltest.RandVec(rng, 20*5, 1), modeltest.RandVec(rng, 20*3, 1)
	m, _ := model.New(d)
	ex, err := train.Gradient(context.Background(), m, x, target, train.MSE{}, train.GradientSettings{Forward: tight, Backward: tight, AllowUnconverged: true})
	if err != nil {
		t.Fatal(err)
	}
	jf, err := train.Gradient(context.Background(), m, x, target, train.MSE{}, train.GradientSettings{Mode: train.JacobianFree, Forward: tight, AllowUnconverged: true})
	if err != nil {
		t.Fatal(err)
	}
	if jf.Backward != nil || jf.Loss != ex.Loss {
		t.Fatalf("jacobian-free: backward %v, loss %v vs %v", jf.Backward, jf.Loss, ex.Loss)
	}
	var inner float64
	for name, g := range tensors(ex.Grad) {
		inner += vec.Dot(g, tensors(jf.Grad)[name])
	}
	if !(inner > 0) {
		t.Errorf("⟨exact, jacobian-free⟩ = %v, want > 0", inner)
	}
	// Readout gradients do not pass through the fixed point: equal.
	if modeltest.MaxAbsDiff(ex.Grad.(*model.Dense).C.Data, jf.Grad.(*model.Dense).C.Data) != 0 {
		t.Error("∂C differs between modes")
	}
}

func TestGradientBadInput(t *testing.T) {
	m, _ := model.New(modeltest.RandomDense(35, model.ReLU, model.Direct, 4, 2, 3, 0))
	ctx := context.Background()
	if _, err := train.Gradient(ctx, m, []float64{1, 2, 3}, []float64{0}, train.CrossEntropy{}, train.GradientSettings{}); !errors.Is(err, api.ErrProblem) {
		t.Errorf("3 inputs for p=2: %v", err)
	}
	if _, err := train.Gradient(ctx, m, []float64{1, 2}, []float64{0, 1}, train.CrossEntropy{}, train.GradientSettings{}); !errors.Is(err, api.ErrProblem) {
		t.Errorf("2 labels for 1 sample: %v", err)
	}
	for _, label := range []float64{3, -1, 0.5, math.NaN()} {
		if _, err := train.Gradient(ctx, m, []float64{1, 2}, []float64{label}, train.CrossEntropy{}, train.GradientSettings{}); !errors.Is(err, api.ErrProblem) {
			t.Errorf("label %v: %v", label, err)
		}
	}
}

// On a stiff monotone layer (‖W‖₂ > 4), where undamped api.Anderson diverges,
// the default adjoint solve (Peaceman-Rachford on the adjoint's own monotone
// splitting) must converge, and agree with a damped api.Anderson solve.
func TestAdjointOfStiffMonotoneLayer(t *testing.T) {
	for _, act := range []model.Activation{model.ReLU, model.Tanh, model.Identity} {
		d := modeltest.RandomDense(7, act, model.Monotone, 32, 6, 3, 2)
		m, err := model.New(d)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(36, 1))
		x, target := modeltest.RandVec(rng, 16*6, 1), modeltest.RandVec(rng, 16*3, 1)
		s := api.Settings{RelTol: 1e-10, MaxIter: 2000}
		def, err := train.Gradient(context.Background(), m, x, target, train.MSE{}, train.GradientSettings{Forward: s, Backward: s})
		if err != nil {
			t.Fatalf("%s: %v", act, err)
		}
		damped := s
		damped.Method = &api.Anderson{Mixing: 0.2}
		ref, err := train.Gradient(context.Background(), m, x, target, train.MSE{}, train.GradientSettings{Forward: s, Backward: damped})
		if err != nil {
			t.Fatalf("%s, damped Anderson: %v", act, err)
		}
		if diff := modeltest.MaxAbsDiff(def.Grad.(*model.Dense).A.Data, ref.Grad.(*model.Dense).A.Data); diff > 1e-7 {
			t.Errorf("%s: ∂A differs between adjoint solvers by %g", act, diff)
		}
		t.Logf("%s: adjoint in %d iterations", act, def.Backward.Iterations)
	}
}

func TestGradientRefusesUnconvergedSolves(t *testing.T) {
	d := modeltest.RandomDense(7, model.ReLU, model.Monotone, 32, 6, 3, 2)
	m, _ := model.New(d)
	rng := rand.New(rand.NewPCG(37, 1))
	x, target := modeltest.RandVec(rng, 4*6, 1), modeltest.RandVec(rng, 4*3, 1)
	few := api.Settings{MaxIter: 3}
	_, err := train.Gradient(context.Background(), m, x, target, train.MSE{}, train.GradientSettings{Forward: few})
	if !errors.Is(err, train.ErrNotConverged) || errors.Is(err, train.ErrAdjoint) {
		t.Errorf("3 forward iterations: %v", err)
	}
	_, err = train.Gradient(context.Background(), m, x, target, train.MSE{}, train.GradientSettings{Backward: few})
	if !errors.Is(err, train.ErrNotConverged) || !errors.Is(err, train.ErrAdjoint) {
		t.Errorf("3 adjoint iterations: %v", err)
	}
	if _, err = train.Gradient(context.Background(), m, x, target, train.MSE{}, train.GradientSettings{Forward: few, Backward: few, AllowUnconverged: true}); err != nil {
		t.Errorf("allowed: %v", err)
	}
	if _, err := train.Gradient(context.Background(), m, nil, nil, train.MSE{}, train.GradientSettings{}); !errors.Is(err, api.ErrProblem) {
		t.Errorf("empty batch: %v", err)
	}
}

// The unrolled gradient is the exact gradient of the model that runs Steps
// damped iterations from zero: it matches central finite differences of
// that model's loss, for every kind.
func TestUnrolledGradientMatchesFiniteDifferences(t *testing.T) {
	const n, q = 4, 3
	archs := map[string]model.Architecture{
		"monotone": modeltest.RandomDense(41, model.Tanh, model.Monotone, 5, 3, q, 1),
		"mlp":      modeltest.RandomMLP(41, model.ReLU, 5, 3, q),
		"conv":     modeltest.RandomConv(41, 1, 4, 4, 4, 4, 2, 2, q, 0.3),
	}
	for name, a := range archs {
		for _, gs := range []train.GradientSettings{{Mode: train.Unrolled, Steps: 3}, {Mode: train.Unrolled, Steps: 5, Damping: 0.6}} {
			t.Run(fmt.Sprintf("%s/%d/%v", name, gs.Steps, gs.Damping), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(42, 1))
				x := modeltest.RandVec(rng, n*a.Sizes().In, 1)
				target := modeltest.RandVec(rng, n*q, 1)
				lossOf := func() float64 {
					r, err := train.Gradient(context.Background(), mustModel(t, a), x, target, train.MSE{}, gs)
					if err != nil {
						t.Fatal(err)
					}
					return r.Loss
				}
				r, err := train.Gradient(context.Background(), mustModel(t, a), x, target, train.MSE{}, gs)
				if err != nil {
					t.Fatal(err)
				}
				if r.Forward.Iterations != gs.Steps || r.Backward != nil {
					t.Errorf("forward %d iterations, backward %v", r.Forward.Iterations, r.Backward)
				}
				analytic := tensors(r.Grad)
				const eps = 1e-6
				for tn, vals := range tensors(a) {
					var num2, diff2 float64
					for i := range vals {
						orig := vals[i]
						vals[i] = orig + eps
						lp := lossOf()
						vals[i] = orig - eps
						lm := lossOf()
						vals[i] = orig
						fd := (lp - lm) / (2 * eps)
						num2 += fd * fd
						diff2 += (fd - analytic[tn][i]) * (fd - analytic[tn][i])
					}
					if rel := math.Sqrt(diff2 / math.Max(num2, 1e-300)); !(rel < 1e-6) && num2 > 1e-20 {
						t.Errorf("∂L/∂%s: relative error %.2g", tn, rel)
					}
				}
			})
		}
	}
}

// The phantom gradient with many undamped steps from the fixed point is the
// implicit gradient (a Neumann series of the adjoint); with a few damped
// ones, a descent direction.
func TestPhantomGradient(t *testing.T) {
	d := modeltest.RandomDense(43, model.Tanh, model.Direct, 8, 3, 2, 1)
	m := mustModel(t, d)
	rng := rand.New(rand.NewPCG(44, 1))
	x, target := modeltest.RandVec(rng, 6*3, 1), modeltest.RandVec(rng, 6*2, 1)
	exact, err := train.Gradient(context.Background(), m, x, target, train.MSE{}, train.GradientSettings{Forward: tight, Backward: tight, AllowUnconverged: true})
	if err != nil {
		t.Fatal(err)
	}
	long, err := train.Gradient(context.Background(), m, x, target, train.MSE{}, train.GradientSettings{Mode: train.Phantom, Steps: 300, Damping: 1, Forward: tight, AllowUnconverged: true})
	if err != nil {
		t.Fatal(err)
	}
	short, err := train.Gradient(context.Background(), m, x, target, train.MSE{}, train.GradientSettings{Mode: train.Phantom, Forward: tight, AllowUnconverged: true})
	if err != nil {
		t.Fatal(err)
	}
	var d2, n2, inner float64
	for name, g := range tensors(exact.Grad) {
		for i, v := range g {
			d2 += (tensors(long.Grad)[name][i] - v) * (tensors(long.Grad)[name][i] - v)
			n2 += v * v
			inner += v * tensors(short.Grad)[name][i]
		}
	}
	if rel := math.Sqrt(d2 / n2); !(rel < 1e-8) {
		t.Errorf("300 undamped phantom steps differ from the implicit gradient by %.2g relative", rel)
	}
	if !(inner > 0) {
		t.Errorf("⟨implicit, phantom(3, 0.8)⟩ = %v, want > 0", inner)
	}
	for _, gs := range []train.GradientSettings{{Mode: train.Unrolled}, {Mode: train.Phantom, Damping: 1.5}, {Mode: train.Unrolled, Steps: -1}} {
		if _, err := train.Gradient(context.Background(), m, x, target, train.MSE{}, gs); !errors.Is(err, api.ErrProblem) {
			t.Errorf("%+v: %v", gs, err)
		}
	}
}

func mustModel(t *testing.T, a model.Architecture) *model.Model {
	t.Helper()
	m, err := model.New(a)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
