package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/implicitlab/implicit/core"
	"github.com/implicitlab/implicit/internal/atomicfile"
)

// scaleFlags are the options of implicit scale (and of the quick start).
type scaleFlags struct {
	maxBudget, perturbations int
	budgets, plotPath        string
	radius                   float64
	seed                     uint64
	json                     bool
}

func (f *scaleFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntVar(&f.maxBudget, "max-budget", 64, "largest iteration budget T (budgets 1, 2, 4, …, T)")
	fl.StringVar(&f.budgets, "budgets", "", "comma-separated budgets, instead of powers of two")
	fl.IntVar(&f.perturbations, "perturbations", 8, "random input perturbations a sample, for L_t")
	fl.Float64Var(&f.radius, "radius", 0, "perturbation norm ‖δ‖ (default: 1e-3 times the mean input norm)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the perturbations")
	fl.BoolVar(&f.json, "json", false, "print the table as JSON")
}

func (f *scaleFlags) settings(method core.Method) (core.ScaleSettings, error) {
	s := core.ScaleSettings{MaxBudget: f.maxBudget, Perturbations: f.perturbations, Radius: f.radius, Seed: f.seed, Method: method}
	if f.budgets != "" {
		for _, b := range strings.Split(f.budgets, ",") {
			t, err := strconv.Atoi(strings.TrimSpace(b))
			if err != nil || t < 1 {
				return s, fmt.Errorf("--budgets %q: %q is not a whole number ≥ 1", f.budgets, b)
			}
			s.Budgets = append(s.Budgets, t)
		}
	}
	return s, nil
}

func newScaleCmd() *cobra.Command {
	var (
		modelPath, data, solver, runtime string
		f                                scaleFlags
	)
	cmd := &cobra.Command{
		Use:   "scale --model M.safetensors --data digits [--plot scale.png]",
		Short: "Quality and sensitivity against test-time compute (iterations)",
		Long: `Scale runs the model with exactly t iterations from z⁰ = 0, for t = 1, 2, 4, …,
T, on the hold-out data and on randomly perturbed copies of it, and reports at
each t the accuracy, the loss, the relative residual of the last iterate
evaluated (for plain iteration, the last step ‖z_t − z_{t−1}‖/‖z_t‖) and
the empirical Lipschitz number of the t-step map,
L_t = max over samples and perturbations δ of ‖y_t(x+δ) − y_t(x)‖ / ‖δ‖.
Implicit models are predicted to improve and settle in quality while L_t grows
(Liu, Ding, Osher, Yin, arXiv:2510.03638). --plot writes both curves as a PNG.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelPath == "" {
				return errors.New("--model is required")
			}
			var (
				method core.Method
				err    error
			)
			if solver != "" {
				if method, err = core.MethodByName(solver); err != nil {
					return err
				}
			}
			s, err := f.settings(method)
			if err != nil {
				return err
			}
			set, d, m, release, err := openClassifier(cmd.Context(), modelPath, runtime, data)
			if err != nil {
				return err
			}
			defer release()
			pts, err := core.ScaleAnalysis(cmd.Context(), m, set.HoldOut.X, set.HoldOut.Labels, core.CrossEntropy{}, s)
			if err != nil {
				return err
			}
			if err := writeScale(cmd.OutOrStdout(), pts, f.json); err != nil {
				return err
			}
			if f.plotPath != "" {
				title := fmt.Sprintf("%s on %s hold-out", describe(d), set.Name)
				if err := plotScale(f.plotPath, title, pts); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "plot written to %s\n", f.plotPath)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "model file")
	cmd.Flags().StringVar(&data, "data", "digits", "data set: digits (built in) or a CSV whose last column is the class label")
	cmd.Flags().StringVar(&solver, "solver", "", "iteration to budget (default: the model's own solver)")
	cmd.Flags().StringVar(&f.plotPath, "plot", "", "write a PNG of quality and L_t against t")
	registerRuntime(cmd, &runtime, "native")
	f.register(cmd)
	return cmd
}

// writeScale prints the analysis as a table, or as JSON.
func writeScale(w io.Writer, pts []core.ScalePoint, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(pts)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "iterations t\taccuracy\tloss\tmean residual\tmax residual\tLipschitz L_t\t")
	for _, p := range pts {
		fmt.Fprintf(tw, "%d\t%.4f\t%.4f\t%.2e\t%.2e\t%.3f\t\n", p.Budget, p.Accuracy, p.Loss, p.MeanResidual, p.MaxResidual, p.Lipschitz)
	}
	return tw.Flush()
}

// plotScale draws accuracy (with loss) and L_t against t, one panel above
// the other, and writes the PNG atomically.
func plotScale(path, title string, pts []core.ScalePoint) error {
	acc, loss, lip := make(plotter.XYs, len(pts)), make(plotter.XYs, len(pts)), make(plotter.XYs, len(pts))
	for i, p := range pts {
		acc[i] = plotter.XY{X: float64(p.Budget), Y: p.Accuracy}
		loss[i] = plotter.XY{X: float64(p.Budget), Y: p.Loss}
		lip[i] = plotter.XY{X: float64(p.Budget), Y: p.Lipschitz}
	}
	top := plot.New()
	top.Title.Text = title
	top.Y.Label.Text = "hold-out quality"
	bottom := plot.New()
	bottom.X.Label.Text = "iterations t (test-time compute)"
	bottom.Y.Label.Text = "Lipschitz number L_t"
	var ticks []plot.Tick
	for _, p := range pts {
		ticks = append(ticks, plot.Tick{Value: float64(p.Budget), Label: strconv.Itoa(p.Budget)})
	}
	for _, p := range []*plot.Plot{top, bottom} {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		p.Add(plotter.NewGrid())
	}
	// Legends where the curves are not: mid-right above, bottom-right below.
	top.Legend.YOffs = 2 * vg.Centimeter
	if math.IsNaN(pts[0].Accuracy) {
		acc = nil
	}
	for _, c := range []struct {
		p     *plot.Plot
		name  string
		xy    plotter.XYs
		color int
	}{{top, "accuracy", acc, 0}, {top, "loss", loss, 1}, {bottom, "L_t", lip, 2}} {
		if c.xy == nil {
			continue
		}
		line, points, err := plotter.NewLinePoints(c.xy)
		if err != nil {
			return err
		}
		line.Color = plotColors[c.color]
		points.Color = plotColors[c.color]
		c.p.Add(line, points)
		c.p.Legend.Add(c.name, line, points)
	}
	const w, h = 16 * vg.Centimeter, 16 * vg.Centimeter
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Centimeter / 2, PadTop: vg.Centimeter / 4, PadBottom: vg.Centimeter / 4, PadLeft: vg.Centimeter / 4, PadRight: vg.Centimeter / 2}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf.Bytes(), 0o644)
}

// plotColors are the curves' colours (Okabe-Ito, readable by most forms of
// colour blindness).
var plotColors = []color.Color{
	color.RGBA{R: 0, G: 114, B: 178, A: 255},
	color.RGBA{R: 213, G: 94, B: 0, A: 255},
	color.RGBA{R: 0, G: 158, B: 115, A: 255},
}
