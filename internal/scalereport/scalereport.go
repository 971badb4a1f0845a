// Package scalereport presents a test-time compute analysis
// (core/scale.Analysis): the table the command line and the examples print,
// its summary in words, and the plot of quality and Lipschitz number
// against iterations.
package scalereport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/implicitlab/implicit/core/scale"
	"github.com/implicitlab/implicit/internal/atomicfile"
)

// WriteTable prints the analysis as a table, or as JSON. The accuracy column
// is left out when the loss is not a classifier's (accuracy NaN).
func WriteTable(w io.Writer, pts []scale.Point, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(pts)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	classifier := len(pts) > 0 && !math.IsNaN(pts[0].Accuracy)
	if classifier {
		fmt.Fprint(tw, "iterations t\taccuracy\t")
	} else {
		fmt.Fprint(tw, "iterations t\t")
	}
	fmt.Fprintln(tw, "loss\tmean residual\tmax residual\tLipschitz L_t\t")
	for _, p := range pts {
		fmt.Fprintf(tw, "%d\t", p.Budget)
		if classifier {
			fmt.Fprintf(tw, "%.4f\t%.4f\t", p.Accuracy, p.Loss)
		} else {
			// Regression losses span decades as the iterations proceed.
			fmt.Fprintf(tw, "%.3e\t", p.Loss)
		}
		fmt.Fprintf(tw, "%.2e\t%.2e\t%.3f\t\n", p.MeanResidual, p.MaxResidual, p.Lipschitz)
	}
	return tw.Flush()
}

// WritePNG draws accuracy (for a classifier), loss and L_t against t, each
// in a panel of its own with its own y axis (they differ in scale by
// orders, and the differences that matter are small), and writes the PNG
// atomically.
func WritePNG(path, title string, pts []scale.Point) error {
	panels, err := newPanels(title, pts)
	if err != nil {
		return err
	}
	const w = 16 * vg.Centimeter
	h := vg.Length(len(panels)) * 6 * vg.Centimeter
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: vg.Centimeter / 2, PadTop: vg.Centimeter / 4, PadBottom: vg.Centimeter / 4, PadLeft: vg.Centimeter / 4, PadRight: vg.Centimeter / 2}
	grid := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		grid[i] = []*plot.Plot{p}
	}
	canvases := plot.Align(grid, tiles, dc)
	for i, p := range panels {
		p.Draw(canvases[i][0])
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf.Bytes(), 0o644)
}

// newPanels returns the plot's panels, top to bottom: accuracy (unless
// the loss is not a classifier's), loss, L_t; t on a log axis labelled
// with the budgets. L_t is written L(t): gonum/plot's LaTeX text handler
// (go-latex's mtex) cannot typeset a subscript, and a literal underscore
// is not one.
func newPanels(title string, pts []scale.Point) ([]*plot.Plot, error) {
	if len(pts) == 0 {
		return nil, errors.New("scalereport: nothing to plot")
	}
	curve := func(get func(scale.Point) float64) plotter.XYs {
		xy := make(plotter.XYs, len(pts))
		for i, p := range pts {
			xy[i] = plotter.XY{X: float64(p.Budget), Y: get(p)}
		}
		return xy
	}
	type panel struct {
		label string
		xy    plotter.XYs
		color int
	}
	var specs []panel
	if !math.IsNaN(pts[0].Accuracy) {
		specs = append(specs, panel{"hold-out accuracy", curve(func(p scale.Point) float64 { return p.Accuracy }), 0})
	}
	specs = append(specs,
		panel{"hold-out loss", curve(func(p scale.Point) float64 { return p.Loss }), 1},
		panel{"Lipschitz number L(t)", curve(func(p scale.Point) float64 { return p.Lipschitz }), 2})
	var ticks []plot.Tick
	for _, p := range pts {
		ticks = append(ticks, plot.Tick{Value: float64(p.Budget), Label: strconv.Itoa(p.Budget)})
	}
	var panels []*plot.Plot
	for i, sp := range specs {
		p := plot.New()
		if i == 0 {
			p.Title.Text = title
		}
		if i == len(specs)-1 {
			p.X.Label.Text = "iterations t (test-time compute)"
		}
		p.Y.Label.Text = sp.label
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		if lo, hi := pts[0].Budget, pts[len(pts)-1].Budget; lo == hi {
			// One budget: a log axis needs a range around it, not ±1
			// (which reaches 0 at t = 1).
			p.X.Min, p.X.Max = float64(lo)/2, float64(hi)*2
		}
		p.Y.Tick.Marker = readableTicks{}
		p.Add(plotter.NewGrid())
		line, points, err := plotter.NewLinePoints(sp.xy)
		if err != nil {
			return nil, err
		}
		line.Color, points.Color = plotColors[sp.color], plotColors[sp.color]
		p.Add(line, points)
		panels = append(panels, p)
	}
	return panels, nil
}

// readableTicks labels four to eight evenly spaced values at a round step (1,
// 2 or 5 times a power of ten), with as many decimals as the step needs,
// so that a curve's small changes can be read off its axis (gonum's
// default aims at three ticks). A flat curve gets a range around its
// value.
type readableTicks struct{}

func (readableTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		d := math.Max(math.Abs(lo)*0.01, 1e-9)
		lo, hi = lo-d, hi+d
	}
	step := math.Pow(10, math.Floor(math.Log10((hi-lo)/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		if (hi-lo)/(m*step) <= 8 {
			step *= m
			break
		}
	}
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	var ticks []plot.Tick
	for v := math.Ceil(lo/step-1e-9) * step; v <= hi+step*1e-9; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
	}
	return ticks
}

// plotColors are the curves' colours (Okabe-Ito, readable by most forms of
// colour blindness).
var plotColors = []color.Color{
	color.RGBA{R: 0, G: 114, B: 178, A: 255},
	color.RGBA{R: 213, G: 94, B: 0, A: 255},
	color.RGBA{R: 0, G: 158, B: 115, A: 255},
}
