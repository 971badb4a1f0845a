package main

import (
	"embed"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/internal/greyimage"
)

// The photographs (CC0 or public domain; see testdata/README.md).
//
//go:embed testdata/camera.png testdata/astronaut-grey-256.png testdata/chelsea-grey.png
var photos embed.FS

// Which photographs train the models and which one is held out by default.
var (
	trainingPhotos = []string{"camera.png", "astronaut-grey-256.png"}
	heldOutPhoto   = "chelsea-grey.png"
)

// maxSide is the largest side of a test photograph: larger ones are
// cropped about their centre.
const maxSide = 512

// maxInputPixels bounds a photograph read before cropping: 8192×8192.
const maxInputPixels = 8192 * 8192

// grey is a greyscale image with intensities in [0, 1], row-major.
type grey struct {
	w, h int
	pix  []float64
}

func newGrey(w, h int) *grey { return &grey{w: w, h: h, pix: make([]float64, w*h)} }

// decodeGrey decodes a PNG (any colour model, converted to grey by
// greyimage) and crops it about its centre to at most maxSide a side.
func decodeGrey(name string, b []byte) (*grey, error) {
	pix, fw, fh, err := greyimage.Decode(b, maxInputPixels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if fw < 8 || fh < 8 {
		return nil, fmt.Errorf("%s: %d×%d pixels (want at least 8×8)", name, fw, fh)
	}
	full := &grey{w: fw, h: fh, pix: pix}
	w, h := min(fw, maxSide), min(fh, maxSide)
	return full.crop((fw-w)/2, (fh-h)/2, w, h), nil
}

// loadPhoto decodes an embedded photograph.
func loadPhoto(name string) (*grey, error) {
	b, err := photos.ReadFile("testdata/" + name)
	if err != nil {
		return nil, err
	}
	return decodeGrey(name, b)
}

// loadFile decodes a user's PNG.
func loadFile(path string) (*grey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeGrey(filepath.Base(path), b)
}

// crop returns the w×h window of g at (x0, y0).
func (g *grey) crop(x0, y0, w, h int) *grey {
	c := newGrey(w, h)
	for y := range h {
		copy(c.pix[y*w:(y+1)*w], g.pix[(y0+y)*g.w+x0:(y0+y)*g.w+x0+w])
	}
	return c
}

// toImage rounds the intensities, clipped to [0, 1], to 8 bits.
func (g *grey) toImage() *image.Gray { return greyimage.Image(g.pix, g.w, g.h) }

// psnr is the peak signal-to-noise ratio in dB of est against clean, peak 1,
// with est clipped to [0, 1].
func psnr(est, clean []float64) float64 { return greyimage.PSNR(est, clean) }

// gaussianKernel is the normalised 2-D Gaussian of standard deviation sigma
// pixels, truncated at 3σ: (2r+1)×(2r+1) taps, r = ⌈3σ⌉.
func gaussianKernel(sigma float64) model.Matrix {
	r := int(math.Ceil(3 * sigma))
	n := 2*r + 1
	k := model.NewMatrix(n, n)
	var sum float64
	for i := range n {
		for j := range n {
			di, dj := float64(i-r), float64(j-r)
			k.Data[i*n+j] = math.Exp(-(di*di + dj*dj) / (2 * sigma * sigma))
			sum += k.Data[i*n+j]
		}
	}
	for i := range k.Data {
		k.Data[i] /= sum
	}
	return k
}

// motionKernel is a horizontal motion blur over length pixels (odd): a
// 1×length box, symmetric under each flip as hqs with symmetric boundaries
// needs.
func motionKernel(length int) model.Matrix {
	k := model.NewMatrix(1, length)
	for i := range k.Data {
		k.Data[i] = 1 / float64(length)
	}
	return k
}

// pair is a clean image and its observation.
type pair struct {
	name       string
	clean, obs *grey
}

// degrade returns A clean + noise·ε, A the operator's blur for the image's
// size (op is a pnp model, of any size), ε white Gaussian noise drawn from
// rng. The result is not clipped.
func degrade(op *model.PnP, clean *grey, noise float64, rng *rand.Rand) (*grey, error) {
	r, err := model.Resize(op, clean.h, clean.w)
	if err != nil {
		return nil, err
	}
	b, err := r.(*model.PnP).Blur(clean.pix)
	if err != nil {
		return nil, err
	}
	for i := range b {
		b[i] += noise * rng.NormFloat64()
	}
	return &grey{w: clean.w, h: clean.h, pix: b}, nil
}
