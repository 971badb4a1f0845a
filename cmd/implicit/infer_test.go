package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/internal/csvdata"
)

const fixtures = "../../testdata/torch/"

func readCSVFile(t *testing.T, path string) []float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, _, err := csvdata.Read(f, path, 0)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// infer on a model saved from PyTorch must give PyTorch's outputs.
func TestInferMatchesPyTorch(t *testing.T) {
	for _, name := range []string{"direct_tanh", "monotone_relu", "direct_tanh_f32"} {
		out, stderr, err := run(t, "infer", "--model", fixtures+name+".safetensors", "--input", fixtures+name+".input.csv", "--tol", "1e-12", "--max-iter", "2000")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, _, err := csvdata.Read(strings.NewReader(out), "stdout", 0)
		if err != nil {
			t.Fatal(err)
		}
		want := readCSVFile(t, fixtures+name+".output.csv")
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
		}
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-6*math.Max(1, math.Abs(want[i])) {
				t.Errorf("%s: value %d = %v, want %v", name, i, got[i], want[i])
			}
		}
		if !strings.Contains(stderr, "converged") {
			t.Errorf("%s: stats %q", name, stderr)
		}
	}
}

func TestInferOutputFileAndJSONStats(t *testing.T) {
	dir := t.TempDir()
	outPath := filepath.Join(dir, "out.csv")
	_, stderr, err := run(t, "infer", "--model", fixtures+"direct_relu.safetensors", "--input", fixtures+"direct_relu.input.csv",
		"--output", outPath, "--stats", "json", "--solver", "broyden")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Solver    string `json:"solver"`
		Samples   int    `json:"samples"`
		Status    string `json:"status"`
		PerSample []struct {
			Status     string `json:"status"`
			Iterations int    `json:"iterations"`
		} `json:"per_sample"`
	}
	if err := json.Unmarshal([]byte(stderr), &st); err != nil {
		t.Fatalf("stats are not JSON: %v\n%s", err, stderr)
	}
	if st.Solver != "broyden" || st.Status != "converged" || st.Samples != 12 || len(st.PerSample) != 12 || st.PerSample[0].Iterations == 0 {
		t.Errorf("stats %+v", st)
	}
	if got := readCSVFile(t, outPath); len(got) != 12*3 {
		t.Errorf("%d values in the output file", len(got))
	}
}

func TestInferErrorsNameTheProblem(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("1,2,3,4,5,6,7,8\n1,2,3\n"), 0o644)
	notNum := filepath.Join(dir, "nan.csv")
	os.WriteFile(notNum, []byte("1,2,3,4,5,6,7,x\n"), 0o644)
	keep := filepath.Join(dir, "keep.csv")
	os.WriteFile(keep, []byte("precious\n"), 0o644)
	mp := fixtures + "direct_relu.safetensors"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"infer", "--model", mp, "--input", bad}, "bad.csv:2: 3 values, want 8"},
		{[]string{"infer", "--model", mp, "--input", notNum}, `bad CSV input: ` + notNum + `:1: column 8: "x" is not a number`},
		{[]string{"infer", "--model", mp, "--input", filepath.Join(dir, "none.csv")}, "no such file"},
		{[]string{"infer", "--model", fixtures + "cases.json", "--input", bad}, "invalid model"},
		{[]string{"infer", "--model", mp, "--input", bad, "--solver", "newton"}, `unknown solver "newton"`},
		{[]string{"infer", "--model", mp}, "--model and --input are required"},
		{[]string{"infer", "--model", mp, "--input", notNum, "--output", keep}, "is not a number"},
		{[]string{"infer", "--model", mp, "--input", fixtures + "direct_relu.input.csv", "--stats", "xml"}, `--stats "xml"`},
		{[]string{"infer", "--model", mp, "--input", fixtures + "direct_relu.input.csv", "--workers", "-2"}, "--workers -2: want ≥ 0"},
	} {
		_, _, err := run(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args[1:], err, c.want)
		}
	}
	if b, _ := os.ReadFile(keep); string(b) != "precious\n" {
		t.Errorf("a failed run changed the output file: %q", b)
	}
}

// --workers changes how the batch is spread, not what it computes: the
// output is the same bytes, natively and sandboxed.
func TestInferWorkers(t *testing.T) {
	mp, in := fixtures+"monotone_relu.safetensors", fixtures+"monotone_relu.input.csv"
	for _, rt := range []string{"native", "wasm"} {
		want, _, err := run(t, "infer", "--model", mp, "--input", in, "--runtime", rt, "--workers", "1")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{"2", "3", "0"} {
			got, _, err := run(t, "infer", "--model", mp, "--input", in, "--runtime", rt, "--workers", w)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s, --workers %s: the output differs from --workers 1's", rt, w)
			}
		}
	}
}

// --runtime wasm runs the same solve sandboxed and must agree with native
// to 1e-9 relative.
func TestInferWasmMatchesNative(t *testing.T) {
	for _, name := range []string{"direct_relu", "monotone_tanh"} {
		args := []string{"infer", "--model", fixtures + name + ".safetensors", "--input", fixtures + name + ".input.csv", "--tol", "1e-10"}
		native, _, err := run(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		sandboxed, _, err := run(t, append(args, "--runtime", "wasm")...)
		if err != nil {
			t.Fatal(err)
		}
		a, _, _ := csvdata.Read(strings.NewReader(native), "native", 0)
		b, _, _ := csvdata.Read(strings.NewReader(sandboxed), "wasm", 0)
		if len(a) == 0 || len(a) != len(b) {
			t.Fatalf("%s: %d and %d values", name, len(a), len(b))
		}
		for i := range a {
			if math.Abs(a[i]-b[i]) > 1e-9*math.Max(1, math.Abs(a[i])) {
				t.Errorf("%s: value %d: native %v, wasm %v", name, i, a[i], b[i])
			}
		}
	}
	if _, _, err := run(t, "infer", "--model", fixtures+"direct_relu.safetensors", "--input", fixtures+"direct_relu.input.csv", "--runtime", "jvm"); err == nil || !strings.Contains(err.Error(), `--runtime "jvm"`) {
		t.Errorf("unknown runtime: %v", err)
	}
}

// A sample that blows up has an infinite or NaN residual. --stats json must
// still print its statistics (non-finite numbers as null), and the command
// must fail with the solve's error, not with the JSON encoder's.
func TestInferJSONStatsOfANonFiniteSolve(t *testing.T) {
	dir := t.TempDir()
	d, err := model.NewDense(model.DenseConfig{Hidden: 4, In: 2, Out: 1, Activation: model.Identity, Param: model.Direct}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range d.U.Data {
		d.U.Data[i] = 1e308 // finite, valid, and Inf after one product
	}
	path, in := filepath.Join(dir, "m.safetensors"), filepath.Join(dir, "in.csv")
	if err := writeModel(path, d); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, []byte("1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := run(t, "infer", "--model", path, "--input", in, "--stats", "json", "--solver", "picard")
	if err == nil || !strings.Contains(err.Error(), "non-finite") {
		t.Errorf("err = %v, want the solve's non-finite error", err)
	}
	var st struct {
		Status    string   `json:"status"`
		Residual  *float64 `json:"residual"`
		PerSample []struct {
			Status   string   `json:"status"`
			Residual *float64 `json:"residual"`
		} `json:"per_sample"`
	}
	if err := json.Unmarshal([]byte(stderr), &st); err != nil {
		t.Fatalf("stats are not JSON: %v\n%q", err, stderr)
	}
	if st.Status != "non-finite" || st.Residual != nil || len(st.PerSample) != 1 || st.PerSample[0].Residual != nil {
		t.Errorf("stats %+v", st)
	}
}

// writeModel writes a's model file.
func writeModel(path string, a model.Architecture) error {
	b, err := model.Encode(a, model.F64)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
