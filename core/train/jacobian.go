package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
	"github.com/implicitlab/implicit/core/internal/vec"
	"github.com/implicitlab/implicit/core/model"
)

// The Jacobian penalty of Bai, Koltun and Kolter (2021), "Stabilizing
// Equilibrium Models by Jacobian Regularization": γ·‖J_f(z*)‖²_F / State,
// added to the loss, keeps the map contractive around its fixed points, so
// that training cannot drive the solve to the edge of convergence (where
// it slows and then stops converging). ‖J‖²_F is estimated as Hutchinson
// does, E‖Jε‖² over Gaussian probes ε, one a sample, and Jε by a forward
// difference. The penalty is that difference itself, so its gradient needs
// first derivatives only: two parameter vector-Jacobian products, at z* and
// at z* + hε, with z* held constant (as Bai et al. hold it). Probes turned
// by power iteration into each sample's top singular vector make it a
// penalty on σ_max(J)², the contraction factor, instead.

// jacobianStep is the forward difference's step, relative to the state's
// RMS (and at least this absolute size).
const jacobianStep = 1e-3

// jacobianStream is the probes' PCG stream: the seed is GradientSettings'.
const jacobianStream = 0x6a6163

// maxJacobianPowerSteps bounds GradientSettings.JacobianPowerSteps: each
// costs an evaluation of the map and a vector-Jacobian product.
const maxJacobianPowerSteps = 100

// CheckJacobianPenalty refuses a penalty that is not a finite γ ≥ 0 or
// whose power steps are out of bounds, as NewTrainer does: a command can
// check its flags before it spends time on data.
func (gs GradientSettings) CheckJacobianPenalty() error {
	if g := gs.JacobianPenalty; !(g >= 0) || math.IsInf(g, 0) {
		return fmt.Errorf("%w: Jacobian penalty %v (want a finite γ ≥ 0)", api.ErrProblem, g)
	}
	if k := gs.JacobianPowerSteps; k < 0 || k > maxJacobianPowerSteps {
		return fmt.Errorf("%w: %d power steps for the Jacobian penalty (want 0 to %d)", api.ErrProblem, k, maxJacobianPowerSteps)
	}
	if gs.JacobianPowerSteps > 0 && gs.JacobianPenalty == 0 {
		return fmt.Errorf("%w: %d power steps for a Jacobian penalty of 0 (set the penalty γ too)", api.ErrProblem, gs.JacobianPowerSteps)
	}
	return nil
}

// checkJacobianPenaltyOn also refuses a penalty on a map without a fixed
// point.
func (gs GradientSettings) checkJacobianPenaltyOn(prob fixedpoint.BatchProblem) error {
	if gs.JacobianPenalty > 0 && prob.Constant {
		return fmt.Errorf("%w: a Jacobian penalty needs an implicit model; this one evaluates its map once", api.ErrProblem)
	}
	return gs.CheckJacobianPenalty()
}

// addJacobianPenalty adds γ times the gradient of the penalty's estimate
// at the states z (n×State) to grad, and returns the estimate, the mean
// over the batch: of ‖J_f(z)‖²_F / State with Gaussian probes, of the
// largest squared singular value with power-iterated ones.
func addJacobianPenalty(layer model.Layer, prob fixedpoint.BatchProblem, x, inj, z []float64, n int, gs GradientSettings, grad model.Architecture) float64 {
	dim := prob.Dim
	rng := rand.New(rand.NewPCG(gs.JacobianSeed, jacobianStream))
	probe := make([]float64, n*dim)
	steps := make([]float64, n)
	for i := range n {
		zi := z[i*dim : (i+1)*dim]
		steps[i] = jacobianStep * max(math.Sqrt(vec.Dot(zi, zi)/float64(dim)), 1)
	}
	for j := range probe {
		probe[j] = rng.NormFloat64()
	}
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	zp, f0, f1 := make([]float64, n*dim), make([]float64, n*dim), make([]float64, n*dim)
	prob.F(f0, z, rows)
	// difference sets f1 = f(z + hε) − f(z), for the probes ε, a sample's
	// step h its own.
	difference := func() {
		for i := range n {
			for j := i * dim; j < (i+1)*dim; j++ {
				zp[j] = z[j] + steps[i]*probe[j]
			}
		}
		prob.F(f1, zp, rows)
		for j := range f1 {
			f1[j] -= f0[j]
		}
	}
	if k := gs.JacobianPowerSteps; k > 0 {
		// Power iteration on JᵀJ, each sample's probe scaled back to
		// ‖ε‖² = State, so that the estimate below is ‖J v‖² for the unit
		// vector v it converges to: the largest singular value, squared.
		back := layer.Backward(x, inj, z, n)
		for range k {
			difference()
			back.StateVJP(probe, f1)
			for i := range n {
				pi := probe[i*dim : (i+1)*dim]
				if norm := math.Sqrt(vec.Dot(pi, pi)); norm > 0 {
					scale := math.Sqrt(float64(dim)) / norm
					for j := range pi {
						pi[j] *= scale
					}
				}
			}
		}
	}
	difference()
	// With r = f(z + hε) − f(z), the estimate is mean ‖r‖²/(h²·State) and
	// its gradient 2r/(h²·State·n) through f at z + hε, minus it through f
	// at z; the probes are held constant.
	var estimate float64
	for i := range n {
		h2 := steps[i] * steps[i]
		c := 2 * gs.JacobianPenalty / (h2 * float64(dim*n))
		var s float64
		for j := i * dim; j < (i+1)*dim; j++ {
			r := f1[j]
			s += r * r
			f1[j], f0[j] = c*r, -c*r
		}
		estimate += s / h2
	}
	for _, at := range []struct{ z, u []float64 }{{zp, f1}, {z, f0}} {
		back := layer.Backward(x, inj, at.z, n)
		back.Params(grad, back.JacobianFree(at.u))
	}
	return estimate / float64(dim*n)
}
