package model_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/modeltest"
	"github.com/implicitlab/implicit/core/model"
)

// Every kind computes in float32 when asked, by its Settings or as its own
// precision, and the result is the float64 one to float32's accuracy. The
// two ways of asking give the same bits.
func TestPrecision(t *testing.T) {
	ctx := context.Background()
	for _, c := range kindCases(t) {
		t.Run(c.name, func(t *testing.T) {
			m64, err := model.New(c.arch)
			if err != nil {
				t.Fatal(err)
			}
			m32, err := model.NewInPrecision(c.arch, api.Float32)
			if err != nil {
				t.Fatal(err)
			}
			if m64.Precision() != api.Float64 || m32.Precision() != api.Float32 {
				t.Fatalf("precisions %q and %q", m64.Precision(), m32.Precision())
			}
			x := modeltest.RandomInputs(9, c.n, m64.Info().In)
			want, err := m64.Infer(ctx, x, c.set)
			if err != nil {
				t.Fatal(err)
			}
			own, err := m32.Infer(ctx, x, c.set)
			if err != nil {
				t.Fatal(err)
			}
			asked := c.set
			asked.Precision = api.Float32
			got, err := m64.Infer(ctx, x, asked)
			if err != nil {
				t.Fatal(err)
			}
			sameOutput(t, "Settings.Precision float32 against a float32 model", got, own)
			var worst, scale float64
			for i, y := range want.Y {
				worst = math.Max(worst, math.Abs(got.Y[i]-y))
				scale = math.Max(scale, math.Abs(y))
			}
			if worst == 0 {
				t.Fatal("float32 gave the float64 outputs exactly: the products were not float32")
			}
			if worst > 1e-4*math.Max(1, scale) {
				t.Errorf("float32 outputs differ from float64 by %g (largest output %g)", worst, scale)
			}
			t.Logf("float32 against float64: %.2g (largest output %.3g)", worst, scale)
			back := asked
			back.Precision = api.Float64
			if again, err := m32.Infer(ctx, x, back); err != nil {
				t.Fatal(err)
			} else {
				sameOutput(t, "a float32 model asked for float64", again, want)
			}
		})
	}
}

func TestPrecisionRefused(t *testing.T) {
	arch := modeltest.RandomMLP(5, model.ReLU, 8, 3, 2)
	if _, err := model.NewInPrecision(arch, "float16"); !errors.Is(err, api.ErrProblem) {
		t.Errorf("NewInPrecision float16: %v", err)
	}
	m, err := model.New(arch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Infer(context.Background(), make([]float64, 3), api.Settings{Precision: "half"}); !errors.Is(err, api.ErrProblem) {
		t.Errorf("Settings.Precision half: %v", err)
	}
	for _, s := range []string{"float32", "f32", "float64", "f64", "", "model"} {
		if _, err := api.ParsePrecision(s); err != nil {
			t.Errorf("ParsePrecision(%q): %v", s, err)
		}
	}
	if _, err := api.ParsePrecision("bf16"); !errors.Is(err, api.ErrProblem) {
		t.Errorf("ParsePrecision(bf16): %v", err)
	}
}

// checkFloat32Case checks that a PyTorch fixture loaded from its file has
// the file's precision and, for an F32 file, that its float32 solve matches
// PyTorch float32's outputs (outputF32: the module and the inputs in
// torch.float32, its fixed point in float32) and the float64 reference
// (output: computed in float64 on the file's float32 values), each to 1e-4
// relative. An F32 case must have its PyTorch float32 outputs.
func checkFloat32Case(t *testing.T, dir, name, dtype, output, outputF32 string, m *model.Model) {
	t.Helper()
	want := api.Float64
	if dtype == "F32" {
		want = api.Float32
	}
	if m.Precision() != want {
		t.Fatalf("%s: an %s file loads in %s", name, dtype, m.Precision())
	}
	if want != api.Float32 {
		if outputF32 != "" {
			t.Fatalf("%s: an %s case with PyTorch float32 outputs %s", name, dtype, outputF32)
		}
		return
	}
	if outputF32 == "" {
		t.Fatalf("%s: an F32 case without PyTorch float32 outputs (output_f32 in cases.json)", name)
	}
	x := readCSV(t, filepath.Join(dir, name+".input.csv"))
	ref64, ref32 := readCSV(t, filepath.Join(dir, output)), readCSV(t, filepath.Join(dir, outputF32))
	out, err := m.Infer(context.Background(), x, api.Settings{RelTol: 1e-6, MaxIter: 5000})
	if err != nil {
		t.Fatalf("%s in float32: %v", name, err)
	}
	if len(out.Y) != len(ref64) || len(out.Y) != len(ref32) {
		t.Fatalf("%s in float32: %d outputs, the references have %d (float64) and %d (float32)", name, len(out.Y), len(ref64), len(ref32))
	}
	relDiff := func(got, want []float64) float64 {
		var worst float64
		for i := range want {
			worst = math.Max(worst, math.Abs(got[i]-want[i])/math.Max(1, math.Abs(want[i])))
		}
		return worst
	}
	vs32, vs64 := relDiff(out.Y, ref32), relDiff(out.Y, ref64)
	if !(vs32 <= 1e-4) {
		t.Errorf("%s in float32: outputs differ from PyTorch float32's by %g", name, vs32)
	}
	if !(vs64 <= 1e-4) {
		t.Errorf("%s in float32: outputs differ from the float64 reference by %g", name, vs64)
	}
	t.Logf("%s in float32 (%d iterations, %v): outputs match PyTorch float32's to %.2g, the float64 reference to %.2g (PyTorch float32 against float64: %.2g)",
		name, out.Result.Iterations, out.Result.Status, vs32, vs64, relDiff(ref32, ref64))
}
