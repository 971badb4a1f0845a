package main

import (
	"bytes"
	"compress/gzip"
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
	"github.com/implicitlab/implicit/host"
	"github.com/implicitlab/implicit/internal/csvdata"
	"github.com/implicitlab/implicit/wasm"
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

// benchPrecisions are the rows' precisions, as bench.py names them.
var benchPrecisions = map[string]api.Precision{"f64": api.Float64, "f32": api.Float32}

func newBenchCmd() *cobra.Command {
	var (
		python, scripts string
		scale           float64
		torch, asJSON   bool
		sandbox         bool
		threads         []int
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Time the same models here and in PyTorch, side by side",
		Long: `Bench builds monotone relu deq-dense models (p=64 inputs, q=10 outputs,
m=0.5) at h = 64, 256 and 1024 and a deq-conv model (8×8×1 images, C = 32,
I = 16, G = 4, pool 2, q = 10), writes them with their inputs to a temporary
directory, and times the same forward solves in Go (in this process, in
float64) and in PyTorch (scripts/torch/bench.py and bench_conv.py, eager, in
float64 and in float32), on one thread and on two (--threads):

  latency:  one sample, exactly 30 plain iterations from z = 0, then y = C z + c
  batch:    256 samples, Anderson (memory 5) until every sample's relative
            residual ‖f(z) − z‖/‖f(z)‖ is at most 1e-4
  deq-conv: 1 and 64 samples, Anderson (memory 5) to the same tolerance

Both sides time the input injection, the solve and the readout; neither
times loading. Go on two threads spreads a batch's samples over two
goroutines (api.Settings.Workers); one sample runs on one. It prints medians
and minima over repeated runs.

Unless --wasm=false it also times the module: the same solves natively and
sandboxed (WebAssembly under wazero, one instance, one thread; the batch-64
and one-sample cases), and the module's size, gzipped size, compilation
without a cache and start from a warm cache to a first result.

--json prints every row as one JSON object instead of the tables. Run it
from the repository root (or pass --scripts) with an interpreter that has
PyTorch; without one, or with --torch=false, the PyTorch columns are empty.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if scale <= 0 {
				return fmt.Errorf("--repeat-scale %v: want > 0", scale)
			}
			for _, t := range threads {
				if t < 1 || t > 256 {
					return fmt.Errorf("--threads %d: want 1 to 256", t)
				}
			}
			var skip error
			if !torch {
				skip = errors.New("--torch=false")
			}
			o := benchOptions{python: python, scripts: scripts, scale: scale, threads: threads, skipTorch: skip,
				cases: benchCases, wasm: sandbox, wasmCases: wasmCases}
			r, err := runBench(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			return r.print(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&python, "python", "/usr/bin/python3", "Python interpreter with PyTorch (Debian's python3-torch)")
	cmd.Flags().StringVar(&scripts, "scripts", "scripts/torch", "directory of bench.py")
	cmd.Flags().Float64Var(&scale, "repeat-scale", 1, "multiply the number of timed repetitions (lower for a quick look)")
	cmd.Flags().BoolVar(&torch, "torch", true, "time PyTorch too (false: the Go columns alone)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON: cases, wasm and module")
	cmd.Flags().BoolVar(&sandbox, "wasm", true, "time the WebAssembly module too")
	cmd.Flags().IntSliceVar(&threads, "threads", []int{1, 2}, "thread counts to time each case on")
	return cmd
}

// benchCase is a model and a solve, timed at each precision and thread
// count.
type benchCase struct {
	name      string
	h, repeat int
	// n samples: one for a latency case (exactly latencyIters plain
	// iterations), more for a batch (Anderson to batchTol).
	n int
	// conv: the deq-conv model (8×8×1 images, C = h, I = 16, G = 4,
	// pool 2), solved by Anderson to batchTol.
	conv bool
}

func (c benchCase) kind() string {
	if c.conv {
		return "deq-conv"
	}
	return "deq-dense"
}

func (c benchCase) latency() bool { return !c.conv && c.n == 1 }

// The conv rows' model: the digits' shape.
var benchConv = model.ConvConfig{InChannels: 1, Height: 8, Width: 8, Channels: 32, Inner: 16, Groups: 4, Pool: 2, Out: benchQ}

// benchCases are the README's table's rows.
var benchCases = []benchCase{
	{name: "latency, 1 sample, 30 iterations", h: 64, n: 1, repeat: 2000},
	{name: "latency, 1 sample, 30 iterations", h: 256, n: 1, repeat: 500},
	{name: "latency, 1 sample, 30 iterations", h: 1024, n: 1, repeat: 50},
	{name: "batch 256, Anderson to 1e-4", h: 64, n: batchSize, repeat: 30},
	{name: "batch 256, Anderson to 1e-4", h: 256, n: batchSize, repeat: 10},
	{name: "batch 256, Anderson to 1e-4", h: 1024, n: batchSize, repeat: 3},
	{name: "deq-conv 8×8, 1 sample, Anderson to 1e-4", h: 32, n: 1, repeat: 200, conv: true},
	{name: "deq-conv 8×8, batch 64, Anderson to 1e-4", h: 32, n: 64, repeat: 10, conv: true},
}

// wasmCases are timed natively and sandboxed, on one thread.
var wasmCases = []benchCase{
	{name: "latency, 1 sample, 30 iterations", h: 64, n: 1, repeat: 500},
	{name: "latency, 1 sample, 30 iterations", h: 256, n: 1, repeat: 100},
	{name: "batch 64, Anderson to 1e-4", h: 64, n: 64, repeat: 20},
	{name: "batch 64, Anderson to 1e-4", h: 256, n: 64, repeat: 5},
	{name: "deq-conv 8×8, 1 sample, Anderson to 1e-4", h: 32, n: 1, repeat: 50, conv: true},
	{name: "deq-conv 8×8, batch 64, Anderson to 1e-4", h: 32, n: 64, repeat: 5, conv: true},
}

// benchOptions are a run's settings.
type benchOptions struct {
	python, scripts string
	scale           float64
	threads         []int
	skipTorch       error // why PyTorch is not timed, or nil
	cases           []benchCase
	wasm            bool
	wasmCases       []benchCase
}

// benchReport is what `implicit bench --json` prints.
type benchReport struct {
	Cases  []benchRow   `json:"cases"`
	Wasm   []wasmRow    `json:"wasm"`
	Module *moduleStats `json:"module"`
	Go     string       `json:"go"`
	Kernel string       `json:"kernel"`
	// Torch names PyTorch's BLAS, or says why PyTorch did not run.
	Torch      string `json:"torch"`
	TorchError string `json:"torch_error,omitempty"`
}

// benchRow is one case at one precision and thread count, both sides
// computing in it (GoPrecision says Go's: its matrix products; PyTorch's
// float32 is everything).
type benchRow struct {
	Case        string `json:"case"`
	Kind        string `json:"kind"`
	H           int    `json:"h"`
	Batch       int    `json:"batch"`
	Precision   string `json:"precision"`
	Threads     int    `json:"threads"`
	GoPrecision string `json:"go_precision"`
	timingsJSON
}

// timingsJSON is both sides' timings; the PyTorch ones are null when it
// did not run.
type timingsJSON struct {
	GoMedianUS     float64  `json:"go_median_us"`
	GoMinUS        float64  `json:"go_min_us"`
	GoFuncEvals    float64  `json:"go_func_evals_mean"`
	GoIterations   int      `json:"go_iterations"`
	TorchMedianUS  *float64 `json:"torch_median_us"`
	TorchMinUS     *float64 `json:"torch_min_us"`
	TorchFuncEvals *int     `json:"torch_func_evals"`
}

// wasmRow is one case natively and sandboxed, one thread each.
type wasmRow struct {
	Case           string  `json:"case"`
	Kind           string  `json:"kind"`
	H              int     `json:"h"`
	Batch          int     `json:"batch"`
	NativeMedianUS float64 `json:"native_median_us"`
	WasmMedianUS   float64 `json:"wasm_median_us"`
}

// moduleStats is the WebAssembly module's size and start.
type moduleStats struct {
	Bytes     int `json:"bytes"`
	GzipBytes int `json:"gzip_bytes"`
	// CachedStartUS: a new Runtime with a warm compilation cache, the model
	// loaded and one sample solved (the latency case at h = 64), median.
	CachedStartUS float64 `json:"cached_start_us"`
	// UncachedCompileUS: a new Runtime with an empty cache (compiling the
	// module and starting an instance), median.
	UncachedCompileUS float64 `json:"uncached_compile_us"`
}

// timing is a set of repeated measurements of one case on one side.
type timing struct {
	MedianUS, MinUS float64
	FuncEvals       float64 // mean over samples (Go) or of the batch (PyTorch)
	Iterations      int
	Residual        float64
}

// runBench times the cases in Go and, unless o.skipTorch says why not or
// it is not available, in PyTorch, and the module unless o.wasm is false.
func runBench(ctx context.Context, o benchOptions) (*benchReport, error) {
	dir, err := os.MkdirTemp("", "implicit-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	torch := o.skipTorch
	if torch == nil {
		torch = torchAvailable(o.python, o.scripts)
	}
	r := &benchReport{Go: goRuntimeLabel(), Kernel: model.Kernel(), Cases: []benchRow{}, Wasm: []wasmRow{}}
	for _, c := range o.cases {
		c.repeat = max(3, int(float64(c.repeat)*o.scale))
		b, err := newBenchSetup(c)
		if err != nil {
			return nil, err
		}
		modelPath, inputPath, err := b.write(dir)
		if err != nil {
			return nil, err
		}
		for _, th := range o.threads {
			for _, prec := range []string{"f64", "f32"} {
				goT, err := timeInfer(ctx, b.m, b.x, c, th, benchPrecisions[prec])
				if err != nil {
					return nil, err
				}
				row := benchRow{Case: c.name, Kind: c.kind(), H: c.h, Batch: c.n, Precision: prec, Threads: th, GoPrecision: prec}
				row.GoMedianUS, row.GoMinUS, row.GoFuncEvals, row.GoIterations = goT.MedianUS, goT.MinUS, goT.FuncEvals, goT.Iterations
				if torch == nil {
					pyT, blas, err := timeTorch(ctx, o.python, o.scripts, modelPath, inputPath, c, prec, th)
					if err != nil {
						return nil, fmt.Errorf("PyTorch, %s at h=%d, %s, %d threads: %w", c.name, c.h, prec, th, err)
					}
					evals := int(pyT.FuncEvals)
					row.TorchMedianUS, row.TorchMinUS, row.TorchFuncEvals = &pyT.MedianUS, &pyT.MinUS, &evals
					r.Torch = blas
				}
				r.Cases = append(r.Cases, row)
			}
		}
	}
	if torch != nil {
		r.TorchError = torch.Error()
	}
	if !o.wasm {
		return r, nil
	}
	rt, err := host.New(ctx, host.Config{Instances: 1, CacheDir: filepath.Join(dir, "wazero")})
	if err != nil {
		return nil, err
	}
	defer rt.Close(ctx)
	for _, c := range o.wasmCases {
		c.repeat = max(3, int(float64(c.repeat)*o.scale))
		b, err := newBenchSetup(c)
		if err != nil {
			return nil, err
		}
		wm, err := rt.Load(ctx, b.file)
		if err != nil {
			return nil, err
		}
		native, err := timeInfer(ctx, b.m, b.x, c, 1, api.Float64)
		if err != nil {
			return nil, err
		}
		sandboxed, err := timeInfer(ctx, wm, b.x, c, 1, api.Float64)
		wm.Close()
		if err != nil {
			return nil, err
		}
		r.Wasm = append(r.Wasm, wasmRow{Case: c.name, Kind: c.kind(), H: c.h, Batch: c.n, NativeMedianUS: native.MedianUS, WasmMedianUS: sandboxed.MedianUS})
	}
	if r.Module, err = timeModule(ctx, dir, max(1, int(5*o.scale))); err != nil {
		return nil, err
	}
	return r, nil
}

// print writes the report as tables.
func (r *benchReport) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\th or C\tthreads\tprecision\tGo median µs\tGo min µs\tGo f-evals\tPyTorch median µs\tPyTorch min µs\tPyTorch f-evals\tspeed-up (medians)\t")
	for _, c := range r.Cases {
		py := []string{"-", "-", "-", "-"}
		if c.TorchMedianUS != nil {
			py = []string{fmtUS(*c.TorchMedianUS), fmtUS(*c.TorchMinUS), strconv.Itoa(*c.TorchFuncEvals), fmt.Sprintf("%.1fx", *c.TorchMedianUS/c.GoMedianUS)}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%.1f / %d\t%s\t%s\t%s\t%s\t\n", c.Case, c.H, c.Threads, c.Precision,
			fmtUS(c.GoMedianUS), fmtUS(c.GoMinUS), c.GoFuncEvals, c.GoIterations, py[0], py[1], py[2], py[3])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nGo: %s, float64 in every row, GEMM kernel %s; on two threads a batch's samples are split over two goroutines.\n", r.Go, r.Kernel)
	if r.TorchError != "" {
		fmt.Fprintf(w, "PyTorch: not run: %s\n", r.TorchError)
	} else {
		fmt.Fprintf(w, "PyTorch: eager, no_grad, in the row's precision and threads; BLAS %s; latency is the faster of z@W.T+inj and addmm;\n", r.Torch)
		fmt.Fprintln(w, "batch and deq-conv rows are the fastest converged run over Anderson regularisations λ = 1e-4, 1e-6, 1e-8, 1e-10.")
	}
	fmt.Fprintln(w, "deq-conv: 8×8×1 images, C = 32, I = 16, G = 4, pool 2 (scripts/torch/bench_conv.py, the same file and inputs).")
	fmt.Fprintln(w, "Go f-evals: mean over samples / iterations of the batch (a converged sample stops); PyTorch: evaluations of the whole batch.")
	if len(r.Wasm) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "WebAssembly case\th or C\tnative median µs\twasm median µs\twasm ÷ native\t")
	for _, c := range r.Wasm {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.1fx\t\n", c.Case, c.H, fmtUS(c.NativeMedianUS), fmtUS(c.WasmMedianUS), c.WasmMedianUS/c.NativeMedianUS)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	m := r.Module
	fmt.Fprintf(w, "\nModule: %d bytes, %d gzipped; compiled without a cache in %.0f ms; from a warm cache to a first result in %.1f ms (wazero, one instance).\n",
		m.Bytes, m.GzipBytes, m.UncachedCompileUS/1e3, m.CachedStartUS/1e3)
	return nil
}

func goRuntimeLabel() string { return runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH }

func fmtUS(us float64) string { return strconv.FormatFloat(us, 'f', 1, 64) }

// benchSetup is a case's model, its file and its inputs.
type benchSetup struct {
	m    *model.Model
	file []byte    // the model file (F64)
	x    []float64 // batchSize samples of benchP values
	name string
}

// newBenchSetup builds the case's model and inputs.
func newBenchSetup(c benchCase) (*benchSetup, error) {
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
		return nil, err
	}
	m, err := model.New(d)
	if err != nil {
		return nil, err
	}
	file, err := model.Encode(d, model.F64)
	if err != nil {
		return nil, err
	}
	x := make([]float64, batchSize*benchP)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	return &benchSetup{m: m, file: file, x: x, name: name}, nil
}

// write writes the model and the inputs into dir for PyTorch and returns
// their paths.
func (b *benchSetup) write(dir string) (modelPath, inputPath string, err error) {
	modelPath = filepath.Join(dir, b.name+".safetensors")
	inputPath = filepath.Join(dir, b.name+".csv")
	if err := os.WriteFile(modelPath, b.file, 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(inputPath, csvdata.Format(b.x, benchP), 0o644); err != nil {
		return "", "", err
	}
	return modelPath, inputPath, nil
}

// timeInfer runs the case c.repeat times (after a warm-up) on m, natively
// or sandboxed, spreading a batch over threads workers.
func timeInfer(ctx context.Context, m api.Inferer, x []float64, c benchCase, threads int, p api.Precision) (timing, error) {
	s := api.Settings{Method: &api.Anderson{Memory: 5}, RelTol: batchTol, MaxIter: batchMaxIter, Workers: threads, NoTrace: true, Precision: p}
	if c.latency() {
		s = api.Settings{Method: &api.Picard{}, MaxIter: latencyIters, RelTol: -1, Workers: threads, NoTrace: true, Precision: p}
	}
	x = x[:c.n*m.Info().In]
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
	if !c.latency() && out.Result.Status != api.Converged {
		return timing{}, fmt.Errorf("go solve of %s at h=%d: %v", c.name, c.h, out.Result.Status)
	}
	t := timing{FuncEvals: float64(out.Result.FuncEvals) / float64(len(out.Result.Samples)), Iterations: out.Result.Iterations, Residual: out.Result.RelResidual}
	t.MedianUS, t.MinUS = medianMin(times)
	return t, nil
}

// timeModule measures the module's size, its compilation without a cache
// and its start from a warm one to a first result, over reps runs each.
func timeModule(ctx context.Context, dir string, reps int) (*moduleStats, error) {
	mod := wasm.Module()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(mod); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	b, err := newBenchSetup(wasmCases[0])
	if err != nil {
		return nil, err
	}
	file, x := b.file, b.x[:b.m.Info().In]
	var cold, warm []float64
	for i := range reps {
		cache := filepath.Join(dir, fmt.Sprintf("start-%d", i))
		start := time.Now()
		rt, err := host.New(ctx, host.Config{Instances: 1, CacheDir: cache})
		if err != nil {
			return nil, err
		}
		cold = append(cold, float64(time.Since(start).Microseconds()))
		rt.Close(ctx)

		start = time.Now()
		rt, err = host.New(ctx, host.Config{Instances: 1, CacheDir: cache})
		if err != nil {
			return nil, err
		}
		wm, err := rt.Load(ctx, file)
		if err == nil {
			_, err = wm.Infer(ctx, x, api.Settings{Method: &api.Picard{}, MaxIter: latencyIters, RelTol: -1})
		}
		warm = append(warm, float64(time.Since(start).Microseconds()))
		rt.Close(ctx)
		if err != nil {
			return nil, err
		}
	}
	s := &moduleStats{Bytes: len(mod), GzipBytes: gz.Len()}
	s.UncachedCompileUS, _ = medianMin(cold)
	s.CachedStartUS, _ = medianMin(warm)
	return s, nil
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

func timeTorch(ctx context.Context, python, scripts, modelPath, inputPath string, c benchCase, precision string, threads int) (timing, string, error) {
	args := []string{"--model", modelPath, "--input", inputPath, "--repeat", strconv.Itoa(c.repeat), "--dtype", precision, "--threads", strconv.Itoa(threads)}
	script := "bench.py"
	var runs [][]string
	switch {
	case c.conv:
		script = "bench_conv.py"
		for _, lam := range []string{"1e-4", "1e-6", "1e-8", "1e-10"} {
			runs = append(runs, append([]string{"--batch", strconv.Itoa(c.n), "--tol", "1e-4", "--max-iter", strconv.Itoa(batchMaxIter), "--anderson-m", "5", "--anderson-lam", lam}, args...))
		}
	case !c.latency():
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
			return timing{}, "", fmt.Errorf("%s printed %q: %w", script, out, err)
		}
		if !c.latency() && !(r.Residual <= batchTol) {
			continue // did not converge within the iteration limit
		}
		if best.TimeMedian == 0 || r.TimeMedian < best.TimeMedian {
			best = r
		}
	}
	if best.TimeMedian == 0 {
		return timing{}, "", fmt.Errorf("%s reported no converged run", script)
	}
	t := timing{MedianUS: best.TimeMedian, MinUS: best.TimeMin, FuncEvals: float64(best.Iters), Residual: best.Residual}
	return t, best.BLASKind + " (" + best.BLASLib + ")", nil
}
