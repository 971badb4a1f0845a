package main

import (
	"bytes"
	"errors"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/implicitlab/implicit/internal/atomicfile"
)

// field is an n×n row-major grid on the unit torus, as a plotter.GridXYZ:
// cell (c, r) is the point x = c/n, y = r/n.
type field struct {
	n int
	w []float64
}

func (f field) Dims() (c, r int)   { return f.n, f.n }
func (f field) Z(c, r int) float64 { return f.w[r*f.n+c] }
func (f field) X(c int) float64    { return float64(c) / float64(f.n) }
func (f field) Y(r int) float64    { return float64(r) / float64(f.n) }

// Panel is one titled field of a heat-map figure.
type Panel struct {
	Title string
	W     []float64
}

// WriteFields draws the n×n fields side by side on one diverging colour
// scale, symmetric about zero, writes the PNG atomically and returns the
// scale's end, the largest |w|.
func WriteFields(path string, n int, panels []Panel) (float64, error) {
	if len(panels) == 0 {
		return 0, errors.New("no fields to plot")
	}
	var top float64
	for _, p := range panels {
		if len(p.W) != n*n {
			return 0, errors.New("a field is not n×n")
		}
		for _, v := range p.W {
			top = math.Max(top, math.Abs(v))
		}
	}
	if top == 0 {
		top = 1
	}
	pal := moreland.SmoothBlueRed()
	pal.SetMin(-top)
	pal.SetMax(top)
	row := make([]*plot.Plot, len(panels))
	for i, p := range panels {
		pl := plot.New()
		pl.Title.Text = p.Title
		pl.X.Label.Text = "x"
		pl.Y.Label.Text = "y"
		h := plotter.NewHeatMap(field{n, p.W}, pal.Palette(255))
		h.Min, h.Max = -top, top
		pl.Add(h)
		row[i] = pl
	}
	const side = 7 * vg.Centimeter
	img := vgimg.New(vg.Length(len(panels))*side, side+vg.Centimeter)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Centimeter / 2, PadTop: vg.Centimeter / 4, PadBottom: vg.Centimeter / 4, PadLeft: vg.Centimeter / 4, PadRight: vg.Centimeter / 4}
	canvases := plot.Align([][]*plot.Plot{row}, tiles, dc)
	for i, pl := range row {
		pl.Draw(canvases[0][i])
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return 0, err
	}
	return top, atomicfile.WriteFile(path, buf.Bytes(), 0o644)
}
