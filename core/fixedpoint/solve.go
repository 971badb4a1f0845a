// Package fixedpoint finds fixed points z = f(z) of user maps, one vector or
// a batch of independent vectors, with the vocabulary of gonum's optimize: a
// problem ([Problem], [BatchProblem]), settings (api.Settings, naming the
// method), a method (api.Picard, api.Anderson, api.Broyden, and the operator
// splittings api.ForwardBackward and api.PeacemanRachford for monotone
// layers, which need a [Splitting]) and a result (api.Result, with a status
// and statistics per sample). A Recorder in the settings sees every
// iteration; a [Solver] runs a solve in bounded steps.
//
// It knows nothing of models: core/model builds its problems from a model's
// maps.
package fixedpoint

import (
	"context"
	"fmt"

	"github.com/implicitlab/implicit/api"
)

// Problem is a fixed-point problem z = F(z) for one vector of length Dim.
//
// A map with an input injection, z = f(z, x), is a Problem whose F closes
// over x.
type Problem struct {
	Dim int
	// F sets dst = f(z). dst and z have length Dim and do not overlap.
	F func(dst, z []float64)
}

// BatchProblem is a batch of independent fixed-point problems z_i = f(z_i, i)
// of the same dimension, evaluated together so that a model can use one matrix
// product for the whole batch.
type BatchProblem struct {
	Dim int
	// F sets dst = f(z) for the samples still iterating. z and dst hold
	// len(rows) vectors of length Dim, row-major; row k belongs to sample
	// rows[k] (the index into the batch, for the sample's input injection).
	// The solver freezes converged samples, so rows shrinks as they finish.
	F func(dst, z []float64, rows []int)
	// Split is the structure the operator-splitting methods need. It is
	// optional for every other method.
	Split *Splitting
	// Samples, if not zero, is the number of samples the problem holds (a
	// model's problem knows its inputs); a solve of another number is an
	// error rather than an out-of-range row.
	Samples int
	// Constant says that F does not depend on z (an explicit network): its
	// value is the fixed point, so every sample converges after one
	// evaluation, whatever the method.
	Constant bool
}

// Splitting describes a layer z = σ(W z + u_i) whose nonlinearity σ is a
// proximal operator and whose I − W is strongly monotone, the structure the
// forward-backward and Peaceman-Rachford methods exploit. F must equal
// σ(Linear(z)).
type Splitting struct {
	// Linear sets dst = W z + u_i for each row (the pre-activation).
	Linear func(dst, z []float64, rows []int)
	// Prox applies, in place, the proximal operator prox_{αf} of the convex
	// function f with prox_f = σ (so Prox with α = 1 is σ) to the vectors
	// in v, which belong to the samples rows.
	Prox func(v []float64, rows []int, alpha float64)
	// Resolvent returns a function setting dst = (I + α(I − W))⁻¹ (v + α u_i)
	// for each row.
	Resolvent func(alpha float64) (func(dst, v []float64, rows []int), error)
	// Bounds returns m in I − W ⪰ m I and a bound L on ‖I − W‖₂, which set
	// the default step sizes. It is called only by a splitting method, once
	// per solve, because it may cost a matrix factorisation.
	Bounds func() (monotone, lipschitz float64, err error)
	// PrepareBounds and PrepareResolvent, if not nil, return the work that
	// Bounds, and Resolvent for the step α, would otherwise do in their
	// first call (an eigenvalue estimate, a matrix factorisation), or nil if
	// none is left. A splitting method does that work in its Solver's Steps,
	// a step of it in place of an iteration, so that a first solve is
	// bounded and canceled between steps like its iterations.
	PrepareBounds    func() Work
	PrepareResolvent func(alpha float64) Work
}

// Work is a computation done in bounded steps. Each call does about the work
// of one iteration on rows samples (of applying a resolvent to rows
// vectors, say) and reports whether the computation is complete; an error
// ends it.
type Work func(rows int) (done bool, err error)

// Solve finds a fixed point z = p.F(z).
//
// On divergence or a non-finite value it returns the Result so far and an
// error wrapping api.ErrDiverged or api.ErrNonFinite; when ctx is done
// between iterations, the Result so far and ctx.Err(). Reaching MaxIter is
// not an error: the Result's Status says IterationLimit.
func Solve(ctx context.Context, p Problem, s api.Settings) (*api.Result, error) {
	if p.F == nil {
		return nil, fmt.Errorf("%w: F is nil", api.ErrProblem)
	}
	f := p.F
	bp := BatchProblem{Dim: p.Dim, F: func(dst, z []float64, _ []int) { f(dst, z) }}
	return SolveBatch(ctx, bp, 1, s)
}

// SolveBatch finds the fixed points of n independent samples of p. A sample
// that has converged stops costing work. Errors are as for Solve; the
// SolveError names the first sample that failed, and the others still run to
// their own end.
func SolveBatch(ctx context.Context, p BatchProblem, n int, s api.Settings) (*api.Result, error) {
	sv, err := NewSolver(p, n, s)
	if err != nil {
		return nil, err
	}
	return sv.Run(ctx)
}
