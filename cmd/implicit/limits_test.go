package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/core/scale"
	"github.com/implicitlab/implicit/internal/datasets"
	"github.com/implicitlab/implicit/internal/models"
)

// A size from a flag or a data file over its limit is an error naming the
// value and the limit, before anything is allocated: none crashes train.
func TestTrainSizeLimits(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.safetensors")
	labels := func(label string) string {
		path := filepath.Join(dir, "label-"+label+".csv")
		rows := strings.Repeat("0.5,0\n0.25,1\n", 5) + "1," + label + "\n"
		if err := os.WriteFile(path, []byte(rows), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", labels("1e12")}, "label 1e+12 is over the limit of 65536 classes"},
		{[]string{"--data", labels("2e9")}, "label 2e+09 is over the limit of 65536 classes"},
		{[]string{"--hidden", "1000000000"}, "h = 1000000000, 64 inputs and 10 outputs make a model of about 2e+18 parameters, over the limit of 8388608"},
		{[]string{"--arch", "mlp", "--hidden", "1000000000"}, "over the limit of 8388608"},
		{[]string{"--batch", "2000000000"}, "batch size 2000000000: over the limit of 65536"},
		{[]string{"--arch", "conv", "--channels", "1000000"}, "C = 1000000 channels"},
		{[]string{"--arch", "conv", "--inner", "1000000", "--groups", "1"}, "I = 1000000 inner channels"},
		{[]string{"--arch", "cnn", "--depth", "1000000000"}, "depth 1000000000"},
		{[]string{"--arch", "conv", "--batch", "60000", "--channels", "64"}, "values a step, over the limit of 16777216"},
		{[]string{"--arch", "conv", "--image", "4096x4096x4096"}, "images of 4096×4096×4096 pixels are"},
	} {
		_, _, err := run(t, append([]string{"train", "--quiet", "--out", out}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
}

// A model file or training state is read within maxModelFile: a device
// that never ends stops at the limit, a larger regular file is refused by
// its size.
func TestReadModelFileLimit(t *testing.T) {
	if _, err := readFileLimit("/dev/zero", 1<<20); err == nil || !strings.Contains(err.Error(), "/dev/zero: more than 1048576 bytes, the limit for a model file") {
		t.Errorf("/dev/zero: %v", err)
	}
	path := filepath.Join(t.TempDir(), "big.safetensors")
	if err := os.WriteFile(path, make([]byte, 1025), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readFileLimit(path, 1024); err == nil || !strings.Contains(err.Error(), "1025 bytes, over the limit of 1024 bytes") {
		t.Errorf("a file over the limit: %v", err)
	}
	if b, err := readFileLimit(path, 1025); err != nil || len(b) != 1025 {
		t.Errorf("a file at the limit: %d bytes, %v", len(b), err)
	}
	// A stream within the limit is read whole, chunk after chunk.
	for _, limit := range []int64{3 << 20, 2 << 20} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() { w.Write(make([]byte, 5<<19)); w.Close() }()
		b, err := readFileLimit(fmt.Sprintf("/dev/fd/%d", r.Fd()), limit)
		r.Close()
		if limit == 3<<20 && (err != nil || len(b) != 5<<19) {
			t.Errorf("a stream of 2.5 MiB, limit 3 MiB: %d bytes, %v", len(b), err)
		}
		if limit == 2<<20 && (err == nil || !strings.Contains(err.Error(), "more than 2097152 bytes")) {
			t.Errorf("a stream of 2.5 MiB, limit 2 MiB: %v", err)
		}
	}
	// The training state of --resume is read so.
	model := filepath.Join(t.TempDir(), "m.safetensors")
	if err := os.Symlink("/dev/zero", model+".state"); err != nil {
		t.Skip(err)
	}
	if testing.Short() {
		t.Skip("reads 256 MiB of /dev/zero")
	}
	if _, _, err := run(t, "train", "--resume", model, "--quiet"); err == nil || !strings.Contains(err.Error(), "more than 268435456 bytes, the limit for a model file") {
		t.Errorf("--resume with a state of /dev/zero: %v", err)
	}
}

// The commands print no residual traces, so their solves keep none: a
// sample's memory does not grow with --max-iter (RSS grew ~70 MB/s with a
// huge one).
func TestSolvesKeepNoTrace(t *testing.T) {
	f := solverFlags{solver: "picard", tol: 1e-300, maxIter: 50}
	s, err := f.settings()
	if err != nil {
		t.Fatal(err)
	}
	m, release, err := loadModel(t.Context(), models.DigitsFile(), "native")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	set, err := datasets.Digits()
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Infer(t.Context(), set.HoldOut.X[:64*4], s)
	if err != nil {
		t.Fatal(err)
	}
	for i, smp := range out.Result.Samples {
		if len(smp.Trace) != 0 || len(smp.RelTrace) != 0 {
			t.Fatalf("sample %d kept a trace of %d residuals", i, len(smp.Trace))
		}
	}
}

// An output in a directory that does not exist is an error before the
// work, not after it.
func TestOutputsCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	modelPath := filepath.Join(dir, "m.safetensors")
	if err := os.WriteFile(modelPath, models.DigitsFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte(strings.Repeat("0,", 63)+"0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "no-such-dir", "out")
	for _, args := range [][]string{
		{"train", "--quiet", "--epochs", "1", "--out", missing},
		{"train", "--quiet", "--resume", modelPath, "--epochs", "40", "--out", missing},
		{"infer", "--model", modelPath, "--input", in, "--output", missing},
		{"scale", "--model", modelPath, "--max-budget", "1", "--plot", missing},
	} {
		stdout, stderr, err := run(t, args...)
		if err == nil || !strings.Contains(err.Error(), "no directory "+filepath.Dir(missing)) || stdout != "" || stderr != "" {
			t.Errorf("%v: %v\nstdout %q\nstderr %q", args, err, stdout, stderr)
		}
	}
}

// The quick start's words follow its table, and with --json its standard
// output is the JSON table alone.
func TestQuickStartSaysWhatTheTableShows(t *testing.T) {
	out, _, err := run(t, "--runtime", "native", "--max-budget", "2")
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(out), " ")
	if !strings.Contains(flat, "grows from 5.227 to 6.657.") || strings.Contains(flat, "settles") {
		t.Errorf("--max-budget 2:\n%s", out)
	}
	stdout, stderr, err := run(t, "--runtime", "native", "--max-budget", "2", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var pts []scale.Point
	if err := json.Unmarshal([]byte(stdout), &pts); err != nil || len(pts) != 2 {
		t.Errorf("--json: standard output is not the JSON table (%v):\n%s", err, stdout)
	}
	if !strings.Contains(stderr, "quick start") {
		t.Errorf("--json: the prose went nowhere:\n%s", stderr)
	}
}

// A mistyped command gets cobra's suggestions; the root still runs the
// quick start with no arguments and refuses stray ones.
func TestMistypedCommandSuggests(t *testing.T) {
	for typo, want := range map[string]string{"trian": "train", "evl": "eval", "scael": "scale"} {
		_, _, err := run(t, typo)
		if err == nil || !strings.Contains(err.Error(), `unknown command "`+typo+`"`) || !strings.Contains(err.Error(), "Did you mean this?\n\t"+want) {
			t.Errorf("%s: %v", typo, err)
		}
	}
	if _, _, err := run(t, "stray-argument"); err == nil || !strings.Contains(err.Error(), `unknown command "stray-argument"`) {
		t.Errorf("a stray argument: %v", err)
	}
}

// Into a pipe or a CI log train's progress is a line an epoch, with no \r
// frames; --json prints the result as one JSON object on standard output.
func TestTrainProgressAndJSON(t *testing.T) {
	modelPath := filepath.Join(t.TempDir(), "m.safetensors")
	stdout, stderr, err := run(t, "train", "--hidden", "8", "--epochs", "2", "--out", modelPath, "--json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr, "\r") || !strings.Contains(stderr, "epoch 1/2  loss ") || !strings.Contains(stderr, "epoch 2/2  loss ") || strings.Count(stderr, "\n") != 2 {
		t.Errorf("progress into a buffer: %q", stderr)
	}
	var rep trainReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("train --json: %v\n%s", err, stdout)
	}
	// h = 8 monotone: U 8×64, b 8, C 10×8, c 10, A and B 8×8.
	if rep.Model != modelPath || rep.Kind != "deq-dense" || rep.Params != 8*65+10*9+2*64 || rep.Epochs != 2 || !(rep.HoldOutAccuracy > 0.5) || rep.HoldOutSamples != 355 {
		t.Errorf("train --json: %+v", rep)
	}
	// --resume refuses the flags that fix a run, as its help says.
	for _, flag := range []string{"--hidden", "--batch", "--seed", "--lr"} {
		_, _, err := run(t, "train", "--quiet", "--resume", modelPath, "--epochs", "3", flag, "4")
		if err == nil || !strings.Contains(err.Error(), flag+" with --resume: a resumed run continues with its own settings") {
			t.Errorf("%s with --resume: %v", flag, err)
		}
	}
}

// eval and scale without --model run the embedded digits model; eval
// --json prints one JSON object.
func TestEvalEmbeddedModelJSON(t *testing.T) {
	stdout, _, err := run(t, "eval", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Model, Kind, Runtime string
		Params               int
		Accuracy             float64
		Stats                struct {
			Solver  string
			Samples int
			Status  string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, stdout)
	}
	if rep.Model != "embedded digits model" || rep.Accuracy != 0.9746478873239437 || rep.Params != 13002 || rep.Stats.Solver != "peaceman-rachford" || rep.Stats.Samples != 355 || rep.Stats.Status != "converged" || rep.Runtime != "native" {
		t.Errorf("eval --json: %+v", rep)
	}
	if out, _, err := run(t, "eval"); err != nil || !strings.HasPrefix(out, "embedded digits model (deq-dense: ") {
		t.Errorf("eval: %v\n%s", err, out)
	}
	if out, _, err := run(t, "scale", "--max-budget", "2"); err != nil || !strings.Contains(out, "Lipschitz") {
		t.Errorf("scale: %v\n%s", err, out)
	}
}
