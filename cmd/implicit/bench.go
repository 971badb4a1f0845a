package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/internal/csvdata"
)

// The benchmark's cases: one sample through exactly latencyIters plain
// iterations, and a batch solved with Anderson to batchTol.
const (
	benchP, benchQ = 64, 10
	latencyIters   = 30
	batchSize      = 256
	batchTol       = 1e-4
	batchMaxIter   = 100
)

func newBenchCmd() *cobra.Command {
	var (
		python, scripts string
		scale           float64
		torch           bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Time the same models here and in PyTorch, side by side",
		Long: `Bench builds a monotone relu deq-dense model (p=64 inputs, q=10 outputs,
m=0.5) at h = 64 and 256 and a deq-conv model (8×8×1 images, C = 32, I = 16,
G = 4, pool 2, q = 10), writes them with their inputs to a temporary directory,
and times the same forward solves in Go (in this process, one goroutine,
float64) and in PyTorch (scripts/torch/bench.py and bench_conv.py, one thread,
eager, in float64, and for deq-conv in float32 too):

  latency:  one sample, exactly 30 plain iterations from z = 0, then y = C z + c
  batch:    256 samples, Anderson (memory 5) until every sample's relative
            residual ‖f(z) − z‖/‖f(z)‖ is at most 1e-4
  deq-conv: 1 and 64 samples, Anderson (memory 5) to the same tolerance

Both sides time the input injection, the solve and the readout; neither
times loading. It prints medians and minima over repeated runs. Run it from
the repository root (or pass --scripts) with an interpreter that has PyTorch;
without one, or with --torch=false, it prints the Go column alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if scale <= 0 {
				return fmt.Errorf("--repeat-scale %v: want > 0", scale)
			}
			var skip error
			if !torch {
				skip = errors.New("--torch=false")
			}
			return runBench(cmd.Context(), cmd.OutOrStdout(), python, scripts, scale, benchCases, skip)
		},
	}
	cmd.Flags().StringVar(&python, "python", "/usr/bin/python3", "Python interpreter with PyTorch (Debian's python3-torch)")
	cmd.Flags().StringVar(&scripts, "scripts", "scripts/torch", "directory of bench.py")
	cmd.Flags().Float64Var(&scale, "repeat-scale", 1, "multiply the number of timed repetitions (lower for a quick look)")
	cmd.Flags().BoolVar(&torch, "torch", true, "time PyTorch too (false: the Go column alone)")
	return cmd
}

// timing is a set of repeated measurements of one case on one side.
type timing struct {
	MedianUS, MinUS float64
	Iters           string // iterations, as the side counts them
	Residual        float64
}

// benchCase is one row of the table.
type benchCase struct {
	name      string
	h, repeat int
	batch     bool
	// conv: the deq-conv model (8×8×1 images, C = h, I = 16, G = 4,
	// pool 2) solved by Anderson to 1e-4, n samples; PyTorch in precision
	// ("f64" or "f32"). A batch case solves n samples too (at most
	// batchSize).
	conv      bool
	n         int
	precision string
}

// The conv rows' model: the digits' shape.
var benchConv = model.ConvConfig{InChannels: 1, Height: 8, Width: 8, Channels: 32, Inner: 16, Groups: 4, Pool: 2, Out: benchQ}

// benchCases are the README's table's rows.
var benchCases = []benchCase{
	{name: "latency, 1 sample, 30 iterations", h: 64, repeat: 2000},
	{name: "latency, 1 sample, 30 iterations", h: 256, repeat: 500},
	{name: "batch 256, Anderson to 1e-4", h: 64, repeat: 30, batch: true, n: batchSize},
	{name: "batch 256, Anderson to 1e-4", h: 256, repeat: 10, batch: true, n: batchSize},
	{name: "deq-conv 8×8, 1 sample, Anderson to 1e-4", h: 32, repeat: 200, conv: true, n: 1, precision: "f64"},
	{name: "deq-conv 8×8, 1 sample, Anderson to 1e-4", h: 32, repeat: 200, conv: true, n: 1, precision: "f32"},
	{name: "deq-conv 8×8, batch 64, Anderson to 1e-4", h: 32, repeat: 10, conv: true, n: 64, precision: "f64"},
	{name: "deq-conv 8×8, batch 64, Anderson to 1e-4", h: 32, repeat: 10, conv: true, n: 64, precision: "f32"},
}

// runBench times cases in Go and, unless skipTorch says why not or it is
// not available, in PyTorch, and prints the table.
func runBench(ctx context.Context, w io.Writer, python, scripts string, scale float64, cases []benchCase, skipTorch error) error {
	dir, err := os.MkdirTemp("", "implicit-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	torch := skipTorch
	if torch == nil {
		torch = torchAvailable(python, scripts)
	}
	type row struct {
		c         benchCase
		goT, pyT  timing
		pyErr     error
		blasLabel string
	}
	var rows []row
	for _, c := range cases {
		c.repeat = max(3, int(float64(c.repeat)*scale))
		model, x, modelPath, inputPath, err := benchModel(dir, c)
		if err != nil {
			return err
		}
		r := row{c: c}
		if r.goT, err = timeGo(ctx, model, x, c); err != nil {
			return err
		}
		if torch != nil {
			r.pyErr = torch
		} else {
			r.pyT, r.blasLabel, r.pyErr = timeTorch(ctx, python, scripts, modelPath, inputPath, c)
		}
		rows = append(rows, r)
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\th or C\tGo median µs\tGo min µs\tGo f-evals\tPyTorch\tPyTorch median µs\tPyTorch min µs\tPyTorch f-evals\tspeed-up (medians)\t")
	var blas string
	for _, r := range rows {
		py := []string{"-", "-", "-", "-"}
		if r.pyErr == nil {
			py = []string{fmtUS(r.pyT.MedianUS), fmtUS(r.pyT.MinUS), r.pyT.Iters, fmt.Sprintf("%.1fx", r.pyT.MedianUS/r.goT.MedianUS)}
			blas = r.blasLabel
		}
		prec := r.c.precision
		if prec == "" {
			prec = "f64"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.c.name, r.c.h, fmtUS(r.goT.MedianUS), fmtUS(r.goT.MinUS), r.goT.Iters, prec, py[0], py[1], py[2], py[3])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nGo: %s, one goroutine, float64, GEMM kernel %s.\n", goRuntimeLabel(), kernelLabel())
	if torch != nil {
		fmt.Fprintf(w, "PyTorch: not run: %v\n", torch)
		return nil
	}
	for _, r := range rows {
		if r.pyErr != nil {
			return fmt.Errorf("PyTorch, %s at h=%d: %w", r.c.name, r.c.h, r.pyErr)
		}
	}
	fmt.Fprintf(w, "PyTorch: one thread, eager, no_grad, in the precision of its column; BLAS %s; latency is the faster of z@W.T+inj and addmm;\n", blas)
	fmt.Fprintln(w, "batch and deq-conv rows are the fastest converged run over Anderson regularisations λ = 1e-4, 1e-6, 1e-8, 1e-10.")
	fmt.Fprintln(w, "deq-conv: 8×8×1 images, C = 32, I = 16, G = 4, pool 2 (scripts/torch/bench_conv.py, the same file and inputs).")
	fmt.Fprintln(w, "Go f-evals: mean and max over samples (a converged sample stops); PyTorch: evaluations of the whole batch.")
	return nil
}

func goRuntimeLabel() string { return runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH }

func kernelLabel() string { return model.Kernel() }

func fmtUS(us float64) string { return strconv.FormatFloat(us, 'f', 1, 64) }

// benchModel builds the case's model and inputs and writes both for PyTorch.
func benchModel(dir string, c benchCase) (*model.Model, []float64, string, string, error) {
	h := c.h
	rng := rand.New(rand.NewPCG(1, uint64(h)))
	var (
		d   model.Architecture
		err error
	)
	name := fmt.Sprintf("h%d", h)
	if c.conv {
		name = fmt.Sprintf("conv%d", h)
		d, err = model.NewConv(benchConv, rng)
	} else {
		d, err = model.NewDense(model.DenseConfig{Hidden: h, In: benchP, Out: benchQ, Activation: model.ReLU, Param: model.Monotone, Monotone: 0.5}, rng)
	}
	if err != nil {
		return nil, nil, "", "", err
	}
	m, err := model.New(d)
	if err != nil {
		return nil, nil, "", "", err
	}
	file, err := model.Encode(d, model.F64)
	if err != nil {
		return nil, nil, "", "", err
	}
	x := make([]float64, batchSize*benchP)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	modelPath := filepath.Join(dir, name+".safetensors")
	inputPath := filepath.Join(dir, name+".csv")
	if err := os.WriteFile(modelPath, file, 0o644); err != nil {
		return nil, nil, "", "", err
	}
	if err := os.WriteFile(inputPath, csvdata.Format(x, benchP), 0o644); err != nil {
		return nil, nil, "", "", err
	}
	return m, x, modelPath, inputPath, nil
}

// timeGo runs the case c.repeat times (after a warm-up) in this process.
func timeGo(ctx context.Context, m *model.Model, x []float64, c benchCase) (timing, error) {
	s := api.Settings{Method: &api.Anderson{Memory: 5}, RelTol: batchTol, MaxIter: batchMaxIter}
	if c.conv || c.batch {
		x = x[:c.n*m.Info().In]
	} else {
		x = x[:benchP]
		s = api.Settings{Method: &api.Picard{}, MaxIter: latencyIters, RelTol: -1}
	}
	var (
		times []float64
		out   *api.Output
		err   error
	)
	for i := -2; i < c.repeat; i++ {
		start := time.Now()
		out, err = m.Infer(ctx, x, s)
		if err != nil {
			return timing{}, err
		}
		if i >= 0 {
			times = append(times, float64(time.Since(start).Nanoseconds())/1e3)
		}
	}
	if (c.batch || c.conv) && out.Result.Status != api.Converged {
		return timing{}, fmt.Errorf("go batch solve at h=%d: %v", c.h, out.Result.Status)
	}
	mean := float64(out.Result.FuncEvals) / float64(len(out.Result.Samples))
	t := timing{Iters: fmt.Sprintf("%.1f / %d", mean, out.Result.Iterations), Residual: out.Result.RelResidual}
	t.MedianUS, t.MinUS = medianMin(times)
	return t, nil
}

func medianMin(v []float64) (median, minimum float64) {
	slices.Sort(v)
	return v[len(v)/2], v[0]
}

// torchAvailable says why PyTorch cannot be used, or nil.
func torchAvailable(python, scripts string) error {
	if _, err := os.Stat(filepath.Join(scripts, "bench.py")); err != nil {
		return fmt.Errorf("%s/bench.py not found (run from the repository root or pass --scripts)", scripts)
	}
	if err := exec.Command(python, "-c", "import torch").Run(); err != nil {
		return fmt.Errorf("%s cannot import torch (apt-get install python3-torch libopenblas0-pthread, or pass --python)", python)
	}
	return nil
}

// torchResult is the JSON line bench.py prints.
type torchResult struct {
	TimeMedian float64 `json:"time_us_median"`
	TimeMin    float64 `json:"time_us_min"`
	Iters      int     `json:"iters"`
	Residual   float64 `json:"residual"`
	BLASKind   string  `json:"blas_kind"`
	BLASLib    string  `json:"blas_lib"`
}

func timeTorch(ctx context.Context, python, scripts, modelPath, inputPath string, c benchCase) (timing, string, error) {
	args := []string{"--model", modelPath, "--input", inputPath, "--repeat", strconv.Itoa(c.repeat)}
	script := "bench.py"
	var runs [][]string
	switch {
	case c.conv:
		script = "bench_conv.py"
		for _, lam := range []string{"1e-4", "1e-6", "1e-8", "1e-10"} {
			runs = append(runs, append([]string{"--batch", strconv.Itoa(c.n), "--dtype", c.precision, "--tol", "1e-4", "--max-iter", strconv.Itoa(batchMaxIter), "--anderson-m", "5", "--anderson-lam", lam}, args...))
		}
	case c.batch:
		// The DEQ tutorial's λ = 1e-4 is absolute, so it swamps the Gram
		// matrix once residuals are small; PyTorch gets the best of several.
		for _, lam := range []string{"1e-4", "1e-6", "1e-8", "1e-10"} {
			runs = append(runs, append([]string{"batch", "--tol", "1e-4", "--max-iter", strconv.Itoa(batchMaxIter), "--anderson-m", "5", "--anderson-lam", lam, "--anderson-beta", "1.0"}, args...))
		}
	default:
		base := append([]string{"latency", "--iters", strconv.Itoa(latencyIters)}, args...)
		runs = [][]string{base, append(slices.Clone(base), "--impl", "addmm")}
	}
	var best torchResult
	for _, a := range runs {
		cmd := exec.CommandContext(ctx, python, append([]string{filepath.Join(scripts, script)}, a...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return timing{}, "", fmt.Errorf("%s %s: %v: %s", script, strings.Join(a, " "), err, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		var r torchResult
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
			return timing{}, "", fmt.Errorf("bench.py printed %q: %w", out, err)
		}
		if (c.batch || c.conv) && !(r.Residual <= batchTol) {
			continue // did not converge within the iteration limit
		}
		if best.TimeMedian == 0 || r.TimeMedian < best.TimeMedian {
			best = r
		}
	}
	if best.TimeMedian == 0 {
		return timing{}, "", errors.New("bench.py reported no converged run")
	}
	t := timing{MedianUS: best.TimeMedian, MinUS: best.TimeMin, Iters: strconv.Itoa(best.Iters), Residual: best.Residual}
	return t, best.BLASKind + " (" + best.BLASLib + ")", nil
}
