package api

import "context"

// Sizes are a model's dimensions, per sample.
type Sizes struct {
	In    int // input features, p
	State int // the state z that the fixed point is found in (h for deq-dense)
	Out   int // outputs, q
}

// Defaults are a model file's own solver settings (its implicit.solver,
// implicit.tol and implicit.max_iter), used where a caller sets none. Zero
// fields are unset.
type Defaults struct {
	Solver  string  // a MethodByName name
	Tol     float64 // relative tolerance
	MaxIter int     // iteration limit
}

// Info describes a loaded model: what a program needs to use it and to say
// what it is, natively or through the sandbox alike.
type Info struct {
	Kind        string // its file's implicit.kind: "deq-dense", "mlp", ...
	Description string // one line, e.g. "monotone (m=0.5) relu, h=64"
	Sizes
	Params int // the number of trained parameters
	// Method names the solver used when Settings give none: the file's
	// own, or the kind's default.
	Method string
	// Defaults are the file's own solver settings.
	Defaults Defaults
	// Explicit: the model evaluates its map once, without a fixed point
	// (an explicit network such as "mlp").
	Explicit bool
	// Precision is the model's own precision, Float32 or Float64: what a
	// solve whose Settings name none computes in.
	Precision Precision
}

// Inferer runs a model: a native model of core/model and a sandboxed one
// of package host both do, which is how the test-time-compute analysis and
// the command line run either.
type Inferer interface {
	Info() Info
	// Infer runs the model on len(x)/In samples, x row-major, completing s
	// with the model's defaults. The Output holds what was computed when the
	// solve fails.
	Infer(ctx context.Context, x []float64, s Settings) (*Output, error)
}
