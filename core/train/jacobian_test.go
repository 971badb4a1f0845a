package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/implicitlab/implicit/core/internal/modeltest"
	"github.com/implicitlab/implicit/core/model"
)

// penaltyAt returns the Jacobian penalty's estimate for a at the states z
// of the inputs x, and its gradient (γ = 1).
func penaltyAt(t *testing.T, a model.Architecture, x, z []float64, n int, seed uint64) (float64, model.Architecture) {
	t.Helper()
	m, err := model.New(a)
	if err != nil {
		t.Fatal(err)
	}
	layer := m.Layer()
	inj := layer.Inject(x, n)
	grad := a.Zero()
	est := addJacobianPenalty(layer, layer.Problem(inj, n), x, inj, z, n, GradientSettings{JacobianPenalty: 1, JacobianSeed: seed}, grad)
	return est, grad
}

// The penalty's gradient is the exact gradient of its estimate at fixed
// states and probes: central differences of the estimate agree with it.
func TestJacobianPenaltyGradient(t *testing.T) {
	const n, q = 3, 2
	for name, a := range map[string]model.Architecture{
		"direct/tanh":   modeltest.RandomDense(51, model.Tanh, model.Direct, 5, 3, q, 1),
		"monotone/relu": modeltest.RandomDense(52, model.ReLU, model.Monotone, 5, 3, q, 1),
		"conv":          modeltest.RandomConv(53, 1, 4, 4, 4, 4, 2, 2, q, 0.3),
	} {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(54, 1))
			x := modeltest.RandVec(rng, n*a.Sizes().In, 1)
			z := modeltest.RandVec(rng, n*a.Sizes().State, 1)
			est, grad := penaltyAt(t, a, x, z, n, 9)
			if !(est > 0) {
				t.Fatalf("estimate %v", est)
			}
			analytic := map[string][]float64{}
			for _, tn := range grad.Tensors() {
				analytic[tn.Name] = tn.Data
			}
			const eps = 1e-5
			var num2, diff2 float64
			for _, tn := range a.Tensors() {
				if tn.Fixed {
					continue
				}
				for i := range tn.Data {
					orig := tn.Data[i]
					tn.Data[i] = orig + eps
					ep, _ := penaltyAt(t, a, x, z, n, 9)
					tn.Data[i] = orig - eps
					em, _ := penaltyAt(t, a, x, z, n, 9)
					tn.Data[i] = orig
					fd := (ep - em) / (2 * eps)
					num2 += fd * fd
					diff2 += (fd - analytic[tn.Name][i]) * (fd - analytic[tn.Name][i])
				}
			}
			rel := math.Sqrt(diff2 / num2)
			t.Logf("estimate %.4g, ‖∇‖ %.3g, relative error %.2g", est, math.Sqrt(num2), rel)
			if !(rel < 1e-5) {
				t.Errorf("gradient of the estimate: relative error %.2g (‖fd‖ = %.3g)", rel, math.Sqrt(num2))
			}
		})
	}
}

// For a linear map the forward difference is exact, and the estimate over
// many samples is ‖J‖²_F / State, J taken column by column.
func TestJacobianPenaltyEstimatesTheFrobeniusNorm(t *testing.T) {
	const h, n = 6, 4000
	a := modeltest.RandomDense(55, model.Identity, model.Direct, h, 3, 2, 1)
	m, err := model.New(a)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(56, 1))
	x := modeltest.RandVec(rng, n*3, 1)
	z := modeltest.RandVec(rng, n*h, 1)
	est, _ := penaltyAt(t, a, x, z, n, 3)

	prob := m.Layer().Problem(m.Layer().Inject(x[:3], 1), 1)
	f0, f1, e := make([]float64, h), make([]float64, h), make([]float64, h)
	prob.F(f0, e, []int{0})
	var frob2 float64
	for j := range h {
		clear(e)
		e[j] = 1
		prob.F(f1, e, []int{0})
		for i := range h {
			frob2 += (f1[i] - f0[i]) * (f1[i] - f0[i])
		}
	}
	want := frob2 / h
	t.Logf("estimate %.4f, ‖J‖²_F/State %.4f", est, want)
	if math.Abs(est-want) > 0.05*want {
		t.Errorf("estimate %.4f, want ‖J‖²_F/State = %.4f within 5%%", est, want)
	}
}
