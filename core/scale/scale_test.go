package scale_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/modeltest"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/scale"
	"github.com/implicitlab/implicit/core/train"
)

// For a scalar linear model the t-step map is y_t = c·u·x·(1 − wᵗ)/(1 − w) +
// const, so L_t is known exactly, and so is the loss.
func TestAnalysisScalarLinear(t *testing.T) {
	const w, u, b, c, c0 = 0.6, 2.0, 0.3, -1.5, 0.1
	d := &model.Dense{Activation: model.Identity, Param: model.Direct,
		W: scalar(w), U: scalar(u), Bias: []float64{b},
		C: scalar(c), OutBias: []float64{c0}}
	m, err := model.New(d)
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{0.5, -1, 2}
	target := []float64{0, 0, 0}
	outputs := map[int][]float64{}
	s := scale.Settings{MaxBudget: 16, Method: &api.Picard{}, Perturbations: 3, Seed: 1,
		Outputs: func(t int, y []float64) error { outputs[t] = y; return nil }}
	pts, err := scale.Analysis(context.Background(), m, x, target, train.MSE{}, s)
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

func TestAnalysisOutputsError(t *testing.T) {
	d := &model.Dense{Activation: model.Identity, Param: model.Direct,
		W: scalar(0.5), U: scalar(1), Bias: []float64{0},
		C: scalar(1), OutBias: []float64{0}}
	m, err := model.New(d)
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("enough")
	pts, err := scale.Analysis(context.Background(), m, []float64{1}, []float64{0}, train.MSE{}, scale.Settings{MaxBudget: 8,
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

func TestAnalysisBadInput(t *testing.T) {
	m, _ := model.New(modeltest.RandomDense(1, model.ReLU, model.Direct, 4, 2, 3, 0))
	ctx := context.Background()
	for name, c := range map[string]struct {
		x, target []float64
		s         scale.Settings
	}{
		"ragged x":     {[]float64{1, 2, 3}, []float64{0}, scale.Settings{}},
		"labels":       {[]float64{1, 2}, []float64{0, 1}, scale.Settings{}},
		"budget 0":     {[]float64{1, 2}, []float64{0}, scale.Settings{Budgets: []int{0}}},
		"perturbation": {[]float64{1, 2}, []float64{0}, scale.Settings{Perturbations: -1}},
		"radius":       {[]float64{1, 2}, []float64{0}, scale.Settings{Radius: math.Inf(1)}},
	} {
		if _, err := scale.Analysis(ctx, m, c.x, c.target, train.CrossEntropy{}, c.s); !errors.Is(err, api.ErrProblem) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAnalysisHugeMaxBudget(t *testing.T) {
	d := &model.Dense{Activation: model.Identity, Param: model.Direct,
		W: scalar(0.5), U: scalar(1), Bias: []float64{0},
		C: scalar(1), OutBias: []float64{0}}
	m, _ := model.New(d)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	// Only the budget list matters: stop at the first solve.
	_, err := scale.Analysis(ctx, cancelAfter{m, &calls, cancel}, []float64{1}, []float64{0}, train.MSE{}, scale.Settings{MaxBudget: math.MaxInt})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// cancelAfter cancels its context on the first Infer.
type cancelAfter struct {
	*model.Model
	calls  *int
	cancel func()
}

func (c cancelAfter) Infer(ctx context.Context, x []float64, s api.Settings) (*api.Output, error) {
	*c.calls++
	c.cancel()
	return c.Model.Infer(ctx, x, s)
}

// incomplete is an Inferer whose outputs are missing parts.
type incomplete struct{ out *api.Output }

func (incomplete) Info() api.Info { return api.Info{Sizes: api.Sizes{In: 1, State: 1, Out: 1}} }
func (m incomplete) Infer(context.Context, []float64, api.Settings) (*api.Output, error) {
	return m.out, nil
}

func TestAnalysisIncompleteOutput(t *testing.T) {
	for _, out := range []*api.Output{nil, {Y: make([]float64, 9)}, {Y: make([]float64, 2), Result: &api.Result{Samples: make([]api.Sample, 9)}}, {Y: make([]float64, 9), Result: &api.Result{}}} {
		_, err := scale.Analysis(context.Background(), incomplete{out}, []float64{1}, []float64{0}, train.MSE{}, scale.Settings{MaxBudget: 2})
		if !errors.Is(err, api.ErrProblem) {
			t.Errorf("%+v: %v", out, err)
		}
	}
}

// scalar is a 1×1 matrix.
func scalar(v float64) model.Matrix { return model.Matrix{Rows: 1, Cols: 1, Data: []float64{v}} }

// traceless fails a solve that would keep residual traces.
type traceless struct{ *model.Model }

func (m traceless) Infer(ctx context.Context, x []float64, s api.Settings) (*api.Output, error) {
	if !s.NoTrace {
		return nil, errors.New("the analysis asked for residual traces it never reads")
	}
	return m.Model.Infer(ctx, x, s)
}

// The analysis reads each sample's last residual only: its solves keep no
// traces, so that memory does not grow with a huge budget.
func TestAnalysisKeepsNoTraces(t *testing.T) {
	d := &model.Dense{Activation: model.Identity, Param: model.Direct,
		W: scalar(0.5), U: scalar(1), Bias: []float64{0},
		C: scalar(1), OutBias: []float64{0}}
	m, _ := model.New(d)
	if _, err := scale.Analysis(context.Background(), traceless{m}, []float64{1}, []float64{0}, train.MSE{}, scale.Settings{MaxBudget: 4}); err != nil {
		t.Fatal(err)
	}
}
