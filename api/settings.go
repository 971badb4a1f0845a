package api

import (
	"fmt"
	"runtime"
)

// Settings control a solve. The zero value gives defaults that work without
// tuning: Anderson acceleration, at most DefaultMaxIter iterations, relative
// tolerance DefaultRelTol and absolute tolerance DefaultAbsTol. A model
// completes unset fields with its own defaults first (its file's solver,
// tolerance and iteration limit).
type Settings struct {
	// Method is the solver; nil means the model's default, else Anderson
	// with its defaults.
	Method Method
	// MaxIter bounds the iterations of each sample (0 means DefaultMaxIter).
	// One iteration evaluates the map once per sample.
	MaxIter int
	// A sample has converged when ‖f(z) − z‖ ≤ AbsTol + RelTol·‖f(z)‖
	// (Euclidean norms). If both are zero the defaults apply; if either is
	// negative no sample converges, so each runs exactly MaxIter iterations
	// unless it fails. Infinite or NaN tolerances are errors.
	AbsTol, RelTol float64
	// Init is the initial guess (a warm start): the state of each sample,
	// row-major. nil starts from zero.
	Init []float64
	// DivergenceRatio declares a sample diverged when its residual exceeds
	// this multiple of the smallest residual it has had (0 means
	// DefaultDivergenceRatio, or off for the operator splittings; a negative
	// value turns the test off). The splittings converge on any monotone
	// layer, but their residual need not fall on the way: it can rise
	// thousands-fold from its smallest value and still converge.
	DivergenceRatio float64
	// Recorder, if not nil, sees every iteration.
	Recorder Recorder
	// NoTrace leaves the samples' Trace and RelTrace empty, so that a
	// solve's memory does not grow with its iterations (training sets it).
	NoTrace bool
	// Workers caps the goroutines a model's batch inference spreads its
	// samples over, in parts of consecutive samples (0 means GOMAXPROCS; 1
	// solves on the caller's goroutine). The result is the same bit for
	// bit whatever the number. With a Recorder the solve runs on one
	// goroutine, so that the Recorder sees the batch's iterations in order.
	Workers int
	// Precision is what the model's matrix products compute in; empty
	// means the model's own (its file's: see Precision).
	Precision Precision
}

// Parts returns the number of parts of consecutive samples a batch of n is
// spread over: Workers (GOMAXPROCS if 0), at most n, and 1 with a Recorder.
// A negative Workers is an error wrapping ErrProblem.
func (s Settings) Parts(n int) (int, error) {
	w := s.Workers
	switch {
	case w < 0:
		return 0, fmt.Errorf("%w: %d workers (want ≥ 0; 0 means GOMAXPROCS)", ErrProblem, w)
	case w == 0:
		w = runtime.GOMAXPROCS(0)
	}
	if s.Recorder != nil {
		w = 1
	}
	return max(1, min(w, n)), nil
}

// The defaults of a solve whose Settings leave a field unset.
const (
	DefaultMaxIter         = 100
	DefaultRelTol          = 1e-6
	DefaultAbsTol          = 1e-10
	DefaultDivergenceRatio = 1e4
)

// WithDefaults returns s with its zero fields replaced by the defaults: the
// method Anderson, DefaultMaxIter, the tolerances, and the divergence test
// (off for the operator splittings).
func (s Settings) WithDefaults() Settings {
	if s.Method == nil {
		s.Method = &Anderson{}
	}
	if s.MaxIter == 0 {
		s.MaxIter = DefaultMaxIter
	}
	if s.AbsTol == 0 && s.RelTol == 0 {
		s.AbsTol, s.RelTol = DefaultAbsTol, DefaultRelTol
	}
	if s.DivergenceRatio == 0 {
		switch s.Method.(type) {
		case *ForwardBackward, *PeacemanRachford:
			s.DivergenceRatio = -1
		default:
			s.DivergenceRatio = DefaultDivergenceRatio
		}
	}
	return s
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
