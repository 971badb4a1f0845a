package core

import (
	"context"
	"errors"
	"fmt"
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
}

// Splitting describes a layer z = σ(W z + u_i) whose nonlinearity σ is a
// proximal operator and whose I − W is strongly monotone, the structure the
// [ForwardBackward] and [PeacemanRachford] methods exploit. F must equal
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
}

// Settings control a solve. The zero value gives defaults that work without
// tuning: Anderson acceleration, at most 100 iterations, relative tolerance
// 1e-6 and absolute tolerance 1e-10.
type Settings struct {
	// Method is the solver; nil means Anderson with its defaults.
	Method Method
	// MaxIter bounds the iterations of each sample (0 means 100). One
	// iteration evaluates the map once per sample.
	MaxIter int
	// A sample has converged when ‖f(z) − z‖ ≤ AbsTol + RelTol·‖f(z)‖
	// (Euclidean norms). If both are zero the defaults apply; if either is
	// negative no sample converges, so each runs exactly MaxIter iterations
	// unless it fails.
	AbsTol, RelTol float64
	// Init is the initial guess (a warm start): Dim values for a Problem,
	// n×Dim row-major for a batch. nil starts from zero.
	Init []float64
	// DivergenceRatio declares a sample diverged when its residual exceeds
	// this multiple of the smallest residual it has had (0 means 1e4, or
	// off for the operator splittings; a negative value turns the test
	// off). The splittings converge on any monotone layer, but their
	// residual need not fall on the way: it can rise thousands-fold from
	// its smallest value and still converge.
	DivergenceRatio float64
	// Recorder, if not nil, sees every iteration.
	Recorder Recorder
	// NoTrace leaves the samples' Trace and RelTrace empty, so that a
	// solve's memory does not grow with its iterations (training sets it).
	NoTrace bool
}

const (
	defaultMaxIter         = 100
	defaultRelTol          = 1e-6
	defaultAbsTol          = 1e-10
	defaultDivergenceRatio = 1e4
)

// withDefaults returns s with its zero fields replaced by the defaults.
func (s Settings) withDefaults() Settings {
	if s.Method == nil {
		s.Method = &Anderson{}
	}
	if s.MaxIter == 0 {
		s.MaxIter = defaultMaxIter
	}
	if s.AbsTol == 0 && s.RelTol == 0 {
		s.AbsTol, s.RelTol = defaultAbsTol, defaultRelTol
	}
	if s.DivergenceRatio == 0 {
		switch s.Method.(type) {
		case *ForwardBackward, *PeacemanRachford:
			s.DivergenceRatio = -1
		default:
			s.DivergenceRatio = defaultDivergenceRatio
		}
	}
	return s
}

// Status says why a solve, or one sample of it, stopped.
type Status int

const (
	// Running: the sample is still iterating (a Solver between Steps).
	Running Status = iota
	// Converged: the residual met the tolerance.
	Converged
	// IterationLimit: MaxIter iterations ran without meeting the tolerance.
	// This is not an error: a test-time compute budget ends this way.
	IterationLimit
	// Diverged: the residual grew beyond DivergenceRatio times its minimum.
	Diverged
	// NonFinite: the iterate or the map's value held NaN or ±Inf.
	NonFinite
	// Canceled: the context was done before the sample finished.
	Canceled
)

var statusNames = [...]string{"running", "converged", "iteration limit", "diverged", "non-finite", "canceled"}

func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return fmt.Sprintf("Status(%d)", int(s))
	}
	return statusNames[s]
}

// MarshalText writes the status as its name, for JSON statistics.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// worse reports whether s is a worse outcome than t, for summarising a batch.
func (s Status) worse(t Status) bool {
	rank := func(s Status) int {
		switch s {
		case Converged:
			return 0
		case IterationLimit:
			return 1
		case Running:
			return 2
		case Canceled:
			return 3
		case Diverged:
			return 4
		default: // NonFinite
			return 5
		}
	}
	return rank(s) > rank(t)
}

// Errors a solve returns, testable with errors.Is. The error is a *SolveError
// that says which sample failed; the Result returned with it holds the
// statistics so far.
var (
	ErrDiverged  = errors.New("fixed-point iteration diverged")
	ErrNonFinite = errors.New("non-finite value (NaN or Inf) in the fixed-point iteration")
	// ErrProblem wraps every complaint about a Problem or Settings.
	ErrProblem = errors.New("invalid fixed-point problem")
)

// SolveError reports the first sample of a batch that failed.
type SolveError struct {
	Sample    int     // index in the batch
	Iteration int     // the sample's iteration at the failure
	Residual  float64 // its residual then
	Err       error   // ErrDiverged or ErrNonFinite
}

func (e *SolveError) Error() string {
	return fmt.Sprintf("sample %d, iteration %d (residual %.3g): %v", e.Sample, e.Iteration, e.Residual, e.Err)
}

func (e *SolveError) Unwrap() error { return e.Err }

// Stats counts the work of one sample, or of a whole batch in Result.
type Stats struct {
	// Iterations run: for a batch, the most any sample ran.
	Iterations int `json:"iterations"`
	// FuncEvals counts evaluations of the map, summed over samples.
	FuncEvals int `json:"func_evals"`
	// Residual is ‖f(z) − z‖ at the last iterate; RelResidual divides it by
	// ‖f(z)‖. For a batch, the largest over samples.
	Residual    float64 `json:"residual"`
	RelResidual float64 `json:"rel_residual"`
}

// Sample is the outcome of one sample of a solve.
type Sample struct {
	Status Status `json:"status"`
	Stats
	// Trace holds the absolute residual ‖f(z_k) − z_k‖ of every iteration;
	// RelTrace the relative one.
	Trace    []float64 `json:"trace,omitempty"`
	RelTrace []float64 `json:"rel_trace,omitempty"`
}

// Result is the outcome of a solve.
type Result struct {
	// Z holds the solution, f evaluated at the last iterate: Dim values per
	// sample, row-major.
	Z []float64
	// Status is the worst status over samples: Converged only if all are.
	Status Status
	// Stats aggregates the samples.
	Stats
	Samples []Sample
}

// Iterate is what a Recorder sees after each iteration of a solve.
type Iterate struct {
	Iteration int // 1-based
	// Active is the number of samples that were evaluated in this iteration.
	Active int
	// Residual and RelResidual are the largest over the evaluated samples.
	Residual, RelResidual float64
}

// Recorder observes a solve. An error from Record stops the solve and is
// returned by it.
type Recorder interface {
	Record(Iterate) error
}

// RecorderFunc adapts a function to a Recorder.
type RecorderFunc func(Iterate) error

// Record calls f.
func (f RecorderFunc) Record(it Iterate) error { return f(it) }

// Solve finds a fixed point z = p.F(z).
//
// On divergence or a non-finite value it returns the Result so far and an
// error wrapping ErrDiverged or ErrNonFinite; when ctx is done between
// iterations, the Result so far and ctx.Err(). Reaching MaxIter is not an
// error: the Result's Status says IterationLimit.
func Solve(ctx context.Context, p Problem, s Settings) (*Result, error) {
	if p.F == nil {
		return nil, fmt.Errorf("%w: F is nil", ErrProblem)
	}
	f := p.F
	bp := BatchProblem{Dim: p.Dim, F: func(dst, z []float64, _ []int) { f(dst, z) }}
	return SolveBatch(ctx, bp, 1, s)
}

// SolveBatch finds the fixed points of n independent samples of p. A sample
// that has converged stops costing work. Errors are as for Solve; the
// SolveError names the first sample that failed, and the others still run to
// their own end.
func SolveBatch(ctx context.Context, p BatchProblem, n int, s Settings) (*Result, error) {
	sv, err := NewSolver(p, n, s)
	if err != nil {
		return nil, err
	}
	return sv.Run(ctx)
}
