package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
)

func TestTrainEvalScale(t *testing.T) {
	dir := t.TempDir()
	modelPath := filepath.Join(dir, "m.safetensors")
	out, _, err := run(t, "train", "--data", "digits", "--out", modelPath, "--hidden", "16", "--epochs", "2", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "hold-out accuracy") {
		t.Errorf("train printed %q", out)
	}
	if b, err := os.ReadFile(modelPath); err != nil {
		t.Fatal(err)
	} else if _, err := model.Decode(b); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(modelPath + train.StateSuffix); err != nil {
		t.Errorf("no training state: %v", err)
	}
	// Two more epochs from the checkpoint, saved where it was.
	if _, _, err := run(t, "train", "--resume", modelPath, "--epochs", "4", "--quiet"); err != nil {
		t.Fatal(err)
	}
	if tr, err := resumeCheckpoint(modelPath, train.TrainSettings{}); err != nil {
		t.Fatal(err)
	} else if e, _ := tr.Progress(); e != 4 {
		t.Errorf("the resumed run saved its checkpoint elsewhere: %s is at epoch %d", modelPath, e)
	}
	if _, _, err := run(t, "train", "--resume", modelPath, "--out", modelPath, "--epochs", "4", "--quiet"); err == nil || !strings.Contains(err.Error(), "finished 4 epochs") {
		t.Errorf("resuming a finished run: %v", err)
	}

	out, _, err = run(t, "eval", "--model", modelPath, "--data", "digits")
	if err != nil || !strings.Contains(out, "hold-out accuracy") || !strings.Contains(out, "355 samples") {
		t.Fatalf("eval: %v\n%s", err, out)
	}

	png := filepath.Join(dir, "scale.png")
	out, _, err = run(t, "scale", "--model", modelPath, "--max-budget", "8", "--plot", png)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 5 {
		t.Errorf("scale table has %d lines, want a header and budgets 1, 2, 4, 8:\n%s", len(lines), out)
	}
	b, err := os.ReadFile(png)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("plot: %v, %d bytes", err, len(b))
	}
}

// Ctrl-C saves a checkpoint of the last finished step and ends with
// errInterrupted (exit status 130).
func TestTrainInterruptSavesCheckpoint(t *testing.T) {
	dir := t.TempDir()
	modelPath := filepath.Join(dir, "m.safetensors")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stderr bytes.Buffer
	f := trainFlags{data: "digits", out: modelPath, arch: "implicit", hidden: 8, param: "monotone", activation: "relu", monotone: 0.5, epochs: 1, batch: 32, lr: 3e-3, seed: 1, gradient: "implicit", quiet: true}
	err := runTrain(ctx, new(bytes.Buffer), &stderr, f)
	if !errors.Is(err, errInterrupted) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(stderr.String(), "resume with: implicit train --resume "+modelPath) {
		t.Errorf("stderr: %q", stderr.String())
	}
	if _, err := resumeCheckpoint(modelPath, train.TrainSettings{}); err != nil {
		t.Errorf("the checkpoint does not resume: %v", err)
	}
}

func TestTrainBadFlags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.safetensors")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--param", "lowrank"}, `parametrisation "lowrank"`},
		{[]string{"--activation", "gelu"}, `activation "gelu"`},
		{[]string{"--arch", "cnn"}, `--arch "cnn"`},
		{[]string{"--gradient", "exact"}, `--gradient "exact"`},
		{[]string{"--data", "/no/such.csv"}, "neither a built-in set"},
		{[]string{"--epochs", "0"}, "epochs 0"},
		{[]string{"--hidden", "0"}, "sizes h=0"},
	} {
		_, _, err := run(t, append([]string{"train", "--quiet", "--out", out}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed run wrote %s", out)
	}
}

func TestQuickStart(t *testing.T) {
	native, _, err := run(t, "--runtime", "native")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"accuracy 0.97", "iterations t", "Lipschitz L_t", "\n            64 "} {
		if !strings.Contains(native, want) {
			t.Errorf("quick start output lacks %q:\n%s", want, native)
		}
	}
	// The default runs sandboxed, and must print the same table.
	sandboxed, _, err := run(t, "--max-budget", "4")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sandboxed, "WebAssembly") {
		t.Errorf("the quick start did not run in WebAssembly:\n%s", sandboxed)
	}
	rows := 0
	for _, line := range strings.Split(sandboxed, "\n") {
		if f := strings.Fields(line); len(f) == 6 && strings.HasPrefix(f[1], "0.") {
			rows++
			if !strings.Contains(native, line) {
				t.Errorf("sandboxed row %q is not in the native table", line)
			}
		}
	}
	if rows != 3 {
		t.Errorf("%d table rows with --max-budget 4:\n%s", rows, sandboxed)
	}
	if _, _, err := run(t, "stray-argument"); err == nil {
		t.Error("the quick start accepted an argument")
	}
}

// The quick start's description of the table follows its flags.
func TestQuickStartSaysHowManyPerturbations(t *testing.T) {
	out, _, err := run(t, "--runtime", "native", "--perturbations", "2", "--max-budget", "1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "2 perturbed copies") {
		t.Errorf("quick start with --perturbations 2:\n%s", out)
	}
}

// A solve that stops short fails the epoch; the checkpoint of the epoch
// before stays, and the error says how to resume from it.
func TestTrainFailureKeepsCheckpoint(t *testing.T) {
	modelPath := filepath.Join(t.TempDir(), "m.safetensors")
	if _, _, err := run(t, "train", "--out", modelPath, "--hidden", "8", "--epochs", "1", "--quiet"); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = run(t, "train", "--resume", modelPath, "--epochs", "2", "--max-iter", "2", "--quiet")
	if !errors.Is(err, train.ErrNotConverged) || !strings.Contains(err.Error(), "resume with: implicit train --resume "+modelPath+" --epochs 2") {
		t.Fatalf("err = %v", err)
	}
	if after, err := os.ReadFile(modelPath); err != nil || !bytes.Equal(before, after) {
		t.Errorf("the checkpoint changed or went (%v)", err)
	}
	// With room for the solves, the run resumes from it.
	if _, _, err := run(t, "train", "--resume", modelPath, "--epochs", "2", "--max-iter", "500", "--quiet"); err != nil {
		t.Fatal(err)
	}
}

// An MLP is the mlp kind: its parameter count is its own, before and after a
// resume (a resumed MLP once counted a deq-dense W it does not have).
func TestTrainMLP(t *testing.T) {
	modelPath := filepath.Join(t.TempDir(), "mlp.safetensors")
	const want = "(mlp: explicit relu, h=10, 760 parameters)" // 10·(64+1) + 10·(10+1)
	out, _, err := run(t, "train", "--arch", "mlp", "--hidden", "10", "--epochs", "1", "--out", modelPath, "--quiet")
	if err != nil || !strings.Contains(out, want) {
		t.Fatalf("train: %v\n%s", err, out)
	}
	out, _, err = run(t, "train", "--resume", modelPath, "--epochs", "2", "--quiet")
	if err != nil || !strings.Contains(out, want) {
		t.Fatalf("resumed: %v\n%s", err, out)
	}
	out, _, err = run(t, "eval", "--model", modelPath, "--runtime", "wasm")
	if err != nil || !strings.Contains(out, "mlp: explicit relu, h=10") || !strings.Contains(out, "355 converged; iterations mean 1.0, max 1") {
		t.Fatalf("eval: %v\n%s", err, out)
	}
}
