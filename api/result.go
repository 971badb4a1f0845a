package api

import (
	"errors"
	"fmt"
	"sync"
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

// FirstFailure returns whichever of a and b a solve of both samples in one
// batch would report: the earlier iteration, then the lower sample, the
// order in which a solve checks them. Either may be nil.
func FirstFailure(a, b *SolveError) *SolveError {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case b.Iteration < a.Iteration || (b.Iteration == a.Iteration && b.Sample < a.Sample):
		return b
	}
	return a
}

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

// Append adds the samples of b after those of r, as if one solve had run
// them all: Z and Samples are appended, the Status and Stats aggregate.
func (r *Result) Append(b *Result) {
	if len(r.Samples) == 0 && len(r.Z) == 0 {
		r.Status = b.Status
	} else if b.Status.Worse(r.Status) {
		r.Status = b.Status
	}
	r.Iterations = max(r.Iterations, b.Iterations)
	r.FuncEvals += b.FuncEvals
	r.Residual = max(r.Residual, b.Residual)
	r.RelResidual = max(r.RelResidual, b.RelResidual)
	r.Samples = append(r.Samples, b.Samples...)
	r.Z = append(r.Z, b.Z...)
}

// Output is the result of a model's inference on a batch of n samples.
type Output struct {
	Y      []float64 // n×Out outputs, row-major
	Z      []float64 // n×State fixed points
	Result *Result   // the solve's status and statistics
}

// InferInParts solves the n samples of x (in values each) as parts parts of
// consecutive samples at once, each on its own goroutine by infer, with a
// warm start in s split the same way (state values a sample), and joins
// them (JoinOutputs). The caller checks parts and the sizes first.
func InferInParts(x []float64, s Settings, in, state, parts int, infer func(x []float64, s Settings) (*Output, error)) (*Output, error) {
	n := len(x) / in
	outs, errs := make([]*Output, parts), make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := p*n/parts, (p+1)*n/parts
		ps := s
		if s.Init != nil {
			ps.Init = s.Init[lo*state : hi*state]
		}
		wg.Go(func() { outs[p], errs[p] = infer(x[lo*in:hi*in], ps) })
	}
	wg.Wait()
	return JoinOutputs(outs, errs)
}

// JoinOutputs joins the outputs of the parts of a batch, consecutive samples
// solved separately, with their errors, into the batch's Output and the
// error one solve of the batch would return: what stopped a part (its
// context, a Recorder) first, else the first failed sample (FirstFailure,
// its index moved into the batch). A part with no Output did not run: its
// error is returned alone.
func JoinOutputs(outs []*Output, errs []error) (*Output, error) {
	var ny, nz, n int
	for p, o := range outs {
		if o == nil {
			return nil, errs[p]
		}
		ny, nz, n = ny+len(o.Y), nz+len(o.Z), n+len(o.Result.Samples)
	}
	out := &Output{Y: make([]float64, 0, ny), Result: &Result{Z: make([]float64, 0, nz), Samples: make([]Sample, 0, n)}}
	var (
		stop error
		fail *SolveError
	)
	for p, o := range outs {
		var se *SolveError
		switch err := errs[p]; {
		case errors.As(err, &se):
			moved := *se
			moved.Sample += len(out.Result.Samples)
			fail = FirstFailure(fail, &moved)
		case err != nil && stop == nil:
			stop = err
		}
		out.Result.Append(o.Result)
		out.Y = append(out.Y, o.Y...)
	}
	out.Z = out.Result.Z
	switch {
	case stop != nil:
		return out, stop
	case fail != nil:
		return out, fail
	}
	return out, nil
}
