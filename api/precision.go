package api

import "fmt"

// Precision is the floating-point type a model's matrix products compute in:
// its weights, the products' inputs and their sums. The solver's state and
// the elementwise maps (activations, normalisations, the FFTs) stay float64
// in either, so that the solvers' tolerances mean what they say; the
// products are where a solve spends its time.
type Precision string

const (
	// PrecisionModel is the model's own precision: Float32 for a file
	// whose floating-point tensors are all F32, else Float64.
	PrecisionModel Precision = ""
	Float32        Precision = "float32"
	Float64        Precision = "float64"
)

// ParsePrecision reads a precision's name: "float32" (or "f32"),
// "float64" (or "f64"), or "" or "model" for the model's own.
func ParsePrecision(s string) (Precision, error) {
	switch s {
	case "", "model":
		return PrecisionModel, nil
	case "float32", "f32":
		return Float32, nil
	case "float64", "f64":
		return Float64, nil
	}
	return "", fmt.Errorf("%w: precision %q (want float32, float64 or model)", ErrProblem, s)
}

// Check reports a precision that is none of the three.
func (p Precision) Check() error {
	switch p {
	case PrecisionModel, Float32, Float64:
		return nil
	}
	return fmt.Errorf("%w: precision %q (want float32, float64 or empty for the model's own)", ErrProblem, string(p))
}
