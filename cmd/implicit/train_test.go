package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
	"github.com/implicitlab/implicit/internal/datasets"
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
		{[]string{"--arch", "resnet"}, `--arch "resnet": want implicit, mlp, conv or cnn`},
		{[]string{"--gradient", "exact"}, `--gradient "exact"`},
		{[]string{"--data", "/no/such.csv"}, "neither a built-in set"},
		{[]string{"--epochs", "0"}, "epochs 0"},
		{[]string{"--hidden", "0"}, "sizes h=0"},
		{[]string{"--jacobian-penalty", "-1"}, "--jacobian-penalty -1, --jacobian-power-steps 0: invalid fixed-point problem: Jacobian penalty -1 (want a finite γ ≥ 0)"},
		{[]string{"--jacobian-penalty", "NaN"}, "Jacobian penalty NaN (want a finite γ ≥ 0)"},
		{[]string{"--jacobian-penalty", "1", "--arch", "mlp"}, "--jacobian-penalty with --arch mlp"},
		{[]string{"--jacobian-penalty", "1", "--jacobian-power-steps", "101"}, "101 power steps for the Jacobian penalty (want 0 to 100)"},
		{[]string{"--jacobian-power-steps", "5"}, "5 power steps for a Jacobian penalty of 0 (set the penalty γ too)"},
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

// --jacobian-penalty trains with Bai et al.'s penalty, reports its
// estimate, and stays the run's: a resume keeps it and refuses another.
func TestTrainJacobianPenalty(t *testing.T) {
	modelPath := filepath.Join(t.TempDir(), "m.safetensors")
	args := []string{"train", "--hidden", "16", "--epochs", "1", "--out", modelPath, "--json", "--jacobian-penalty", "0.5"}
	out, _, err := run(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct{ Jacobian float64 }
	if err := json.Unmarshal([]byte(out), &rep); err != nil || !(rep.Jacobian > 0) {
		t.Fatalf("report %q: %v", out, err)
	}
	// Without the penalty the report leaves the estimate out.
	out, _, err = run(t, "train", "--hidden", "16", "--epochs", "1", "--out", modelPath, "--json")
	if err != nil || strings.Contains(out, "jacobian") {
		t.Fatalf("without a penalty: %v\n%s", err, out)
	}
	if _, _, err := run(t, "train", "--resume", modelPath, "--epochs", "2", "--jacobian-penalty", "1", "--quiet"); err == nil || !strings.Contains(err.Error(), "--jacobian-penalty with --resume") {
		t.Errorf("a new penalty on resume: %v", err)
	}
}

// --arch conv trains deq-conv on the digits (8×8×1 images by default), and
// --arch cnn its explicit counterpart, with the same parameter count at
// depth 1; eval and scale run them, sandboxed too.
func TestTrainConv(t *testing.T) {
	dir := t.TempDir()
	conv, cnn := filepath.Join(dir, "conv.safetensors"), filepath.Join(dir, "cnn.safetensors")
	// 150 digits, so that the test stays quick under the race detector.
	set, err := datasets.Digits()
	if err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	for i := range 150 {
		for _, v := range set.Train.X[i*64 : (i+1)*64] {
			fmt.Fprintf(&csv, "%g,", v)
		}
		fmt.Fprintf(&csv, "%g\n", set.Train.Labels[i])
	}
	data := filepath.Join(dir, "digits150.csv")
	if err := os.WriteFile(data, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	shape := []string{"--data", data, "--image", "8x8x1", "--channels", "8", "--inner", "8", "--groups", "2", "--epochs", "1", "--max-iter", "30", "--quiet"}
	out, _, err := run(t, append([]string{"train", "--arch", "conv", "--out", conv}, shape...)...)
	if err != nil || !strings.Contains(out, "(deq-conv: C=8, I=8, G=2, 8×8×1 images, pool 2, ") {
		t.Fatalf("train conv: %v\n%s", err, out)
	}
	params := out[strings.Index(out, "pool 2, ")+len("pool 2, "):]
	params = params[:strings.Index(params, ")")]
	out, _, err = run(t, append([]string{"train", "--arch", "cnn", "--out", cnn}, shape...)...)
	if err != nil || !strings.Contains(out, "(cnn: explicit, depth 1, C=8, I=8, G=2, 8×8×1 images, pool 2, "+params+")") {
		t.Fatalf("train cnn (want %s): %v\n%s", params, err, out)
	}
	if out, _, err := run(t, "eval", "--model", conv, "--data", data, "--runtime", "wasm"); err != nil || !strings.Contains(out, "hold-out accuracy") {
		t.Fatalf("eval conv in wasm: %v\n%s", err, out)
	}
	if out, _, err := run(t, "scale", "--model", cnn, "--data", data, "--max-budget", "2"); err != nil || !strings.Contains(out, "Lipschitz") {
		t.Fatalf("scale cnn: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--arch", "conv", "--data", "digits", "--image", "8x8", "--out", conv}, `--image "8x8": want HxWxC`},
		{[]string{"train", "--arch", "conv", "--image", "4x4x1", "--out", conv}, "images of 4×4×1 pixels are 16 values, the data has 64 features"},
		{[]string{"train", "--arch", "conv", "--groups", "3", "--out", conv}, "implicit.groups=3 does not divide the channels"},
		{[]string{"train", "--arch", "cnn", "--depth", "0", "--out", conv}, "--depth 0"},
		{[]string{"train", "--resume", conv, "--lr", "0.1"}, "--lr with --resume: a resumed run continues with its own settings"},
		{[]string{"train", "--resume", conv, "--channels", "4"}, "--channels with --resume"},
	} {
		if _, _, err := run(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
