package model_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/modeltest"
	"github.com/implicitlab/implicit/core/internal/safetensors"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
)

func TestModelFileRoundTrip(t *testing.T) {
	for _, param := range []model.Parametrization{model.Direct, model.Monotone} {
		d := modeltest.RandomDense(11, model.Tanh, param, 6, 3, 2, 1)
		d.Defaults = api.Defaults{Solver: "broyden", Tol: 1e-7, MaxIter: 77}
		b, err := model.Encode(d, model.F64)
		if err != nil {
			t.Fatal(err)
		}
		got, err := model.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, d) {
			t.Errorf("%s: round trip changed the model:\n got %+v\nwant %+v", param, got, d)
		}
		// model.F32 keeps values to float32 precision.
		b, err = model.Encode(d, model.F32)
		if err != nil {
			t.Fatal(err)
		}
		g32, err := model.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := modeltest.MaxAbsDiff(g32.(*model.Dense).U.Data, d.U.Data); diff > 1e-6 || diff == 0 {
			t.Errorf("%s: model.F32 round trip differs by %g", param, diff)
		}
	}
}

// validFile returns the safetensors content of a small valid model, for the
// tests to break.
func validFile(t *testing.T, param model.Parametrization) *safetensors.File {
	t.Helper()
	b, err := model.Encode(modeltest.RandomDense(12, model.ReLU, param, 4, 3, 2, 1), model.F64)
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDecodeNamesTheProblem(t *testing.T) {
	tensor := func(f *safetensors.File, name string) *safetensors.Tensor {
		for i := range f.Tensors {
			if f.Tensors[i].Name == name {
				return &f.Tensors[i]
			}
		}
		t.Fatalf("no tensor %q", name)
		return nil
	}
	cases := map[string]struct {
		param model.Parametrization
		edit  func(f *safetensors.File)
		want  string
	}{
		"no metadata":    {model.Direct, func(f *safetensors.File) { f.Metadata = nil }, `"implicit.format" is missing`},
		"format 2":       {model.Direct, func(f *safetensors.File) { f.Metadata["implicit.format"] = "2" }, `implicit.format="2"`},
		"kind":           {model.Direct, func(f *safetensors.File) { f.Metadata["implicit.kind"] = "deq-fourier" }, `implicit.kind="deq-fourier": this build knows the kinds deq-dense, mlp, deq-conv`},
		"activation":     {model.Direct, func(f *safetensors.File) { f.Metadata["implicit.activation"] = "elu" }, `implicit.activation="elu"`},
		"param":          {model.Direct, func(f *safetensors.File) { f.Metadata["implicit.param"] = "x" }, `implicit.param="x"`},
		"unknown key":    {model.Direct, func(f *safetensors.File) { f.Metadata["implicit.solvr"] = "picard" }, `unknown metadata key "implicit.solvr"`},
		"m on direct":    {model.Direct, func(f *safetensors.File) { f.Metadata["implicit.monotone_m"] = "0.1" }, "set for a direct model"},
		"m missing":      {model.Monotone, func(f *safetensors.File) { delete(f.Metadata, "implicit.monotone_m") }, "implicit.monotone_m is missing"},
		"m negative":     {model.Monotone, func(f *safetensors.File) { f.Metadata["implicit.monotone_m"] = "-1" }, `implicit.monotone_m="-1"`},
		"solver":         {model.Direct, func(f *safetensors.File) { f.Metadata["implicit.solver"] = "newton" }, `implicit.solver="newton"`},
		"tol":            {model.Direct, func(f *safetensors.File) { f.Metadata["implicit.tol"] = "small" }, `implicit.tol="small"`},
		"max_iter":       {model.Direct, func(f *safetensors.File) { f.Metadata["implicit.max_iter"] = "1.5" }, `implicit.max_iter="1.5"`},
		"missing tensor": {model.Direct, func(f *safetensors.File) { f.Tensors = f.Tensors[1:] }, "is missing"},
		"extra tensor": {model.Direct, func(f *safetensors.File) {
			f.Tensors = append(f.Tensors, safetensors.Tensor{Name: "x", Shape: []int{1}, Data: []float64{1}})
		}, `unexpected tensor "x"`},
		"monotone has W":  {model.Monotone, func(f *safetensors.File) { tensor(f, "core.A").Name = "core.weight" }, `"core.A" is missing`},
		"bias shape":      {model.Direct, func(f *safetensors.File) { b := tensor(f, "encoder.bias"); b.Shape, b.Data = []int{3}, b.Data[:3] }, `"encoder.bias" has shape [3], want [4]`},
		"decoder shape":   {model.Direct, func(f *safetensors.File) { tensor(f, "decoder.weight").Shape = []int{4, 2} }, `"decoder.weight" has shape [4 2], want [4 4]`},
		"encoder 1-D":     {model.Direct, func(f *safetensors.File) { tensor(f, "encoder.weight").Shape = []int{12} }, `"encoder.weight" has shape [12], want [h, p]`},
		"NaN in weights":  {model.Direct, func(f *safetensors.File) { tensor(f, "core.weight").Data[3] = math.NaN() }, "holds NaN at index 3"},
		"Inf in monotone": {model.Monotone, func(f *safetensors.File) { tensor(f, "core.B").Data[0] = math.Inf(-1) }, "holds -Inf"},
	}
	for name, c := range cases {
		f := validFile(t, c.param)
		c.edit(f)
		b, err := safetensors.Encode(f, model.F64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, err = model.Decode(b)
		if !errors.Is(err, api.ErrModel) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want api.ErrModel mentioning %q", name, err, c.want)
		}
	}
	// A broken container wraps both errors.
	b, _ := model.Encode(modeltest.RandomDense(1, model.ReLU, model.Direct, 4, 3, 2, 1), model.F64)
	_, err := model.Decode(b[:len(b)-3])
	if !errors.Is(err, api.ErrModel) || !errors.Is(err, safetensors.ErrFormat) {
		t.Errorf("truncated file: %v", err)
	}
}

// readCSV reads a file of comma-separated numbers.
func readCSV(t *testing.T, path string) []float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var v []float64
	for _, row := range rows {
		for _, s := range row {
			x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				t.Fatal(err)
			}
			v = append(v, x)
		}
	}
	return v
}

// checkTorchCases loads every model the PyTorch reference script wrote into
// dir and matches PyTorch's fixed-point outputs to 1e-6.
func checkTorchCases(t *testing.T, dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases struct {
		Cases []struct {
			Name, Kind, Model, Input, Output, Target, Grad, DType string
			OutputF32                                             string `json:"output_f32"`
		}
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, c := range cases.Cases {
		kinds[c.Kind]++
	}
	if len(cases.Cases) < 13 || kinds["deq-dense"] < 7 || kinds["mlp"] < 2 || kinds["deq-conv"] < 3 || kinds["cnn"] < 1 {
		t.Fatalf("%d cases in %s, by kind %v", len(cases.Cases), dir, kinds)
	}
	for _, c := range cases.Cases {
		file, err := os.ReadFile(filepath.Join(dir, c.Model))
		if err != nil {
			t.Fatal(err)
		}
		a, err := model.Decode(file)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if a.Kind() != c.Kind {
			t.Fatalf("%s: a %s model, the case says %s", c.Name, a.Kind(), c.Kind)
		}
		m, err := model.New(a)
		if err != nil {
			t.Fatal(err)
		}
		if loaded, err := model.Load(file); err != nil {
			t.Fatal(err)
		} else {
			checkFloat32Case(t, dir, c.Name, c.DType, c.Output, c.OutputF32, loaded)
		}
		x, want := readCSV(t, filepath.Join(dir, c.Input)), readCSV(t, filepath.Join(dir, c.Output))
		out, err := m.Infer(context.Background(), x, api.Settings{RelTol: 1e-13, AbsTol: 1e-15, MaxIter: 5000})
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if out.Result.Status != api.Converged || len(out.Y) != len(want) {
			t.Fatalf("%s: %v, %d outputs for %d", c.Name, out.Result.Status, len(out.Y), len(want))
		}
		var worst float64
		for i := range want {
			worst = math.Max(worst, math.Abs(out.Y[i]-want[i])/math.Max(1, math.Abs(want[i])))
		}
		if worst > 1e-6 {
			t.Errorf("%s: outputs differ from PyTorch's by %g", c.Name, worst)
		}
		t.Logf("%s (%s): max difference %.2g in %d iterations", c.Name, describe(m.Info()), worst, out.Result.Iterations)
		if c.Grad != "" {
			checkTorchGradient(t, dir, c.Name, m, x, readCSV(t, filepath.Join(dir, c.Target)), c.Grad, 1e-6)
		}
	}
}

// checkTorchGradient matches the implicit gradient of the MSE loss against
// target with PyTorch's, computed by autograd through the fixed point, to
// tol relative, tensor by tensor.
func checkTorchGradient(t *testing.T, dir, name string, m *model.Model, x, target []float64, gradFile string, tol float64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, gradFile))
	if err != nil {
		t.Fatal(err)
	}
	want, err := safetensors.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	tight := api.Settings{RelTol: 1e-15, AbsTol: 1e-16, MaxIter: 5000}
	r, err := train.Gradient(context.Background(), m, x, target, train.MSE{}, train.GradientSettings{Forward: tight, Backward: tight, AllowUnconverged: true})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	got := map[string][]float64{}
	for _, tn := range r.Grad.Tensors() {
		if !tn.Fixed {
			got[tn.Name] = tn.Data
		}
	}
	if len(want.Tensors) != len(got) {
		t.Fatalf("%s: PyTorch has the gradients of %d tensors, the model trains %d", name, len(want.Tensors), len(got))
	}
	var worst float64
	for _, w := range want.Tensors {
		g, ok := got[w.Name]
		if !ok || len(g) != len(w.Data) {
			t.Fatalf("%s: no gradient of %s (%d values) here", name, w.Name, len(w.Data))
		}
		var d2, n2 float64
		for i, v := range w.Data {
			d2 += (g[i] - v) * (g[i] - v)
			n2 += v * v
		}
		rel := math.Sqrt(d2 / math.Max(n2, 1e-300))
		if !(rel <= tol) {
			t.Errorf("%s: ∂L/∂%s differs from PyTorch's by %.2g relative (‖∂L/∂%s‖ = %.3g)", name, w.Name, rel, w.Name, math.Sqrt(n2))
		}
		worst = math.Max(worst, rel)
	}
	t.Logf("%s: gradients of %d tensors match PyTorch's autograd to %.2g", name, len(want.Tensors), worst)
}

// The fixtures in testdata/torch were written by scripts/torch/reference.py.
func TestPyTorchFixtures(t *testing.T) {
	checkTorchCases(t, "../../testdata/torch")
}

// TestPyTorchLive runs the reference script with Debian's python3-torch, so
// that a change on either side shows. Set IMPLICIT_REQUIRE_TORCH=1 to make a
// missing torch a failure (CI does).
func TestPyTorchLive(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	python := os.Getenv("IMPLICIT_TORCH_PYTHON")
	if python == "" {
		python = "/usr/bin/python3"
	}
	if err := exec.Command(python, "-c", "import torch").Run(); err != nil {
		msg := "PyTorch not available to " + python + " (apt-get install python3-torch, or set IMPLICIT_TORCH_PYTHON)"
		if os.Getenv("IMPLICIT_REQUIRE_TORCH") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	cmd := exec.Command(python, "../../scripts/torch/reference.py", "--out", dir, "--seed", "7")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reference.py: %v\n%s", err, out)
	}
	checkTorchCases(t, dir)
}

func describe(info api.Info) string { return info.Kind + ": " + info.Description }
