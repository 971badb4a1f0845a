// Package scale measures how an implicit model's quality and sensitivity
// change with test-time compute, the number of fixed-point iterations it
// spends (Liu, Ding, Osher, Yin, "Implicit Models: Expressive Power Scales
// with Test-Time Compute", arXiv:2510.03638). It runs on any api.Inferer:
// a native model of core/model, or a sandboxed one of package host.
package scale

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/vec"
	"github.com/implicitlab/implicit/core/train"
)

// Settings control the test-time compute analysis.
type Settings struct {
	// Budgets are the iteration counts t to evaluate; nil means
	// 1, 2, 4, …, MaxBudget.
	Budgets []int
	// MaxBudget is the largest t when Budgets is nil; 0 means 64.
	MaxBudget int
	// Method iterates the model; nil means the model's own solver.
	Method api.Method
	// Perturbations is the number of random input perturbations δ a sample
	// for the Lipschitz estimate; 0 means 8.
	Perturbations int
	// Radius is ‖δ‖; 0 means 1e-3 times the mean norm of the inputs.
	Radius float64
	// Seed draws the perturbations (the same ones at every budget).
	Seed uint64
	// Outputs, if set, receives each budget's outputs y_t on x (n×q,
	// row-major, its own slice), for measures of quality other than the
	// loss. An error it returns ends the analysis.
	Outputs func(budget int, y []float64) error
}

// Point is the analysis at one iteration budget t.
type Point struct {
	Budget int `json:"budget"`
	// Accuracy is the fraction of samples whose largest output is the label
	// (CrossEntropy only, else NaN); Loss the mean loss.
	Accuracy float64 `json:"accuracy"`
	Loss     float64 `json:"loss"`
	// MeanResidual and MaxResidual are the relative residuals
	// ‖f(z) − z‖/‖f(z)‖ over the samples at the last iterate evaluated,
	// z = z_{t−1}, whose image f(z) is the returned z_t: for plain iteration
	// the last step's relative size ‖z_t − z_{t−1}‖/‖z_t‖.
	MeanResidual float64 `json:"mean_residual"`
	MaxResidual  float64 `json:"max_residual"`
	// Lipschitz is L_t = max over samples and perturbations of
	// ‖y_t(x + δ) − y_t(x)‖ / ‖δ‖.
	Lipschitz float64 `json:"lipschitz"`
}

// Analysis measures how a model's quality and sensitivity change with
// test-time compute (Liu, Ding, Osher, Yin, arXiv:2510.03638): at each
// budget t it runs exactly t iterations from z⁰ = 0 on x (n samples) and on
// perturbed copies, and reports the loss against target, the residual and
// the empirical Lipschitz number of the t-step map. The paper predicts
// quality improving and settling while L_t grows with t.
func Analysis(ctx context.Context, model api.Inferer, x, target []float64, loss train.Loss, s Settings) ([]Point, error) {
	info := model.Info()
	p, q := info.In, info.Out
	if len(x) == 0 || len(x)%p != 0 {
		return nil, fmt.Errorf("%w: %d input values are not a whole number of samples of %d features", api.ErrProblem, len(x), p)
	}
	n := len(x) / p
	if len(target) != n*loss.TargetLen(q) {
		return nil, fmt.Errorf("%w: %d target values for %d samples (want %d)", api.ErrProblem, len(target), n, n*loss.TargetLen(q))
	}
	budgets := s.Budgets
	if budgets == nil {
		top := s.MaxBudget
		if top == 0 {
			top = 64
		}
		if top < 1 {
			return nil, fmt.Errorf("%w: largest budget %d", api.ErrProblem, top)
		}
		for t := 1; t <= top; t *= 2 {
			budgets = append(budgets, t)
			if t > top/2 { // the next doubling would pass top, or overflow
				break
			}
		}
	}
	k := s.Perturbations
	if k == 0 {
		k = 8
	}
	if k < 1 {
		return nil, fmt.Errorf("%w: %d perturbations", api.ErrProblem, k)
	}
	radius := s.Radius
	if radius == 0 {
		var total float64
		for i := 0; i < n; i++ {
			total += math.Sqrt(vec.Dot(x[i*p:(i+1)*p], x[i*p:(i+1)*p]))
		}
		radius = 1e-3 * total / float64(n)
	}
	if !(radius > 0) || math.IsInf(radius, 0) {
		return nil, fmt.Errorf("%w: perturbation radius %v", api.ErrProblem, radius)
	}

	// One batch: the n samples, then k perturbed copies of each.
	rng := rand.New(rand.NewPCG(s.Seed, 0x5ca1e))
	all := make([]float64, 0, n*(k+1)*p)
	all = append(all, x...)
	for i := 0; i < n; i++ {
		for range k {
			d := make([]float64, p)
			for j := range d {
				d[j] = rng.NormFloat64()
			}
			scale := radius / math.Sqrt(vec.Dot(d, d))
			for j := range d {
				d[j] = x[i*p+j] + scale*d[j]
			}
			all = append(all, d...)
		}
	}

	var points []Point
	grad := make([]float64, n*q)
	for _, t := range budgets {
		if t < 1 {
			return nil, fmt.Errorf("%w: budget %d", api.ErrProblem, t)
		}
		// Exactly t iterations; a diverging iterate is data here, not a
		// reason to stop early, but a non-finite one is an error.
		out, err := model.Infer(ctx, all, api.Settings{Method: s.Method, MaxIter: t, RelTol: -1, DivergenceRatio: -1, NoTrace: true})
		if err != nil {
			return points, fmt.Errorf("budget %d: %w", t, err)
		}
		if out == nil || out.Result == nil || len(out.Y) != len(all)/p*q || len(out.Result.Samples) != len(all)/p {
			return points, fmt.Errorf("budget %d: %w: the model's Infer returned an incomplete output for %d samples", t, api.ErrProblem, len(all)/p)
		}
		pt := Point{Budget: t, Accuracy: math.NaN()}
		y := out.Y[:n*q]
		if pt.Loss, err = loss.Loss(y, target, n, q, grad); err != nil {
			return points, err
		}
		if _, ok := loss.(train.CrossEntropy); ok {
			if pt.Accuracy, err = train.Accuracy(y, target, q); err != nil {
				return points, err
			}
		}
		for _, smp := range out.Result.Samples[:n] {
			pt.MeanResidual += smp.RelResidual / float64(n)
			pt.MaxResidual = math.Max(pt.MaxResidual, smp.RelResidual)
		}
		for i := 0; i < n; i++ {
			yi := y[i*q : (i+1)*q]
			for j := range k {
				r := n + i*k + j
				var d2 float64
				for c, v := range out.Y[r*q : (r+1)*q] {
					d2 += (v - yi[c]) * (v - yi[c])
				}
				pt.Lipschitz = math.Max(pt.Lipschitz, math.Sqrt(d2)/radius)
			}
		}
		if s.Outputs != nil {
			if err := s.Outputs(t, y); err != nil {
				return points, fmt.Errorf("budget %d: %w", t, err)
			}
		}
		points = append(points, pt)
	}
	return points, nil
}
