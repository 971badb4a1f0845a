package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/internal/atomicfile"
	"github.com/implicitlab/implicit/internal/csvdata"
)

// solverFlags are the solver settings shared by the commands that solve.
type solverFlags struct {
	solver    string
	tol       float64
	maxIter   int
	workers   int    // for the commands that register it (registerWorkers)
	precision string // for the commands that register it (registerPrecision)
}

func (f *solverFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.solver, "solver", "", "fixed-point solver: "+api.MethodList()+" (default: the model's own, else anderson, or peaceman-rachford for monotone models)")
	cmd.Flags().Float64Var(&f.tol, "tol", 0, "relative residual tolerance ‖f(z)−z‖/‖f(z)‖ (default: the model's own, else 1e-6)")
	cmd.Flags().IntVar(&f.maxIter, "max-iter", 0, "iteration limit per sample (default: the model's own, else 100, or 1000 in training)")
}

// registerWorkers adds --workers, for the commands that solve batches.
func (f *solverFlags) registerWorkers(cmd *cobra.Command) {
	cmd.Flags().IntVar(&f.workers, "workers", 0, "goroutines (with --runtime wasm, instances) a batch is spread over; the results are the same whatever the number (default: one a core, GOMAXPROCS)")
}

// registerPrecision adds --precision, for the commands that run a model.
func (f *solverFlags) registerPrecision(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.precision, "precision", "", "float32 or float64: what the matrix products compute in (default: the model file's, float32 for F32 tensors)")
}

// settings turns the flags into api.Settings; unset flags stay zero, so
// the model's defaults apply. The commands print no residual traces, so
// the solves keep none (api.Settings.NoTrace): a sample's memory does not
// grow with --max-iter.
func (f *solverFlags) settings() (api.Settings, error) {
	s := api.Settings{NoTrace: true}
	if f.solver != "" {
		m, err := api.MethodByName(f.solver)
		if err != nil {
			return s, err
		}
		s.Method = m
	}
	if f.tol < 0 {
		return s, fmt.Errorf("--tol %v: want a tolerance ≥ 0", f.tol)
	}
	if f.maxIter < 0 {
		return s, fmt.Errorf("--max-iter %d: want a limit ≥ 0", f.maxIter)
	}
	if f.workers < 0 {
		return s, fmt.Errorf("--workers %d: want ≥ 0 (0: one a core)", f.workers)
	}
	p, err := api.ParsePrecision(f.precision)
	if err != nil {
		return s, fmt.Errorf("--precision %q: want float32 or float64", f.precision)
	}
	s.RelTol, s.MaxIter, s.Workers, s.Precision = f.tol, f.maxIter, f.workers, p
	return s, nil
}

func newInferCmd() *cobra.Command {
	var (
		modelPath, inputPath, outputPath, statsFormat, runtimeName string
		sf                                                         solverFlags
	)
	cmd := &cobra.Command{
		Use:   "infer --model M.safetensors --input in.csv [--output out.csv]",
		Short: "Run a model on a CSV of inputs, one sample a line",
		Long: `Infer reads one input sample a line (comma-separated numbers, no header),
solves each sample's fixed point and writes one output row a sample, to
--output or standard output. Statistics of the solve go to standard error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelPath == "" || inputPath == "" {
				return errors.New("--model and --input are required")
			}
			if statsFormat != "text" && statsFormat != "json" {
				return fmt.Errorf("--stats %q: want text or json", statsFormat)
			}
			if err := checkOutputs(outputPath); err != nil {
				return err
			}
			settings, err := sf.settings()
			if err != nil {
				return err
			}
			m, closeModel, err := openModel(cmd.Context(), modelPath, runtimeName)
			if err != nil {
				return err
			}
			defer closeModel()
			info := m.Info()
			x, n, err := readInputs(inputPath, info.In)
			if err != nil {
				return err
			}
			start := time.Now()
			out, err := m.Infer(cmd.Context(), x, settings)
			elapsed := time.Since(start)
			if out != nil {
				if werr := writeStats(cmd.ErrOrStderr(), statsFormat, solverName(settings, info), precisionName(settings, info), out.Result, n, elapsed); werr != nil {
					return werr
				}
			}
			if err != nil {
				return fmt.Errorf("no output written: %w", err)
			}
			csv := csvdata.Format(out.Y, info.Out)
			if outputPath == "" {
				_, err = cmd.OutOrStdout().Write(csv)
				return err
			}
			return atomicfile.WriteFile(outputPath, csv, 0o644)
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "model file (safetensors, of any kind: "+strings.Join(model.Kinds(), ", ")+")")
	cmd.Flags().StringVar(&inputPath, "input", "", "input CSV, one sample a line; - for standard input")
	cmd.Flags().StringVar(&outputPath, "output", "", "output CSV (default: standard output); written atomically")
	cmd.Flags().StringVar(&statsFormat, "stats", "text", "statistics on standard error: text or json")
	registerRuntime(cmd, &runtimeName, "native")
	sf.register(cmd)
	sf.registerWorkers(cmd)
	sf.registerPrecision(cmd)
	return cmd
}

// readInputs reads the input CSV, p values a line.
func readInputs(path string, p int) ([]float64, int, error) {
	var r io.Reader = os.Stdin
	name := "standard input"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, 0, err
		}
		defer f.Close()
		r, name = f, path
	}
	x, n, err := csvdata.Read(r, name, p)
	if err != nil {
		return nil, 0, fmt.Errorf("%w (the model takes %d inputs a sample)", err, p)
	}
	return x, n, nil
}

// solveStats is the --stats json form of a solve's statistics.
type solveStats struct {
	Solver      string         `json:"solver"`
	Precision   string         `json:"precision"`
	Samples     int            `json:"samples"`
	Status      api.Status     `json:"status"`
	Counts      map[string]int `json:"status_counts"`
	MeanIter    float64        `json:"mean_iterations"`
	Iterations  int            `json:"iterations"`
	FuncEvals   int            `json:"func_evals"`
	Residual    jsonFloat      `json:"residual"`
	RelResidual jsonFloat      `json:"rel_residual"`
	Seconds     float64        `json:"seconds"`
	PerSample   []sampleStats  `json:"per_sample"`
}

type sampleStats struct {
	Status      api.Status `json:"status"`
	Iterations  int        `json:"iterations"`
	Residual    jsonFloat  `json:"residual"`
	RelResidual jsonFloat  `json:"rel_residual"`
}

// jsonFloat is a residual in the JSON statistics: a failed sample's may be
// NaN or ±Inf, which JSON cannot hold, so those are written as null.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

// solverName names the method a solve with settings s runs on a model: the
// settings' own, else the model's default, as the engine reports it.
func solverName(s api.Settings, info api.Info) string {
	if s.Method != nil {
		return s.Method.String()
	}
	return info.Method
}

// precisionName is the precision a solve with s computes in: the
// settings' own, else the model's.
func precisionName(s api.Settings, info api.Info) string {
	if s.Precision != api.PrecisionModel {
		return string(s.Precision)
	}
	return string(info.Precision)
}

func newSolveStats(solver, precision string, r *api.Result, n int, elapsed time.Duration) solveStats {
	st := solveStats{Solver: solver, Precision: precision, Samples: n, Status: r.Status, Counts: map[string]int{}, Seconds: elapsed.Seconds(),
		Iterations: r.Iterations, FuncEvals: r.FuncEvals, Residual: jsonFloat(r.Residual), RelResidual: jsonFloat(r.RelResidual)}
	for _, smp := range r.Samples {
		st.Counts[smp.Status.String()]++
		st.MeanIter += float64(smp.Iterations) / float64(max(n, 1))
		st.PerSample = append(st.PerSample, sampleStats{smp.Status, smp.Iterations, jsonFloat(smp.Residual), jsonFloat(smp.RelResidual)})
	}
	return st
}

func writeStats(w io.Writer, format, solver, precision string, r *api.Result, n int, elapsed time.Duration) error {
	st := newSolveStats(solver, precision, r, n, elapsed)
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	var counts []string
	for _, s := range []api.Status{api.Converged, api.IterationLimit, api.Diverged, api.NonFinite, api.Canceled} {
		if c := st.Counts[s.String()]; c > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", c, s))
		}
	}
	_, err := fmt.Fprintf(w, "%d samples, %s, %s: %s; iterations mean %.1f, max %d; residual max %.3g (relative %.3g); %.3g s\n",
		n, st.Solver, st.Precision, strings.Join(counts, ", "), st.MeanIter, r.Iterations, r.Residual, r.RelResidual, st.Seconds)
	return err
}
