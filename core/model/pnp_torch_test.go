package model_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/safetensors"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
)

// checkPnPTorchCases matches the cases scripts/torch/pnp_reference.py wrote
// into dir: PyTorch's outputs and its autograd gradients (through the fixed
// point for pnp) to 1e-10 relative.
func checkPnPTorchCases(t *testing.T, dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases struct {
		Cases []struct{ Name, Kind, Splitting, Model, Input, Output, Target, Grad string }
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	tight := api.Settings{RelTol: 1e-15, AbsTol: 1e-16, MaxIter: 5000}
	for _, c := range cases.Cases {
		seen[c.Kind+" "+c.Splitting]++
		file, err := os.ReadFile(filepath.Join(dir, c.Model))
		if err != nil {
			t.Fatal(err)
		}
		m, err := model.Load(file)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if m.Info().Kind != c.Kind {
			t.Fatalf("%s: a %s model, the case says %s", c.Name, m.Info().Kind, c.Kind)
		}
		x, want, target := readCSV(t, filepath.Join(dir, c.Input)), readCSV(t, filepath.Join(dir, c.Output)), readCSV(t, filepath.Join(dir, c.Target))
		out, err := m.Infer(context.Background(), x, tight)
		if out == nil || len(out.Y) != len(want) {
			t.Fatalf("%s: %v", c.Name, err)
		}
		var worst float64
		for i := range want {
			worst = math.Max(worst, math.Abs(out.Y[i]-want[i])/math.Max(1, math.Abs(want[i])))
		}
		if worst > 1e-10 {
			t.Errorf("%s: outputs differ from PyTorch's by %g", c.Name, worst)
		}
		r, err := train.Gradient(context.Background(), m, x, target, train.MSE{}, train.GradientSettings{Forward: tight, Backward: tight, AllowUnconverged: true})
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		gb, err := os.ReadFile(filepath.Join(dir, c.Grad))
		if err != nil {
			t.Fatal(err)
		}
		wg, err := safetensors.Decode(gb)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]float64{}
		for _, tn := range r.Grad.Tensors() {
			if !tn.Fixed {
				got[tn.Name] = tn.Data
			}
		}
		if len(got) != len(wg.Tensors) {
			t.Fatalf("%s: PyTorch has %d gradients, the model trains %d tensors", c.Name, len(wg.Tensors), len(got))
		}
		var gworst float64
		for _, w := range wg.Tensors {
			g := got[w.Name]
			if len(g) != len(w.Data) {
				t.Fatalf("%s: no gradient of %s here", c.Name, w.Name)
			}
			var d2, n2 float64
			for i, v := range w.Data {
				d2 += (g[i] - v) * (g[i] - v)
				n2 += v * v
			}
			rel := math.Sqrt(d2 / math.Max(n2, 1e-300))
			if !(rel <= 1e-10) {
				t.Errorf("%s: ∂L/∂%s differs from PyTorch's by %.2g relative", c.Name, w.Name, rel)
			}
			gworst = math.Max(gworst, rel)
		}
		t.Logf("%s (%s): outputs match PyTorch's to %.2g (%d iterations), gradients of %d tensors to %.2g", c.Name, m.Info().Description, worst, out.Result.Iterations, len(wg.Tensors), gworst)
	}
	if seen["pnp pgd"] < 2 || seen["pnp hqs"] < 2 || seen["pnp-explicit "] < 1 {
		t.Fatalf("pnp cases in %s: %v", dir, seen)
	}
}

// The fixtures in testdata/pnp are pnp_reference.py's cases (seed 1).
func TestPnPPyTorchFixtures(t *testing.T) {
	checkPnPTorchCases(t, "testdata/pnp")
}

// TestPnPPyTorchLive runs the reference script, as TestPyTorchLive does.
func TestPnPPyTorchLive(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	python := os.Getenv("IMPLICIT_TORCH_PYTHON")
	if python == "" {
		python = "/usr/bin/python3"
	}
	if err := exec.Command(python, "-c", "import torch").Run(); err != nil {
		msg := "PyTorch not available to " + python
		if os.Getenv("IMPLICIT_REQUIRE_TORCH") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	cmd := exec.Command(python, "../../scripts/torch/pnp_reference.py", "--out", dir, "--seed", "7")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pnp_reference.py: %v\n%s", err, out)
	}
	checkPnPTorchCases(t, dir)
}
