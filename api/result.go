package api

import (
	"errors"
	"fmt"
)

// Status says why a solve, or one sample of it, stopped.
type Status int

const (
	// Running: the sample is still iterating (a solve between steps).
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

// Worse reports whether s is a worse outcome than t, for summarising a
// batch: converged, iteration limit, running, canceled, diverged,
// non-finite, from best to worst.
func (s Status) Worse(t Status) bool {
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

// Errors every layer returns, testable with errors.Is. A failed sample of a
// solve comes back as a *SolveError wrapping ErrDiverged or ErrNonFinite,
// with the Result so far.
var (
	ErrDiverged  = errors.New("fixed-point iteration diverged")
	ErrNonFinite = errors.New("non-finite value (NaN or Inf) in the fixed-point iteration")
	// ErrProblem wraps every complaint about a problem, its inputs or its
	// settings.
	ErrProblem = errors.New("invalid fixed-point problem")
	// ErrModel wraps every complaint about a model's parameters or file.
	ErrModel = errors.New("invalid model")
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
	// Z holds the solution, f evaluated at the last iterate: the state of
	// each sample, row-major.
	Z []float64
	// Status is the worst status over samples: Converged only if all are.
	Status Status
	// Stats aggregates the samples.
	Stats
	Samples []Sample
}

// Output is the result of a model's inference on a batch of n samples.
type Output struct {
	Y      []float64 // n×Out outputs, row-major
	Z      []float64 // n×State fixed points
	Result *Result   // the solve's status and statistics
}
