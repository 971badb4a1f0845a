package core

import (
	"context"
	"errors"
	"math"
	"testing"
)

// For a scalar linear model the t-step map is y_t = c·u·x·(1 − wᵗ)/(1 − w) +
// const, so L_t is known exactly, and so is the loss.
func TestScaleAnalysisScalarLinear(t *testing.T) {
	const w, u, b, c, c0 = 0.6, 2.0, 0.3, -1.5, 0.1
	d := &Dense{Activation: Identity, Param: Direct,
		W: Matrix{1, 1, []float64{w}}, U: Matrix{1, 1, []float64{u}}, Bias: []float64{b},
		C: Matrix{1, 1, []float64{c}}, OutBias: []float64{c0}}
	m, err := NewModel(d)
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{0.5, -1, 2}
	target := []float64{0, 0, 0}
	outputs := map[int][]float64{}
	s := ScaleSettings{MaxBudget: 16, Method: &Picard{}, Perturbations: 3, Seed: 1,
		Outputs: func(t int, y []float64) error { outputs[t] = y; return nil }}
	pts, err := ScaleAnalysis(context.Background(), m, x, target, MSE{}, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 5 || len(outputs) != 5 {
		t.Fatalf("%d budgets, %d outputs, want 1, 2, 4, 8, 16", len(pts), len(outputs))
	}
	for _, pt := range pts {
		geo := (1 - math.Pow(w, float64(pt.Budget))) / (1 - w)
		for i, xi := range x {
			if y, want := outputs[pt.Budget][i], c*(u*xi+b)*geo+c0; math.Abs(y-want) > 1e-12 {
				t.Errorf("t=%d: y_t(%v) = %v, want %v", pt.Budget, xi, y, want)
			}
		}
		if want := math.Abs(c * u * geo); math.Abs(pt.Lipschitz-want) > 1e-9 {
			t.Errorf("t=%d: L_t = %v, want %v", pt.Budget, pt.Lipschitz, want)
		}
		var loss float64
		for _, xi := range x {
			y := c*(u*xi+b)*geo + c0
			loss += y * y / 2 / 3
		}
		if math.Abs(pt.Loss-loss) > 1e-12 {
			t.Errorf("t=%d: loss %v, want %v", pt.Budget, pt.Loss, loss)
		}
		if !math.IsNaN(pt.Accuracy) {
			t.Errorf("accuracy %v for a regression loss", pt.Accuracy)
		}
	}
	if !(pts[4].MaxResidual < pts[0].MaxResidual) {
		t.Errorf("residual did not fall: %v → %v", pts[0].MaxResidual, pts[4].MaxResidual)
	}
}

func TestScaleAnalysisOutputsError(t *testing.T) {
	d := &Dense{Activation: Identity, Param: Direct,
		W: Matrix{1, 1, []float64{0.5}}, U: Matrix{1, 1, []float64{1}}, Bias: []float64{0},
		C: Matrix{1, 1, []float64{1}}, OutBias: []float64{0}}
	m, err := NewModel(d)
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("enough")
	pts, err := ScaleAnalysis(context.Background(), m, []float64{1}, []float64{0}, MSE{}, ScaleSettings{MaxBudget: 8,
		Outputs: func(t int, _ []float64) error {
			if t == 4 {
				return stop
			}
			return nil
		}})
	if !errors.Is(err, stop) || len(pts) != 2 {
		t.Fatalf("got %d points, %v", len(pts), err)
	}
}

func TestScaleAnalysisBadInput(t *testing.T) {
	m, _ := NewModel(randomDense(1, ReLU, Direct, 4, 2, 3, 0))
	ctx := context.Background()
	for name, c := range map[string]struct {
		x, target []float64
		s         ScaleSettings
	}{
		"ragged x":     {[]float64{1, 2, 3}, []float64{0}, ScaleSettings{}},
		"labels":       {[]float64{1, 2}, []float64{0, 1}, ScaleSettings{}},
		"budget 0":     {[]float64{1, 2}, []float64{0}, ScaleSettings{Budgets: []int{0}}},
		"perturbation": {[]float64{1, 2}, []float64{0}, ScaleSettings{Perturbations: -1}},
		"radius":       {[]float64{1, 2}, []float64{0}, ScaleSettings{Radius: math.Inf(1)}},
	} {
		if _, err := ScaleAnalysis(ctx, m, c.x, c.target, CrossEntropy{}, c.s); !errors.Is(err, ErrProblem) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestScaleAnalysisHugeMaxBudget(t *testing.T) {
	d := &Dense{Activation: Identity, Param: Direct,
		W: Matrix{1, 1, []float64{0.5}}, U: Matrix{1, 1, []float64{1}}, Bias: []float64{0},
		C: Matrix{1, 1, []float64{1}}, OutBias: []float64{0}}
	m, _ := NewModel(d)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	// Only the budget list matters: stop at the first solve.
	_, err := ScaleAnalysis(ctx, cancelAfter{m, &calls, cancel}, []float64{1}, []float64{0}, MSE{}, ScaleSettings{MaxBudget: math.MaxInt})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// cancelAfter cancels its context on the first Infer.
type cancelAfter struct {
	*Model
	calls  *int
	cancel func()
}

func (c cancelAfter) Infer(ctx context.Context, x []float64, s Settings) (*Output, error) {
	*c.calls++
	c.cancel()
	return c.Model.Infer(ctx, x, s)
}

// incomplete is an Inferer whose outputs are missing parts.
type incomplete struct{ out *Output }

func (incomplete) Sizes() (h, p, q int) { return 1, 1, 1 }
func (m incomplete) Infer(context.Context, []float64, Settings) (*Output, error) {
	return m.out, nil
}

func TestScaleAnalysisIncompleteOutput(t *testing.T) {
	for _, out := range []*Output{nil, {Y: make([]float64, 9)}, {Y: make([]float64, 2), Result: &Result{Samples: make([]Sample, 9)}}, {Y: make([]float64, 9), Result: &Result{}}} {
		_, err := ScaleAnalysis(context.Background(), incomplete{out}, []float64{1}, []float64{0}, MSE{}, ScaleSettings{MaxBudget: 2})
		if !errors.Is(err, ErrProblem) {
			t.Errorf("%+v: %v", out, err)
		}
	}
}
