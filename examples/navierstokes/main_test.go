package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A steady state is steady: its residual is below the tolerance, the time
// integrator (Evolve, with the same forcing) leaves it where it is, and
// time-marching from rest reaches it.
func TestSteadyState(t *testing.T) {
	f := Flow{N: 16, Viscosity: 0.01, Alpha: 4, Tau: 5, Amplitude: 1, Tol: 1e-9}
	s, err := f.solver()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	f1, f2 := s.RandomField(rng, f.Alpha, f.Tau), s.RandomField(rng, f.Alpha, f.Tau)
	g := s.Curl(f1, f2)
	a := f.Amplitude / rms(g)
	for i := range g {
		g[i] *= a
	}
	w, r, iters, err := s.SteadyState(context.Background(), g, f.Tol)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.SteadyResidual(w, g); !(got <= f.Tol) || math.Abs(got-r) > 1e-12 {
		t.Errorf("steady residual %.2g, SteadyState said %.2g", got, r)
	}
	stokes := s.StokesSteady(g)
	t.Logf("residual %.2g in %d iterations; the Stokes solution is off by %.3f", r, iters, relDiff(stokes, w))
	s.SetForcing(g)
	later, err := s.Evolve(w, 5)
	if err != nil {
		t.Fatal(err)
	}
	if d := relDiff(later, w); d > 1e-6 {
		t.Errorf("the steady state moves by %.2g over 5 time units", d)
	}
	marched, err := s.Evolve(make([]float64, len(w)), 60)
	if err != nil {
		t.Fatal(err)
	}
	if d := relDiff(marched, w); d > 1e-4 {
		t.Errorf("time-marching from rest to t = 60 ends %.2g from the steady state", d)
	}
	t.Logf("time-marching from rest to t = 60 ends %.2g from it", relDiff(marched, w))
	// Without advection (a tiny forcing) the steady state is the Stokes
	// solution.
	small := make([]float64, len(g))
	for i := range g {
		small[i] = 1e-6 * g[i]
	}
	ws, _, _, err := s.SteadyState(context.Background(), small, f.Tol)
	if err != nil {
		t.Fatal(err)
	}
	if d := relDiff(ws, s.StokesSteady(small)); d > 1e-5 {
		t.Errorf("weakly forced steady state %.2g from the Stokes solution", d)
	}
}

// The curl of a velocity forcing is its closed form: for
// f = (sin 2πy, cos 4πx), ∂f₂/∂x − ∂f₁/∂y = −4π sin 4πx − 2π cos 2πy.
func TestCurl(t *testing.T) {
	s := newNS(t, NSConfig{N: 16, Viscosity: 0.01, Step: 0.01})
	f1 := gridField(16, func(x, y float64) float64 { return math.Sin(2 * math.Pi * y) })
	f2 := gridField(16, func(x, y float64) float64 { return math.Cos(4 * math.Pi * x) })
	want := gridField(16, func(x, y float64) float64 { return -4*math.Pi*math.Sin(4*math.Pi*x) - 2*math.Pi*math.Cos(2*math.Pi*y) })
	if d := relDiff(s.Curl(f1, f2), want); d > 1e-12 {
		t.Errorf("curl differs from its closed form by %.2g", d)
	}
}

// The data are a function of the seed, and each sample's residual is kept.
func TestGenerate(t *testing.T) {
	f := Flow{N: 8, Viscosity: 0.01, Alpha: 4, Tau: 5, Amplitude: 1, Tol: 1e-9}
	a, err := Generate(context.Background(), f, 3, 42, streamTrain)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(context.Background(), f, 3, 42, streamTrain)
	if err != nil {
		t.Fatal(err)
	}
	if relDiff(a.Y, b.Y) != 0 || relDiff(a.X, b.X) != 0 || len(a.X) != 3*2*64 || len(a.Residual) != 3 {
		t.Error("the same seed gave different data, or the wrong sizes")
	}
	for _, r := range a.Residual {
		if !(r <= f.Tol) {
			t.Errorf("residual %g", r)
		}
	}
}

// A sinusoidal perturbation has the norm asked for, and L of a linear map
// is its gain on it.
func TestPerturbations(t *testing.T) {
	const n = 8
	for _, p := range perturbations {
		d := p.delta(n)
		var ss float64
		for _, v := range d {
			ss += v * v
		}
		if math.Abs(math.Sqrt(ss)-perturbationNorm) > 1e-15 {
			t.Errorf("%+v: norm %g", p, math.Sqrt(ss))
		}
	}
	x := make([]float64, 2*2*n*n)
	for i := range x {
		x[i] = float64(i % 7)
	}
	xl := perturbed(x, 2, n)
	if len(xl) != (1+len(perturbations))*2*2*n*n {
		t.Fatalf("%d perturbed values", len(xl))
	}
	if l := lipschitz(scaled(xl, 3), 2, 2*n*n); math.Abs(l-3) > 1e-9 {
		t.Errorf("L of y = 3x: %g", l)
	}
}

func TestFlags(t *testing.T) {
	t.Chdir(t.TempDir()) // the default outputs go to out/ here, not into the package
	for _, args := range [][]string{
		{"-grid", "7"}, {"-grid", "4"}, {"-grid", "1000"}, {"-nu", "0"}, {"-amplitude", "-1"},
		{"-train", "1"}, {"-test", "0"}, {"-width", "0"}, {"-modes", "0"}, {"-modes", "17"}, {"-epochs", "0"},
		{"-lr", "0"}, {"-lr", "NaN"}, {"-gradient", "exact"}, {"-budgets", "0"}, {"-budgets", "1,x"},
		{"-grid", "x"}, {"-nope"}, {"extra"}, {"-lip-samples", "0"}, {"-jacobian-penalty", "-1"}, {"-jacobian-penalty", "NaN"}, {"-jacobian-power-steps", "-1"}, {"-jacobian-power-steps", "101"}, {"-jacobian-power-steps", "5"},
		{"-plot", "/no/such/dir/p.png"}, {"-field-plot", "/no/such/dir/f.png"}, {"-json", "/no/such/dir/r.json"},
	} {
		var stderr bytes.Buffer
		if _, err := parseFlags(args, &stderr); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	c, err := parseFlags(nil, os.Stderr)
	if err != nil || c.Flow.N != 32 || c.Train != 256 || len(c.Gradients) != 2 || c.Flow.Viscosity != 0.01 {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	c, err = parseFlags([]string{"-long", "-width", "32"}, os.Stderr)
	if err != nil || c.Flow.N != 64 || c.Arch.Width != 32 || c.Arch.Modes != 12 || c.Train != 1000 {
		t.Errorf("-long -width 32: %+v, %v", c, err)
	}
	if c.ScalePNG != filepath.Join("out", "navierstokes_scale.png") || c.FieldPNG != filepath.Join("out", "navierstokes_field.png") {
		t.Errorf("default outputs %s, %s", c.ScalePNG, c.FieldPNG)
	}
}

// A reduced run end to end: it trains all three models, measures them, and
// writes the plots and the JSON the issue specifies.
func TestStudySmall(t *testing.T) {
	dir := t.TempDir()
	c, err := parseFlags([]string{"-grid", "16", "-train", "48", "-test", "8", "-width", "6", "-modes", "4", "-epochs", "3",
		"-budgets", "1,4,16", "-lip-samples", "2", "-json", filepath.Join(dir, "r.json"), "-jacobian-penalty", "0.1",
		"-plot", filepath.Join(dir, "scale.png"), "-field-plot", filepath.Join(dir, "field.png")}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := study(context.Background(), c, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if res.Implicit.Params != res.Explicit.Params || res.Implicit.Gradient != "phantom" || res.ImplDiff == nil {
		t.Errorf("implicit %+v, explicit %+v", res.Implicit, res.Explicit)
	}
	// The implicit models train with the penalty, the explicit one without.
	if res.Implicit.JacobianPenalty != 0.1 || res.ImplDiff.JacobianPenalty != 0.1 || !strings.Contains(out.String(), "‖J‖²_F/d") {
		t.Errorf("Jacobian penalty %v and %v, or no estimate printed", res.Implicit.JacobianPenalty, res.ImplDiff.JacobianPenalty)
	}
	if !(res.Data.MaxSteadyResidual <= c.Flow.Tol) || !(res.Stokes > 0.1 && res.Stokes < 1) {
		t.Errorf("steady residual %g, Stokes error %g", res.Data.MaxSteadyResidual, res.Stokes)
	}
	for _, p := range []string{c.ScalePNG, c.FieldPNG} {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s is not a PNG (%v)", p, err)
		}
	}
	b, err := os.ReadFile(c.JSON)
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Implicit struct {
			Params int
			RelL2  struct {
				FixedPoint *float64 `json:"fixed_point"`
				T          map[string]float64
			} `json:"rel_l2"`
		}
		Explicit struct {
			Params int
			RelL2  *float64 `json:"rel_l2"`
		}
		Stokes       *float64
		LipschitzByT map[string]float64 `json:"lipschitz_by_t"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	if j.Implicit.Params == 0 || j.Implicit.RelL2.FixedPoint == nil || len(j.Implicit.RelL2.T) != 3 || j.Explicit.RelL2 == nil || j.Stokes == nil || len(j.LipschitzByT) != 3 {
		t.Errorf("JSON %s", b)
	}
	if !strings.Contains(out.String(), "explicit FNO, equal parameters") {
		t.Error("the report has no comparison table")
	}
}
