package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/implicitlab/implicit/core/internal/modeltest"
	"github.com/implicitlab/implicit/core/model"
	"gonum.org/v1/gonum/mat"
)

// penaltyAt returns the Jacobian penalty's estimate for a at the states z
// of the inputs x, and its gradient (γ = 1).
func penaltyAt(t *testing.T, a model.Architecture, x, z []float64, n int, seed uint64, power int) (float64, model.Architecture) {
	t.Helper()
	m, err := model.New(a)
	if err != nil {
		t.Fatal(err)
	}
	layer := m.Layer()
	inj := layer.Inject(x, n)
	grad := a.Zero()
	est := addJacobianPenalty(layer, layer.Problem(inj, n), x, inj, z, n, GradientSettings{JacobianPenalty: 1, JacobianSeed: seed, JacobianPowerSteps: power}, grad)
	return est, grad
}

// The penalty's gradient is the exact gradient of its estimate at fixed
// states and probes: central differences of the estimate agree with it.
// Power-iterated probes depend on the parameters too, but at the top
// singular vector that costs nothing to first order (the envelope
// theorem): exactly so for a linear map, and to the forward difference's
// O(h) = 1e-3 for a nonlinear one, whose power iteration maximises ‖Jv‖
// rather than the difference.
func TestJacobianPenaltyGradient(t *testing.T) {
	const q = 2
	for _, c := range []struct {
		name  string
		a     model.Architecture
		power int
		tol   float64
	}{
		{"direct/tanh", modeltest.RandomDense(51, model.Tanh, model.Direct, 5, 3, q, 1), 0, 1e-5},
		{"monotone/relu", modeltest.RandomDense(52, model.ReLU, model.Monotone, 5, 3, q, 1), 0, 1e-5},
		{"conv", modeltest.RandomConv(53, 1, 4, 4, 4, 4, 2, 2, q, 0.3), 0, 1e-5},
		{"direct/identity/power", modeltest.RandomDense(51, model.Identity, model.Direct, 5, 3, q, 1), 100, 1e-6},
		{"direct/tanh/power", modeltest.RandomDense(51, model.Tanh, model.Direct, 5, 3, q, 1), 100, 1e-2},
	} {
		checkPenaltyGradient(t, c.name, c.a, c.power, c.tol)
	}
}

func checkPenaltyGradient(t *testing.T, name string, a model.Architecture, power int, tol float64) {
	const n = 3
	{
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(54, 1))
			x := modeltest.RandVec(rng, n*a.Sizes().In, 1)
			z := modeltest.RandVec(rng, n*a.Sizes().State, 1)
			est, grad := penaltyAt(t, a, x, z, n, 9, power)
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
					ep, _ := penaltyAt(t, a, x, z, n, 9, power)
					tn.Data[i] = orig - eps
					em, _ := penaltyAt(t, a, x, z, n, 9, power)
					tn.Data[i] = orig
					fd := (ep - em) / (2 * eps)
					num2 += fd * fd
					diff2 += (fd - analytic[tn.Name][i]) * (fd - analytic[tn.Name][i])
				}
			}
			rel := math.Sqrt(diff2 / num2)
			t.Logf("estimate %.4g, ‖∇‖ %.3g, relative error %.2g", est, math.Sqrt(num2), rel)
			if !(rel < tol) {
				t.Errorf("gradient of the estimate: relative error %.2g (‖fd‖ = %.3g)", rel, math.Sqrt(num2))
			}
		})
	}
}

// linearJacobian returns the Jacobian (h×h) of a's map, which is linear,
// column by column, with the estimate of the penalty for n random states
// and inputs, from power steps.
func linearJacobian(t *testing.T, seed uint64, h, n, power int) (*mat.Dense, float64) {
	t.Helper()
	a := modeltest.RandomDense(seed, model.Identity, model.Direct, h, 3, 2, 1)
	m, err := model.New(a)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	x := modeltest.RandVec(rng, n*3, 1)
	z := modeltest.RandVec(rng, n*h, 1)
	est, _ := penaltyAt(t, a, x, z, n, seed, power)

	prob := m.Layer().Problem(m.Layer().Inject(x[:3], 1), 1)
	f0, f1, e := make([]float64, h), make([]float64, h), make([]float64, h)
	prob.F(f0, e, []int{0})
	j := mat.NewDense(h, h, nil)
	for c := range h {
		clear(e)
		e[c] = 1
		prob.F(f1, e, []int{0})
		for r := range h {
			j.Set(r, c, f1[r]-f0[r])
		}
	}
	return j, est
}

// For a linear map the forward difference is exact, and the estimate over
// many samples is ‖J‖²_F / State.
func TestJacobianPenaltyEstimatesTheFrobeniusNorm(t *testing.T) {
	const h = 6
	j, est := linearJacobian(t, 55, h, 4000, 0)
	want := mat.Norm(j, 2) * mat.Norm(j, 2) / h
	t.Logf("estimate %.4f, ‖J‖²_F/State %.4f", est, want)
	if math.Abs(est-want) > 0.05*want {
		t.Errorf("estimate %.4f, want ‖J‖²_F/State = %.4f within 5%%", est, want)
	}
}

// For a linear map, power-iterated probes make the estimate the largest
// singular value of J, squared, sample by sample: here J is the same for
// every sample, and its SVD gives the answer.
func TestJacobianPenaltyPowerStepsFindTheSpectralNorm(t *testing.T) {
	j, est := linearJacobian(t, 57, 7, 3, 100)
	var svd mat.SVD
	if !svd.Factorize(j, mat.SVDNone) {
		t.Fatal("SVD failed")
	}
	want := svd.Values(nil)[0] * svd.Values(nil)[0]
	t.Logf("estimate %.10f, σ_max² %.10f", est, want)
	if math.Abs(est-want) > 1e-8*want {
		t.Errorf("estimate %.10f, want σ_max² = %.10f", est, want)
	}
}
