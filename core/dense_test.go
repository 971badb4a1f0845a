package core

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func randMatrix(rng *rand.Rand, rows, cols int, scale float64) Matrix {
	m := NewMatrix(rows, cols)
	for i := range m.Data {
		m.Data[i] = scale * rng.NormFloat64()
	}
	return m
}

func randVec(rng *rand.Rand, n int, scale float64) []float64 {
	return randMatrix(rng, 1, n, scale).Data
}

// randomDense returns a deq-dense model. A direct W is scaled to
// ‖W‖₂ = 0.7; the monotone A and B get the given scale.
func randomDense(seed uint64, act Activation, param Parametrization, h, p, q int, scale float64) *Dense {
	rng := rand.New(rand.NewPCG(seed, 3))
	d := &Dense{
		Activation: act, Param: param,
		U: randMatrix(rng, h, p, 1/math.Sqrt(float64(p))), Bias: randVec(rng, h, 0.1),
		C: randMatrix(rng, q, h, 1/math.Sqrt(float64(h))), OutBias: randVec(rng, q, 0.1),
	}
	if param == Monotone {
		d.Monotone = 0.1
		d.A = randMatrix(rng, h, h, scale/math.Sqrt(float64(h)))
		d.B = randMatrix(rng, h, h, scale/math.Sqrt(float64(h)))
		return d
	}
	d.W = randMatrix(rng, h, h, 1)
	s := spectralNorm(d.W)
	for i := range d.W.Data {
		d.W.Data[i] *= 0.7 / s
	}
	return d
}

func spectralNorm(m Matrix) float64 {
	var svd mat.SVD
	svd.Factorize(mat.NewDense(m.Rows, m.Cols, m.Data), mat.SVDNone)
	return svd.Values(nil)[0]
}

func randomInputs(seed uint64, n, p int) []float64 {
	return randVec(rand.New(rand.NewPCG(seed, 4)), n*p, 1)
}

func TestMonotoneParametrisation(t *testing.T) {
	d := randomDense(1, ReLU, Monotone, 16, 4, 2, 1.5)
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
	for _, act := range []Activation{ReLU, Tanh, Identity} {
		t.Run(string(act), func(t *testing.T) {
			d := randomDense(7, act, Monotone, h, p, q, 2)
			norm := spectralNorm(d.EffectiveW())
			if norm <= 4 {
				t.Fatalf("‖W‖₂ = %v: the test needs a layer with ‖W‖₂ > 4", norm)
			}
			m, err := NewModel(d)
			if err != nil {
				t.Fatal(err)
			}
			x := randomInputs(8, n, p)
			ctx := context.Background()
			out, err := m.Infer(ctx, x, Settings{Method: &Picard{}, MaxIter: 300})
			if err == nil && out.Result.Status == Converged {
				t.Fatalf("undamped Picard converged on a layer with ‖W‖₂ = %.2f", norm)
			}
			var ref []float64
			for _, meth := range []Method{nil, &PeacemanRachford{}, &PeacemanRachford{Alpha: 0.5}, &Anderson{Mixing: 0.2}} {
				out, err := m.Infer(ctx, x, Settings{Method: meth, RelTol: 1e-10, MaxIter: 2000})
				name := "default"
				if meth != nil {
					name = meth.String()
				}
				if err != nil || out.Result.Status != Converged {
					t.Fatalf("%s: status %v, err %v", name, out.Result.Status, err)
				}
				if ref == nil {
					ref = out.Z
				} else if d := maxAbsDiff(out.Z, ref); d > 1e-7 {
					t.Errorf("%s: fixed point differs from the default solver's by %g", name, d)
				}
			}
		})
	}
}

// Forward-backward needs α ≤ 2m/L², so it is slow on a layer as stiff as the
// one above; on a milder monotone layer it must reach the same point.
func TestForwardBackward(t *testing.T) {
	for _, act := range []Activation{ReLU, Tanh, Identity} {
		d := randomDense(9, act, Monotone, 16, 4, 2, 0.5)
		d.Monotone = 0.5
		m, err := NewModel(d)
		if err != nil {
			t.Fatal(err)
		}
		x := randomInputs(10, 8, 4)
		s := Settings{RelTol: 1e-11, MaxIter: 5000}
		ref, err := m.Infer(context.Background(), x, s)
		if err != nil {
			t.Fatal(err)
		}
		s.Method = &ForwardBackward{}
		fb, err := m.Infer(context.Background(), x, s)
		if err != nil || fb.Result.Status != Converged {
			t.Fatalf("%s: %v %v", act, fb.Result.Status, err)
		}
		if dd := maxAbsDiff(fb.Z, ref.Z); dd > 1e-8 {
			t.Errorf("%s: forward-backward differs by %g", act, dd)
		}
	}
}

func TestTanhProx(t *testing.T) {
	// x = prox_{αf}(v) must satisfy (1 − α) x + α atanh(x) = v.
	for _, alpha := range []float64{0.01, 0.3, 1, 2.5} {
		for _, v := range []float64{-30, -2, -0.1, 0, 0.5, 3, 40} {
			x := tanhProx(v, alpha)
			if !(x >= -1 && x <= 1) {
				t.Fatalf("α=%v v=%v: x=%v outside [−1, 1]", alpha, v, x)
			}
			if math.Abs(x) < 1-1e-8 { // nearer ±1, atanh amplifies rounding
				if got := (1-alpha)*x + alpha*math.Atanh(x); math.Abs(got-v) > 1e-9*(1+math.Abs(v)) {
					t.Errorf("α=%v v=%v: x=%v gives %v", alpha, v, x, got)
				}
			}
		}
	}
	if tanhProx(0.7, 1) != math.Tanh(0.7) {
		t.Errorf("α=1 must be tanh")
	}
}

func TestInferMatchesDirectIteration(t *testing.T) {
	d := randomDense(3, Tanh, Direct, 12, 5, 4, 0)
	m, err := NewModel(d)
	if err != nil {
		t.Fatal(err)
	}
	x := randomInputs(4, 3, 5)
	out, err := m.Infer(context.Background(), x, Settings{RelTol: 1e-13})
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
		edit func(d *Dense)
		want string
	}{
		"activation":  {func(d *Dense) { d.Activation = "gelu" }, `activation "gelu"`},
		"param":       {func(d *Dense) { d.Param = "lowrank" }, `parametrisation "lowrank"`},
		"W shape":     {func(d *Dense) { d.W.Rows, d.W.Cols = 4, 16 }, "W (core.weight) is 4×16"},
		"bias length": {func(d *Dense) { d.Bias = d.Bias[:3] }, "b (encoder.bias) has 3 values"},
		"NaN weight":  {func(d *Dense) { d.C.Data[5] = math.NaN() }, "C (decoder.weight) holds NaN at index 5"},
		"A on direct": {func(d *Dense) { d.A = NewMatrix(8, 8) }, "A (core.A) is set"},
		"solver":      {func(d *Dense) { d.Defaults.Solver = "newton" }, `default solver "newton"`},
		"monotone m":  {func(d *Dense) { d.Param, d.A, d.B, d.W, d.Monotone = Monotone, d.W, d.W, Matrix{}, -1 }, "monotone m=-1"},
		"zero sizes":  {func(d *Dense) { d.U = Matrix{} }, "sizes h=0"},
		"A overflows": {func(d *Dense) {
			d.Param, d.A, d.B, d.W, d.Monotone = Monotone, NewMatrix(8, 8), NewMatrix(8, 8), Matrix{}, 0.5
			d.A.Data[3] = 1e200
		}, "A (core.A) is too large"},
	}
	for name, c := range cases {
		d := randomDense(1, ReLU, Direct, 8, 3, 2, 0)
		c.edit(d)
		err := d.Validate()
		if !errors.Is(err, ErrModel) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrModel mentioning %q", name, err, c.want)
		}
		if _, err := NewModel(d); err == nil {
			t.Errorf("%s: NewModel accepted it", name)
		}
	}
}

func TestInferBadInput(t *testing.T) {
	m, err := NewModel(randomDense(1, ReLU, Direct, 8, 3, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Infer(context.Background(), make([]float64, 7), Settings{}); !errors.Is(err, ErrProblem) {
		t.Errorf("7 values for 3 features: %v", err)
	}
	x := []float64{1, math.Inf(1), 0}
	if _, err := m.Infer(context.Background(), x, Settings{}); !errors.Is(err, ErrNonFinite) {
		t.Errorf("Inf input: %v", err)
	}
}

func TestSplittingNeedsMonotoneLayer(t *testing.T) {
	// A direct W with an eigenvalue of its symmetric part above 1 makes
	// I − W not monotone: the splittings must refuse, not run.
	d := randomDense(2, ReLU, Direct, 4, 2, 1, 0)
	d.W = NewMatrix(4, 4)
	for i := 0; i < 4; i++ {
		d.W.Data[i*4+i] = 1.5
	}
	m, err := NewModel(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, meth := range []Method{&ForwardBackward{}, &PeacemanRachford{}} {
		_, err := m.Infer(context.Background(), []float64{1, 2}, Settings{Method: meth})
		if !errors.Is(err, ErrProblem) || !strings.Contains(err.Error(), "monotone") {
			t.Errorf("%v: %v", meth, err)
		}
	}
}

func TestNewDense(t *testing.T) {
	for _, param := range []Parametrization{Direct, Monotone} {
		d, err := NewDense(DenseConfig{Hidden: 40, In: 7, Out: 3, Activation: Tanh, Param: param}, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if param == Direct {
			if s := spectralNorm(d.W); s > 0.9+1e-9 {
				t.Errorf("‖W‖₂ = %v > 0.9", s)
			}
		} else if d.Monotone != 0.5 {
			t.Errorf("default m = %v", d.Monotone)
		}
		// The same seed gives the same model.
		e, _ := NewDense(DenseConfig{Hidden: 40, In: 7, Out: 3, Activation: Tanh, Param: param}, rand.New(rand.NewPCG(1, 1)))
		if maxAbsDiff(d.U.Data, e.U.Data) != 0 {
			t.Error("not reproducible")
		}
	}
	if _, err := NewDense(DenseConfig{Hidden: 0, In: 1, Out: 1, Activation: ReLU, Param: Direct}, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrModel) {
		t.Errorf("h=0: %v", err)
	}
	if _, err := NewDense(DenseConfig{Hidden: 2, In: 1, Out: 1, Activation: "elu", Param: Direct}, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrModel) {
		t.Errorf("elu: %v", err)
	}
}

func TestReadoutAndAccuracyBadInput(t *testing.T) {
	m, _ := NewModel(randomDense(1, ReLU, Direct, 4, 2, 3, 0))
	if _, err := m.Readout(make([]float64, 7)); !errors.Is(err, ErrProblem) {
		t.Errorf("7 values for h=4: %v", err)
	}
	if _, err := Accuracy(make([]float64, 5), []float64{0, 1}, 3); !errors.Is(err, ErrProblem) {
		t.Errorf("5 scores for 2 labels of 3 classes: %v", err)
	}
	if _, _, err := m.Accuracy(context.Background(), []float64{1, 2}, []float64{0, 1}, Settings{}); !errors.Is(err, ErrProblem) {
		t.Errorf("2 labels for 1 sample: %v", err)
	}
}
