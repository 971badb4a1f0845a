// Package greyimage reads and writes the greyscale photographs that the
// imaging example and `implicit restore` work on: intensities in [0, 1],
// row by row.
package greyimage

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
)

// Decode reads a PNG of any colour model as grey intensities in [0, 1],
// row by row: colour is converted by Go's color.Gray16Model, the ITU-R
// BT.601 luma (which made the shipped greyscale photographs). An image of
// more than maxPixels pixels is refused before it is decoded.
func Decode(b []byte, maxPixels int) (pix []float64, w, h int, err error) {
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("not a PNG image: %w", err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > maxPixels/max(cfg.Height, 1) {
		return nil, 0, 0, fmt.Errorf("%d×%d pixels: want at most %d in all", cfg.Width, cfg.Height, maxPixels)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("not a PNG image: %w", err)
	}
	r := img.Bounds()
	w, h = r.Dx(), r.Dy()
	pix = make([]float64, w*h)
	for y := range h {
		for x := range w {
			pix[y*w+x] = float64(color.Gray16Model.Convert(img.At(r.Min.X+x, r.Min.Y+y)).(color.Gray16).Y) / 65535
		}
	}
	return pix, w, h, nil
}

// Image rounds the intensities, clipped to [0, 1], to an 8-bit grey image.
func Image(pix []float64, w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i, v := range pix[:w*h] {
		img.Pix[i] = uint8(math.Round(255 * Clip01(v)))
	}
	return img
}

// Encode is Image as PNG bytes.
func Encode(pix []float64, w, h int) ([]byte, error) {
	var b bytes.Buffer
	if err := png.Encode(&b, Image(pix, w, h)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Clip01 clips v to [0, 1]; NaN becomes 0.
func Clip01(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return math.Min(1, math.Max(0, v))
}

// PSNR is the peak signal-to-noise ratio in dB of est, clipped to [0, 1],
// against ref, peak 1.
func PSNR(est, ref []float64) float64 {
	var se float64
	for i, v := range ref {
		d := Clip01(est[i]) - v
		se += d * d
	}
	return 10 * math.Log10(float64(len(ref))/se)
}
