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

// checkKindTorchCases matches the cases of the kinds in want that
// scripts/torch/reference.py wrote into dir, and requires at least want's
// count of each: PyTorch's outputs and its gradients (autograd, through the
// fixed point for an implicit kind; checkTorchGradient) to 1e-10 relative
// (F32 files hold F32 values, the sums are F64 on both sides). Any kind
// whose cases carry a gradient can use it.
func checkKindTorchCases(t *testing.T, dir string, want map[string]int) {
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
	seen := map[string]int{}
	for _, c := range cases.Cases {
		if _, ok := want[c.Kind]; !ok {
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
		checkFloat32Case(t, dir, c.Name, c.DType, c.Output, c.OutputF32, m)
		if m, err = model.New(m.Architecture()); err != nil { // float64 products, as the reference's
			t.Fatal(err)
		}
		if m.Info().Kind != c.Kind {
			t.Fatalf("%s: a %s model, the case says %s", c.Name, m.Info().Kind, c.Kind)
		}
		x, want := readCSV(t, filepath.Join(dir, c.Input)), readCSV(t, filepath.Join(dir, c.Output))
		out, err := m.Infer(context.Background(), x, api.Settings{RelTol: 1e-15, AbsTol: 1e-16, MaxIter: 5000})
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
		if worst > 1e-10 {
			t.Errorf("%s: outputs differ from PyTorch's by %g", c.Name, worst)
		}
		t.Logf("%s (%s): outputs match PyTorch's to %.2g in %d iterations", c.Name, describe(m.Info()), worst, out.Result.Iterations)
		checkTorchGradient(t, dir, c.Name, m, x, readCSV(t, filepath.Join(dir, c.Target)), c.Grad, 1e-10)
	}
	for k, n := range want {
		if seen[k] < n {
			t.Fatalf("cases in %s, by kind: %v (want %v)", dir, seen, want)
		}
	}
}

// fnoCases are the Fourier kinds' cases a fixture directory must hold.
var fnoCases = map[string]int{"fno-deq": 2, "fno": 1}

// runReference runs scripts/torch/reference.py with Debian's python3-torch
// (or $IMPLICIT_TORCH_PYTHON) and the arguments, into a new directory it
// returns; it skips the test when PyTorch is missing, unless
// IMPLICIT_REQUIRE_TORCH is set.
func runReference(t *testing.T, args ...string) string {
	t.Helper()
	return runTorchScript(t, "reference.py", args...)
}

// runTorchScript runs a script of scripts/torch as runReference does.
func runTorchScript(t *testing.T, script string, args ...string) string {
	t.Helper()
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
	cmd := exec.Command(python, append([]string{"../../scripts/torch/" + script, "--out", dir}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return dir
}

// The fixtures in testdata/fno are reference.py's fno cases (seed 1,
// --only fno).
func TestFNOPyTorchFixtures(t *testing.T) {
	checkKindTorchCases(t, "testdata/fno", fnoCases)
}

// TestFNOPyTorchLive runs the reference script's fno cases, as
// TestPyTorchLive does all of them.
func TestFNOPyTorchLive(t *testing.T) {
	checkKindTorchCases(t, runReference(t, "--seed", "7", "--only", "fno"), fnoCases)
}
