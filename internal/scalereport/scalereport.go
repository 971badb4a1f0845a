// Package scalereport presents a test-time compute analysis
// (core/scale.Analysis): the table the command line and the examples print,
// and the two-panel plot of quality and Lipschitz number against iterations.
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

// WritePNG draws accuracy (with loss) and L_t against t, one panel above
// the other, and writes the PNG atomically.
func WritePNG(path, title string, pts []scale.Point) error {
	if len(pts) == 0 {
		return errors.New("scalereport: nothing to plot")
	}
	acc, loss, lip := make(plotter.XYs, len(pts)), make(plotter.XYs, len(pts)), make(plotter.XYs, len(pts))
	for i, p := range pts {
		acc[i] = plotter.XY{X: float64(p.Budget), Y: p.Accuracy}
		loss[i] = plotter.XY{X: float64(p.Budget), Y: p.Loss}
		lip[i] = plotter.XY{X: float64(p.Budget), Y: p.Lipschitz}
	}
	top := plot.New()
	top.Title.Text = title
	top.Y.Label.Text = "hold-out accuracy and loss"
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
	// Legends at the right, away from where the curves end: mid-height
	// above when accuracy ends high and loss low, else at the other end.
	top.Legend.Top = endsLow(loss)
	bottom.Legend.Top = endsLow(lip)
	if math.IsNaN(pts[0].Accuracy) {
		acc = nil
		top.Y.Label.Text = "hold-out loss (lower is better)"
	} else {
		top.Legend.Top, top.Legend.YOffs = false, 2*vg.Centimeter
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
	if lo, hi := pts[0].Budget, pts[len(pts)-1].Budget; lo == hi {
		// One budget: a log axis needs a range around it, not ±1 (which
		// reaches 0 at t = 1).
		for _, p := range []*plot.Plot{top, bottom} {
			p.X.Min, p.X.Max = float64(lo)/2, float64(hi)*2
		}
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

// endsLow reports whether a curve ends in the lower half of its range.
func endsLow(xy plotter.XYs) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range xy {
		lo, hi = math.Min(lo, p.Y), math.Max(hi, p.Y)
	}
	return xy[len(xy)-1].Y < (lo+hi)/2
}

// plotColors are the curves' colours (Okabe-Ito, readable by most forms of
// colour blindness).
var plotColors = []color.Color{
	color.RGBA{R: 0, G: 114, B: 178, A: 255},
	color.RGBA{R: 213, G: 94, B: 0, A: 255},
	color.RGBA{R: 0, G: 158, B: 115, A: 255},
}
