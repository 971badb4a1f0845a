package models

import (
	"context"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
)

// Params counts what the recipe's model has: its Info's parameter count.
func TestParamsCountTheModel(t *testing.T) {
	for _, r := range []Recipe{
		{Hidden: 5, Param: model.Monotone, Activation: model.ReLU, Seed: 1},
		{Hidden: 5, Param: model.Direct, Activation: model.Tanh, Seed: 1},
		{Hidden: 5, Activation: model.ReLU, MLP: true, Seed: 1},
	} {
		a, err := r.Init(3, 2)
		if err != nil {
			t.Fatal(err)
		}
		m, err := model.New(a)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := r.Params(3, 2), m.Info().Params; got != want {
			t.Errorf("%+v: Params %d, the model has %d", r, got, want)
		}
	}
}

func TestParams(t *testing.T) {
	r := Recipe{Hidden: 4, Param: model.Monotone}
	// U 4×3, b 4, C 2×4, c 2, A and B 4×4.
	if got := r.Params(3, 2); got != 12+4+8+2+32 {
		t.Errorf("monotone: %d", got)
	}
	r.Param = model.Direct
	if got := r.Params(3, 2); got != 12+4+8+2+16 {
		t.Errorf("direct: %d", got)
	}
	r.MLP = true
	if got := r.Params(3, 2); got != 12+4+8+2 {
		t.Errorf("MLP: %d", got)
	}
}

func TestMatchingMLP(t *testing.T) {
	r := DigitsRecipe
	m := r.MatchingMLP(64, 10)
	if !m.MLP || m.Epochs != r.Epochs || m.LearningRate != r.LearningRate || m.Seed != r.Seed {
		t.Fatalf("not trained the same way: %+v", m)
	}
	// Nearest: one unit more or less is further from the target.
	want, got := r.Params(64, 10), m.Params(64, 10)
	for _, w := range []int{m.Hidden - 1, m.Hidden + 1} {
		o := m
		o.Hidden = w
		if d := o.Params(64, 10) - want; abs(d) < abs(got-want) {
			t.Errorf("width %d gives %d parameters, nearer %d than width %d's %d", w, o.Params(64, 10), want, m.Hidden, got)
		}
	}
}

func abs(n int) int { return max(n, -n) }

// Train fits a regression with the recipe's loss: the identity map of one
// input, which an MLP learns to a small error.
func TestTrainRegression(t *testing.T) {
	r := Recipe{Hidden: 8, Param: model.Monotone, Activation: model.ReLU, Epochs: 150, BatchSize: 8, LearningRate: 0.01, Seed: 1, Loss: train.MSE{}}
	x := []float64{-1, -0.5, 0, 0.5, 1, 1.5, -1.5, 0.25}
	data := train.Data{X: x, Target: x, N: len(x)}
	steps := 0
	m, err := r.Train(context.Background(), data, 1, 1, func(train.StepStats) { steps++ })
	if err != nil {
		t.Fatal(err)
	}
	if steps != r.Epochs {
		t.Errorf("%d steps, want one an epoch", steps)
	}
	out, err := m.Infer(context.Background(), x, api.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	var mse float64
	for i, y := range out.Y {
		mse += (y - x[i]) * (y - x[i]) / float64(len(x))
	}
	if mse > 0.01 {
		t.Errorf("mean squared error %.4f after training, want below 0.01", mse)
	}
}

// The explicit counterpart of a deq-conv recipe is the cnn of depth 1, with
// exactly its parameters and initial weights.
func TestMatchingExplicitConv(t *testing.T) {
	c := DigitsConv
	r := Recipe{Conv: &c, Seed: 3}
	e := r.MatchingExplicit(64, 10)
	if r.Conv.Depth != 0 || e.Conv.Depth != 1 {
		t.Fatalf("depths %d and %d", r.Conv.Depth, e.Conv.Depth)
	}
	if pi, pe := r.Params(64, 10), e.Params(64, 10); pi != pe || pi == 0 {
		t.Errorf("parameters %d and %d", pi, pe)
	}
	ai, _ := r.Init(64, 10)
	ae, _ := e.Init(64, 10)
	if ai.(*model.Conv).Cell.Conv1.Weight[5] != ae.(*model.CNN).Cells[0].Conv1.Weight[5] {
		t.Error("the cnn does not start from the deq-conv's weights")
	}
	if _, err := r.Init(63, 10); err == nil {
		t.Error("8×8×1 images for 63 features")
	}
}

// Sizes over the limits are errors naming them, before anything is
// allocated.
func TestRecipeLimits(t *testing.T) {
	conv := func(c ConvRecipe) *ConvRecipe { return &c }
	for _, c := range []struct {
		r    Recipe
		p, q int
		want string
	}{
		{Recipe{Hidden: 1e9, Param: model.Monotone, BatchSize: 1, Epochs: 1}, 64, 10, "h = 1000000000, 64 inputs and 10 outputs make a model of about 2e+18 parameters, over the limit of 8388608"},
		{Recipe{Hidden: 64, MLP: true, BatchSize: 1, Epochs: 1}, 64, 1e12, "about 6.5e+13 parameters"},
		{Recipe{Hidden: 64, BatchSize: 2e9, Epochs: 1}, 64, 10, "batch size 2000000000: over the limit of 65536"},
		{Recipe{Hidden: 8192, MLP: true, Activation: model.ReLU, BatchSize: 4096, Epochs: 1}, 64, 10, "batch size 4096 × 8192 values a sample = 3.36e+07 values a step, over the limit of 16777216"},
		{Recipe{Conv: conv(ConvRecipe{InChannels: 1, Height: 8, Width: 8, Channels: 1e6, Inner: 16, Groups: 1, Pool: 1}), BatchSize: 1, Epochs: 1}, 64, 10,
			"C = 1000000 channels, I = 16 inner channels, 8×8×1 images, depth 1, 64 inputs and 10 outputs make a model of about"},
		{Recipe{Conv: conv(ConvRecipe{InChannels: 1, Height: 8, Width: 8, Channels: 32, Inner: 16, Groups: 4, Pool: 2, Depth: 1e6}), BatchSize: 1, Epochs: 1}, 64, 10, "depth 1000000"},
		{Recipe{Conv: conv(ConvRecipe{InChannels: 1, Height: 4096, Width: 4096, Channels: 1, Inner: 1, Groups: 1, Pool: 4096}), BatchSize: 2, Epochs: 1}, 4096 * 4096, 10, "values a step, over the limit"},
	} {
		if _, err := c.r.NewTrainer(c.p, c.q); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.want)
		}
	}
	// The defaults are well inside.
	for _, r := range []Recipe{DigitsRecipe, DigitsConvRecipe} {
		if _, err := r.NewTrainer(64, 10); err != nil {
			t.Error(err)
		}
	}
}
