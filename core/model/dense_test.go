package model_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
	"github.com/implicitlab/implicit/core/internal/modeltest"
	"github.com/implicitlab/implicit/core/model"
)

func TestMonotoneParametrisation(t *testing.T) {
	d := modeltest.RandomDense(1, model.ReLU, model.Monotone, 16, 4, 2, 1.5)
	w := d.EffectiveW()
	// I − W must have symmetric part ⪰ m I.
	h := w.Rows
	sym := mat.NewSymDense(h, nil)
	for i := 0; i < h; i++ {
		for j := i; j < h; j++ {
			a := -(w.Data[i*h+j] + w.Data[j*h+i]) / 2
			if i == j {
				a++
			}
			sym.SetSym(i, j, a)
		}
	}
	var eig mat.EigenSym
	eig.Factorize(sym, false)
	if lo := eig.Values(nil)[0]; lo < d.Monotone-1e-12 {
		t.Errorf("smallest eigenvalue of sym(I − W) = %v < m = %v", lo, d.Monotone)
	}
}

// A monotone layer with ‖W‖₂ > 1 has a unique fixed point, but plain
// iteration does not find it; the splittings must, and so must the default
// solver.
func TestMonotoneLayerWithLargeW(t *testing.T) {
	const h, p, q, n = 32, 6, 3, 16
	for _, act := range []model.Activation{model.ReLU, model.Tanh, model.Identity} {
		t.Run(string(act), func(t *testing.T) {
			d := modeltest.RandomDense(7, act, model.Monotone, h, p, q, 2)
			norm := modeltest.SpectralNorm(d.EffectiveW())
			if norm <= 4 {
				t.Fatalf("‖W‖₂ = %v: the test needs a layer with ‖W‖₂ > 4", norm)
			}
			m, err := model.New(d)
			if err != nil {
				t.Fatal(err)
			}
			x := modeltest.RandomInputs(8, n, p)
			ctx := context.Background()
			out, err := m.Infer(ctx, x, api.Settings{Method: &api.Picard{}, MaxIter: 300})
			if err == nil && out.Result.Status == api.Converged {
				t.Fatalf("undamped api.Picard converged on a layer with ‖W‖₂ = %.2f", norm)
			}
			var ref []float64
			for _, meth := range []api.Method{nil, &api.PeacemanRachford{}, &api.PeacemanRachford{Alpha: 0.5}, &api.Anderson{Mixing: 0.2}} {
				out, err := m.Infer(ctx, x, api.Settings{Method: meth, RelTol: 1e-10, MaxIter: 2000})
				name := "default"
				if meth != nil {
					name = meth.String()
				}
				if err != nil || out.Result.Status != api.Converged {
					t.Fatalf("%s: status %v, err %v", name, out.Result.Status, err)
				}
				if ref == nil {
					ref = out.Z
				} else if d := modeltest.MaxAbsDiff(out.Z, ref); d > 1e-7 {
					t.Errorf("%s: fixed point differs from the default solver's by %g", name, d)
				}
			}
		})
	}
}

// Forward-backward needs α ≤ 2m/L², so it is slow on a layer as stiff as the
// one above; on a milder monotone layer it must reach the same point.
func TestForwardBackward(t *testing.T) {
	for _, act := range []model.Activation{model.ReLU, model.Tanh, model.Identity} {
		d := modeltest.RandomDense(9, act, model.Monotone, 16, 4, 2, 0.5)
		d.Monotone = 0.5
		m, err := model.New(d)
		if err != nil {
			t.Fatal(err)
		}
		x := modeltest.RandomInputs(10, 8, 4)
		s := api.Settings{RelTol: 1e-11, MaxIter: 5000}
		ref, err := m.Infer(context.Background(), x, s)
		if err != nil {
			t.Fatal(err)
		}
		s.Method = &api.ForwardBackward{}
		fb, err := m.Infer(context.Background(), x, s)
		if err != nil || fb.Result.Status != api.Converged {
			t.Fatalf("%s: %v %v", act, fb.Result.Status, err)
		}
		if dd := modeltest.MaxAbsDiff(fb.Z, ref.Z); dd > 1e-8 {
			t.Errorf("%s: forward-backward differs by %g", act, dd)
		}
	}
}

func TestInferMatchesDirectIteration(t *testing.T) {
	d := modeltest.RandomDense(3, model.Tanh, model.Direct, 12, 5, 4, 0)
	m, err := model.New(d)
	if err != nil {
		t.Fatal(err)
	}
	x := modeltest.RandomInputs(4, 3, 5)
	out, err := m.Infer(context.Background(), x, api.Settings{RelTol: 1e-13})
	if err != nil {
		t.Fatal(err)
	}
	// Plain iteration of the formula, written out, as the reference.
	h, p, q := 12, 5, 4
	for s := 0; s < 3; s++ {
		z := make([]float64, h)
		for it := 0; it < 200; it++ {
			next := make([]float64, h)
			for i := 0; i < h; i++ {
				v := d.Bias[i]
				for j := 0; j < h; j++ {
					v += d.W.Data[i*h+j] * z[j]
				}
				for j := 0; j < p; j++ {
					v += d.U.Data[i*p+j] * x[s*p+j]
				}
				next[i] = math.Tanh(v)
			}
			z = next
		}
		for i := 0; i < q; i++ {
			y := d.OutBias[i]
			for j := 0; j < h; j++ {
				y += d.C.Data[i*h+j] * z[j]
			}
			if got := out.Y[s*q+i]; math.Abs(got-y) > 1e-11 {
				t.Errorf("sample %d output %d: %v, want %v", s, i, got, y)
			}
		}
	}
}

func TestValidateNamesTheProblem(t *testing.T) {
	cases := map[string]struct {
		edit func(d *model.Dense)
		want string
	}{
		"activation":  {func(d *model.Dense) { d.Activation = "gelu" }, `activation "gelu"`},
		"param":       {func(d *model.Dense) { d.Param = "lowrank" }, `parametrisation "lowrank"`},
		"W shape":     {func(d *model.Dense) { d.W.Rows, d.W.Cols = 4, 16 }, "W (core.weight) is 4×16"},
		"bias length": {func(d *model.Dense) { d.Bias = d.Bias[:3] }, "b (encoder.bias) has 3 values"},
		"NaN weight":  {func(d *model.Dense) { d.C.Data[5] = math.NaN() }, "C (decoder.weight) holds NaN at index 5"},
		"A on direct": {func(d *model.Dense) { d.A = model.NewMatrix(8, 8) }, "A (core.A) is set"},
		"solver":      {func(d *model.Dense) { d.Defaults.Solver = "newton" }, `default solver "newton"`},
		"monotone m": {func(d *model.Dense) {
			d.Param, d.A, d.B, d.W, d.Monotone = model.Monotone, d.W, d.W, model.Matrix{}, -1
		}, "monotone m=-1"},
		"zero sizes": {func(d *model.Dense) { d.U = model.Matrix{} }, "sizes h=0"},
		"A overflows": {func(d *model.Dense) {
			d.Param, d.A, d.B, d.W, d.Monotone = model.Monotone, model.NewMatrix(8, 8), model.NewMatrix(8, 8), model.Matrix{}, 0.5
			d.A.Data[3] = 1e200
		}, "A (core.A) is too large"},
	}
	for name, c := range cases {
		d := modeltest.RandomDense(1, model.ReLU, model.Direct, 8, 3, 2, 0)
		c.edit(d)
		err := d.Validate()
		if !errors.Is(err, api.ErrModel) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want api.ErrModel mentioning %q", name, err, c.want)
		}
		if _, err := model.New(d); err == nil {
			t.Errorf("%s: NewModel accepted it", name)
		}
	}
}

func TestInferBadInput(t *testing.T) {
	m, err := model.New(modeltest.RandomDense(1, model.ReLU, model.Direct, 8, 3, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Infer(context.Background(), make([]float64, 7), api.Settings{}); !errors.Is(err, api.ErrProblem) {
		t.Errorf("7 values for 3 features: %v", err)
	}
	x := []float64{1, math.Inf(1), 0}
	if _, err := m.Infer(context.Background(), x, api.Settings{}); !errors.Is(err, api.ErrNonFinite) {
		t.Errorf("Inf input: %v", err)
	}
}

func TestSplittingNeedsMonotoneLayer(t *testing.T) {
	// A direct W with an eigenvalue of its symmetric part above 1 makes
	// I − W not monotone: the splittings must refuse, not run.
	d := modeltest.RandomDense(2, model.ReLU, model.Direct, 4, 2, 1, 0)
	d.W = model.NewMatrix(4, 4)
	for i := 0; i < 4; i++ {
		d.W.Data[i*4+i] = 1.5
	}
	m, err := model.New(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, meth := range []api.Method{&api.ForwardBackward{}, &api.PeacemanRachford{}} {
		_, err := m.Infer(context.Background(), []float64{1, 2}, api.Settings{Method: meth})
		if !errors.Is(err, api.ErrProblem) || !strings.Contains(err.Error(), "monotone") {
			t.Errorf("%v: %v", meth, err)
		}
	}
}

func TestNewDense(t *testing.T) {
	for _, param := range []model.Parametrization{model.Direct, model.Monotone} {
		d, err := model.NewDense(model.DenseConfig{Hidden: 40, In: 7, Out: 3, Activation: model.Tanh, Param: param}, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if param == model.Direct {
			if s := modeltest.SpectralNorm(d.W); s > 0.9+1e-9 {
				t.Errorf("‖W‖₂ = %v > 0.9", s)
			}
		} else if d.Monotone != 0.5 {
			t.Errorf("default m = %v", d.Monotone)
		}
		// The same seed gives the same model.
		e, _ := model.NewDense(model.DenseConfig{Hidden: 40, In: 7, Out: 3, Activation: model.Tanh, Param: param}, rand.New(rand.NewPCG(1, 1)))
		if modeltest.MaxAbsDiff(d.U.Data, e.U.Data) != 0 {
			t.Error("not reproducible")
		}
	}
	if _, err := model.NewDense(model.DenseConfig{Hidden: 0, In: 1, Out: 1, Activation: model.ReLU, Param: model.Direct}, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, api.ErrModel) {
		t.Errorf("h=0: %v", err)
	}
	if _, err := model.NewDense(model.DenseConfig{Hidden: 2, In: 1, Out: 1, Activation: "elu", Param: model.Direct}, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, api.ErrModel) {
		t.Errorf("elu: %v", err)
	}
}

func TestReadoutBadInput(t *testing.T) {
	m, _ := model.New(modeltest.RandomDense(1, model.ReLU, model.Direct, 4, 2, 3, 0))
	if _, err := m.Readout(make([]float64, 7)); !errors.Is(err, api.ErrProblem) {
		t.Errorf("7 values for h=4: %v", err)
	}
}

func TestProblemSampleCount(t *testing.T) {
	m, err := model.New(modeltest.RandomDense(1, model.ReLU, model.Direct, 4, 2, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Problem([]float64{1, 2, 3, 4}) // two samples
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fixedpoint.NewSolver(p, 3, api.Settings{}); !errors.Is(err, api.ErrProblem) {
		t.Errorf("3 samples of a 2-sample problem: %v", err)
	}
	if _, err := m.NewSolver([]float64{1, 2, 3}, api.Settings{}); !errors.Is(err, api.ErrProblem) {
		t.Errorf("ragged input: %v", err)
	}
}

// The splittings' residual need not fall on the way to the fixed point: on
// this monotone layer Peaceman-Rachford's rises over 6,000-fold from its
// smallest value and still converges, so their default is no divergence
// test (a ratio of 1,000, asked for, stops it).
func TestSplittingResidualRisesAndConverges(t *testing.T) {
	rng := rand.New(rand.NewPCG(11075, 9))
	d, err := model.NewDense(model.DenseConfig{Hidden: 4, In: 4, Out: 1, Activation: model.ReLU, Param: model.Monotone}, rng)
	if err != nil {
		t.Fatal(err)
	}
	for i := range d.A.Data {
		d.A.Data[i] *= 5
		d.B.Data[i] *= 5
	}
	clear(d.U.Data)
	for i := range 4 {
		d.U.Data[i*4+i] = 1
	}
	m, err := model.New(d)
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{-rng.Float64(), -rng.Float64(), -rng.Float64(), 1e-6}
	rng.Shuffle(4, func(i, j int) { x[i], x[j] = x[j], x[i] })

	var rise, low float64 = 0, math.Inf(1)
	rec := api.RecorderFunc(func(it api.Iterate) error {
		rise, low = math.Max(rise, it.Residual/low), math.Min(low, it.Residual)
		return nil
	})
	out, err := m.Infer(context.Background(), x, api.Settings{Recorder: rec, MaxIter: 500})
	if err != nil || out.Result.Status != api.Converged {
		t.Fatalf("default settings: %v, %v", out.Result.Status, err)
	}
	if rise < 5000 {
		t.Fatalf("the residual rose only %.0f-fold: the layer no longer shows the case", rise)
	}
	if _, err := m.Infer(context.Background(), x, api.Settings{DivergenceRatio: 1000, MaxIter: 500}); !errors.Is(err, api.ErrDiverged) {
		t.Errorf("an explicit ratio of 1000: %v", err)
	}
}

// A monotone layer with huge but finite weights is refused at load, naming
// the tensor: its W would make the splittings' norms overflow (L = NaN),
// and every solve fail. (FuzzDecode found it; its input is in the corpus.)
func TestHugeWeightsAreRefused(t *testing.T) {
	d := modeltest.RandomDense(1, model.ReLU, model.Monotone, 4, 2, 1, 1)
	d.B.Data[3] = 1e200
	if err := d.Validate(); !errors.Is(err, api.ErrModel) || !strings.Contains(err.Error(), "B (core.B) is too large: 1e+200 at index 3") {
		t.Errorf("B = 1e200: %v", err)
	}
	w := modeltest.RandomDense(1, model.ReLU, model.Direct, 4, 2, 1, 1)
	w.W.Data[0] = -3e150
	if err := w.Validate(); !errors.Is(err, api.ErrModel) || !strings.Contains(err.Error(), "W (core.weight) is too large") {
		t.Errorf("W = -3e150: %v", err)
	}
}
