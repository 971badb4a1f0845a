package main

import (
	"bytes"
	"embed"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
)

// The photographs (CC0 or public domain; see testdata/README.md).
//
//go:embed testdata/camera.png testdata/astronaut-grey-256.png testdata/chelsea-grey.png
var photos embed.FS

// Which photographs train the models and which one is held out entirely.
var (
	trainingPhotos = []string{"camera.png", "astronaut-grey-256.png"}
	heldOutPhoto   = "chelsea-grey.png"
)

// loadPairs decodes the photographs and degrades each with its own noise.
func loadPairs(cfg config) (train []pair, held pair, err error) {
	for i, name := range append(append([]string(nil), trainingPhotos...), heldOutPhoto) {
		clean, err := loadPhoto(name)
		if err != nil {
			return nil, pair{}, err
		}
		p := pair{clean: clean, deg: degrade(clean, cfg.blurSigma, cfg.noise, rand.New(rand.NewPCG(cfg.seed, uint64(i))))}
		if name == heldOutPhoto {
			held = p
		} else {
			train = append(train, p)
		}
	}
	return train, held, nil
}

// grey is a greyscale image with intensities in [0, 1], row-major.
type grey struct {
	w, h int
	pix  []float64
}

func newGrey(w, h int) *grey { return &grey{w: w, h: h, pix: make([]float64, w*h)} }

func (g *grey) at(x, y int) float64 { return g.pix[y*g.w+x] }

// loadPhoto decodes an embedded PNG to intensities in [0, 1].
func loadPhoto(name string) (*grey, error) {
	b, err := photos.ReadFile("testdata/" + name)
	if err != nil {
		return nil, err
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r := img.Bounds()
	g := newGrey(r.Dx(), r.Dy())
	for y := range g.h {
		for x := range g.w {
			c := color.GrayModel.Convert(img.At(r.Min.X+x, r.Min.Y+y)).(color.Gray)
			g.pix[y*g.w+x] = float64(c.Y) / 255
		}
	}
	return g, nil
}

// toImage rounds the intensities, clipped to [0, 1], to 8 bits.
func (g *grey) toImage() *image.Gray {
	img := image.NewGray(image.Rect(0, 0, g.w, g.h))
	for i, v := range g.pix {
		img.Pix[i] = uint8(math.Round(255 * clip01(v)))
	}
	return img
}

func clip01(v float64) float64 { return math.Min(1, math.Max(0, v)) }

// reflect maps an index outside [0, n) back into it by half-sample
// symmetric reflection (… c b a | a b c …), the usual image boundary rule.
func reflect(i, n int) int {
	for i < 0 || i >= n {
		if i < 0 {
			i = -1 - i
		} else {
			i = 2*n - 1 - i
		}
	}
	return i
}

// gaussian returns the normalised 1-D Gaussian kernel of standard deviation
// sigma pixels, truncated at 3σ: taps −r … r.
func gaussian(sigma float64) []float64 {
	r := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*r+1)
	var sum float64
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	return k
}

// blur is the forward operator: separable convolution with the kernel k,
// rows then columns, with symmetric boundaries.
func blur(g *grey, k []float64) *grey {
	return convolve(convolve(g, k, true, false), k, false, false)
}

// blurAdjoint applies the transpose of blur (the boundary rule makes blur
// not quite symmetric, so the adjoint scatters where blur gathers).
func blurAdjoint(g *grey, k []float64) *grey {
	return convolve(convolve(g, k, false, true), k, true, true)
}

// convolve correlates each row (rows) or column with k, taps −r … r, gathering
// out[i] = Σ k[j] in[reflect(i+j−r)], or, for the adjoint, scattering
// out[reflect(i+j−r)] += k[j] in[i].
func convolve(g *grey, k []float64, rows, adjoint bool) *grey {
	out := newGrey(g.w, g.h)
	n, lines, step, stride := g.w, g.h, 1, g.w // along a row
	if !rows {
		n, lines, step, stride = g.h, g.w, g.w, 1
	}
	// src[i*len(k)+j] is the pixel tap j of pixel i reads, along a line.
	src := make([]int, n*len(k))
	for i := range n {
		for j := range k {
			src[i*len(k)+j] = reflect(i+j-len(k)/2, n) * step
		}
	}
	for l := range lines {
		in, o := g.pix[l*stride:], out.pix[l*stride:]
		for i := range n {
			taps := src[i*len(k) : (i+1)*len(k)]
			if adjoint {
				v := in[i*step]
				for j, kj := range k {
					o[taps[j]] += kj * v
				}
				continue
			}
			var sum float64
			for j, kj := range k {
				sum += kj * in[taps[j]]
			}
			o[i*step] = sum
		}
	}
	return out
}

// degrade blurs the clean image with a Gaussian of standard deviation
// blurSigma pixels and adds white Gaussian noise of standard deviation
// noise, drawn from rng. The result is not clipped.
func degrade(clean *grey, blurSigma, noise float64, rng *rand.Rand) *grey {
	out := blur(clean, gaussian(blurSigma))
	for i := range out.pix {
		out.pix[i] += noise * rng.NormFloat64()
	}
	return out
}

// psnr is the peak signal-to-noise ratio in dB of est against clean, peak 1,
// with est clipped to [0, 1].
func psnr(est, clean *grey) float64 {
	var se float64
	for i, v := range clean.pix {
		d := clip01(est.pix[i]) - v
		se += d * d
	}
	return 10 * math.Log10(float64(len(clean.pix))/se)
}
