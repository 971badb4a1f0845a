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
// the reference outputs (computed in float64 on the file's float32 values)
// to 1e-4 relative.
func checkFloat32Case(t *testing.T, dir, name, dtype, output string, m *model.Model) {
	t.Helper()
	want := api.Float64
	if dtype == "F32" {
		want = api.Float32
	}
	if m.Precision() != want {
		t.Fatalf("%s: an %s file loads in %s", name, dtype, m.Precision())
	}
	if want != api.Float32 {
		return
	}
	input := filepath.Join(dir, name+".input.csv")
	x, ref := readCSV(t, input), readCSV(t, filepath.Join(dir, output))
	out, err := m.Infer(context.Background(), x, api.Settings{RelTol: 1e-6, MaxIter: 5000})
	if err != nil {
		t.Fatalf("%s in float32: %v", name, err)
	}
	var worst float64
	for i := range ref {
		worst = math.Max(worst, math.Abs(out.Y[i]-ref[i])/math.Max(1, math.Abs(ref[i])))
	}
	if worst > 1e-4 {
		t.Errorf("%s in float32: outputs differ from the reference by %g", name, worst)
	}
	t.Logf("%s in float32: outputs match the reference to %.2g in %d iterations (%v)", name, worst, out.Result.Iterations, out.Result.Status)
}
