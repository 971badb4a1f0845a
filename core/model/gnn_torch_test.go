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
	"github.com/implicitlab/implicit/core/model"
)

// checkGNNTorchCases matches the gnn-lp cases scripts/torch/reference.py
// wrote into dir: PyTorch's outputs to 1e-6, and its gradients (autograd,
// through the fixed point for gnn-lp) with checkTorchGradient.
func checkGNNTorchCases(t *testing.T, dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases struct {
		Cases []struct{ Name, Kind, Model, Input, Output, Target, Grad string }
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, c := range cases.Cases {
		if c.Kind != "gnn-lp" && c.Kind != "gnn-lp-explicit" {
			continue
		}
		seen[c.Kind]++
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
		x, want := readCSV(t, filepath.Join(dir, c.Input)), readCSV(t, filepath.Join(dir, c.Output))
		out, err := m.Infer(context.Background(), x, api.Settings{RelTol: 1e-14, AbsTol: 1e-15, MaxIter: 5000})
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
		t.Logf("%s (%s): outputs match PyTorch's to %.2g in %d iterations", c.Name, describe(m.Info()), worst, out.Result.Iterations)
		checkTorchGradient(t, dir, c.Name, m, x, readCSV(t, filepath.Join(dir, c.Target)), c.Grad)
	}
	if seen["gnn-lp"] < 2 || seen["gnn-lp-explicit"] < 1 {
		t.Fatalf("gnn cases in %s, by kind: %v", dir, seen)
	}
}

// The fixtures in testdata/gnn are reference.py's gnn-lp cases (seed 1).
func TestGNNPyTorchFixtures(t *testing.T) {
	checkGNNTorchCases(t, "testdata/gnn")
}

// TestGNNPyTorchLive runs the reference script, as TestPyTorchLive does.
func TestGNNPyTorchLive(t *testing.T) {
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
	cmd := exec.Command(python, "../../scripts/torch/reference.py", "--out", dir, "--seed", "7")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reference.py: %v\n%s", err, out)
	}
	checkGNNTorchCases(t, dir)
}
