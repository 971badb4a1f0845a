package main

import (
	"bytes"
	"context"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/scale"
)

func randomGrey(w, h int, rng *rand.Rand) *grey {
	g := newGrey(w, h)
	for i := range g.pix {
		g.pix[i] = rng.Float64()
	}
	return g
}

// The blur of a single bright pixel away from the edges is the outer product
// of the 1-D kernel with itself, and the kernel is a normalised, symmetric
// Gaussian whose variance is σ² up to the truncation at 3σ.
func TestBlurImpulse(t *testing.T) {
	const sigma = 1.0
	k := gaussian(sigma)
	var sum, variance float64
	r := len(k) / 2
	for i, v := range k {
		sum += v
		variance += v * float64((i-r)*(i-r))
		if math.Abs(v-k[len(k)-1-i]) > 1e-15 {
			t.Errorf("kernel not symmetric: k[%d] = %v, k[%d] = %v", i, v, len(k)-1-i, k[len(k)-1-i])
		}
	}
	if math.Abs(sum-1) > 1e-12 || math.Abs(variance-sigma*sigma) > 0.03 {
		t.Errorf("kernel sums to %v with variance %v; want 1 and about %v", sum, variance, sigma*sigma)
	}
	g := newGrey(15, 13)
	g.pix[6*15+7] = 1
	b := blur(g, k)
	for y := range g.h {
		for x := range g.w {
			want := 0.0
			if dx, dy := x-7+r, y-6+r; dx >= 0 && dx < len(k) && dy >= 0 && dy < len(k) {
				want = k[dx] * k[dy]
			}
			if math.Abs(b.at(x, y)-want) > 1e-15 {
				t.Fatalf("blurred impulse at (%d, %d) = %v, want %v", x, y, b.at(x, y), want)
			}
		}
	}
}

// With symmetric boundaries the blur keeps a constant image constant, and its
// adjoint is the adjoint: ⟨K x, y⟩ = ⟨x, Kᵀ y⟩, here on an image smaller than
// the kernel so that reflections wrap more than once.
func TestBlurBoundaryAndAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	k := gaussian(1.5)
	c := newGrey(9, 4)
	for i := range c.pix {
		c.pix[i] = 0.25
	}
	for i, v := range blur(c, k).pix {
		if math.Abs(v-0.25) > 1e-14 {
			t.Fatalf("blurred constant image has %v at %d", v, i)
		}
	}
	x, y := randomGrey(9, 4, rng), randomGrey(9, 4, rng)
	lhs, rhs := dot(blur(x, k).pix, y.pix), dot(x.pix, blurAdjoint(y, k).pix)
	if math.Abs(lhs-rhs) > 1e-12*math.Abs(lhs) {
		t.Errorf("⟨Kx, y⟩ = %v but ⟨x, Kᵀy⟩ = %v", lhs, rhs)
	}
}

// The noise has the standard deviation asked for, and PSNR is 20 dB for an
// error of 0.1 everywhere.
func TestDegradeAndPSNR(t *testing.T) {
	clean := newGrey(200, 100)
	for i := range clean.pix {
		clean.pix[i] = 0.5
	}
	deg := degrade(clean, 1, 0.05, rand.New(rand.NewPCG(3, 4)))
	var mean, sq float64
	for _, v := range deg.pix {
		mean += (v - 0.5) / float64(len(deg.pix))
		sq += (v - 0.5) * (v - 0.5) / float64(len(deg.pix))
	}
	if std := math.Sqrt(sq - mean*mean); math.Abs(mean) > 0.001 || math.Abs(std-0.05) > 0.001 {
		t.Errorf("noise mean %v, standard deviation %v; want 0 and 0.05", mean, std)
	}
	off := newGrey(200, 100)
	for i := range off.pix {
		off.pix[i] = 0.6
	}
	if got := psnr(off, clean); math.Abs(got-20) > 1e-9 {
		t.Errorf("PSNR of a 0.1 error = %v dB, want 20", got)
	}
}

// Tiling with the true residuals as the predictions gives back the clean
// image exactly: the squares cover every pixel, whatever the size.
func TestTilingCoversImage(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tl := range []tiling{{8, 4, 2}, {8, 4, 3}, {6, 6, 4}, {7, 3, 1}} {
		clean := randomGrey(23, 17, rng)
		deg := degrade(clean, 1, 0.05, rng)
		s := scales{x: 2, y: 3}
		_, at := tl.tiles(deg, s)
		y := make([]float64, len(at)*tl.q())
		for k, a := range at {
			tl.residual(y[k*tl.q():(k+1)*tl.q()], deg, clean, a[0], a[1], s)
		}
		got := tl.assemble(deg, y, at, s)
		for i, v := range got.pix {
			if math.Abs(v-clean.pix[i]) > 1e-12 {
				t.Fatalf("tiling %+v: pixel %d is %v, want %v", tl, i, v, clean.pix[i])
			}
		}
	}
}

// Tikhonov deconvolution of a blurred, noisy photograph is closer to it
// than the degraded image.
func TestTikhonovImproves(t *testing.T) {
	clean, err := loadPhoto("camera.png")
	if err != nil {
		t.Fatal(err)
	}
	clean = crop(clean, 200, 200, 96, 96)
	deg := degrade(clean, 1, 0.05, rand.New(rand.NewPCG(7, 8)))
	before, after := psnr(deg, clean), psnr(tikhonov(deg, 1, 0.1, 100), clean)
	if after < before+1 {
		t.Errorf("Tikhonov: %.2f dB from %.2f dB, want at least 1 dB better", after, before)
	}
}

func crop(g *grey, x0, y0, w, h int) *grey {
	c := newGrey(w, h)
	for y := range h {
		copy(c.pix[y*w:(y+1)*w], g.pix[(y0+y)*g.w+x0:])
	}
	return c
}

func TestFlags(t *testing.T) {
	t.Chdir(t.TempDir()) // the default outputs go to out/ here, not into the package
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	// The default outputs go to out/, made now, not into the working
	// directory itself (the repository's root, run from a clone).
	if c.imagePath != filepath.Join("out", "imaging.png") || c.plotPath != filepath.Join("out", "imaging-scale.png") {
		t.Errorf("default outputs %s, %s", c.imagePath, c.plotPath)
	}
	if st, err := os.Stat("out"); err != nil || !st.IsDir() {
		t.Errorf("out/ not made: %v", err)
	}
	for _, args := range [][]string{
		{"-patch", "8", "-output", "5"}, {"-output", "0"}, {"-stride", "5"}, {"-hidden", "0"},
		{"-epochs", "-1"}, {"-noise", "-0.1"}, {"-blur", "0"}, {"-lr", "NaN"}, {"-method", "newton"},
		{"-image", ""}, {"-plot", "/nonexistent/dir/p.png"}, {"-seed", "x"}, {"extra"}, {"-patch", "1000"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// A small end-to-end run on crops of the photographs: more iterations give a
// better reconstruction, and the implicit model beats the degraded input.
func TestEndToEnd(t *testing.T) {
	t.Chdir(t.TempDir()) // the default outputs go to out/ here, not into the package
	cfg, err := parseFlags([]string{"-hidden", "24", "-train", "3000", "-epochs", "5", "-stride", "4",
		"-scale-squares", "50", "-max-budget", "16", "-tikhonov-iters", "5"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.imagePath, cfg.plotPath = filepath.Join(dir, "image.png"), filepath.Join(dir, "plot.png")
	train, held, err := loadPairs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range train {
		train[i] = pair{clean: crop(p.clean, 32, 32, 128, 128), deg: crop(p.deg, 32, 32, 128, 128)}
	}
	held = pair{clean: crop(held.clean, 150, 80, 80, 80), deg: crop(held.deg, 150, 80, 80, 80)}
	var out bytes.Buffer
	res, err := run(context.Background(), cfg, train, held, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	first, last := res.implicit[0], res.implicit[len(res.implicit)-1]
	if last < first+0.5 || last < res.degraded+1 {
		t.Errorf("PSNR %.2f dB at t = 1, %.2f dB at t = %d, degraded %.2f dB: want the largest budget 0.5 dB above t = 1 and 1 dB above the degraded input",
			first, last, res.budgets[len(res.budgets)-1], res.degraded)
	}
	if s := res.scale; s[len(s)-1].Loss > 0.9*s[0].Loss {
		t.Errorf("held-out loss %.4f at t = 1, %.4f at t = %d: want at least 10%% lower", s[0].Loss, s[len(s)-1].Loss, s[len(s)-1].Budget)
	}
	for _, p := range []string{cfg.imagePath, cfg.plotPath} {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s: not a PNG (%v)", p, err)
		}
	}
	if !strings.Contains(out.String(), "Lipschitz L_t") {
		t.Error("report has no test-time compute table")
	}
}

// A barely trained model's Peaceman-Rachford solve has a window whose
// residual rises over 10,000-fold from a tiny early value before it
// converges; that is no divergence (it was reported as one).
func TestTinyModelConverges(t *testing.T) {
	t.Chdir(t.TempDir()) // the default outputs go to out/ here, not into the package
	cfg, err := parseFlags([]string{"-hidden", "4", "-train", "200", "-epochs", "1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	train, held, err := loadPairs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sc := cfg.fitScales(train, cfg.trainSquares, rand.New(rand.NewPCG(cfg.seed, streamScales)))
	implicit, mlp, err := trainModels(ctx, cfg, train, sc, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// The window is square 29,899 of the held-out photograph, at (398, 264).
	held = pair{clean: crop(held.clean, 370, 240, 60, 50), deg: crop(held.deg, 370, 240, 60, 50)}
	res := &results{scale: []scale.Point{{Budget: 1}}}
	if _, err := res.reconstruct(ctx, cfg, held, sc, implicit, mlp, nil); err != nil {
		t.Fatal(err)
	}
	if res.convergedStatus != api.Converged {
		t.Errorf("the fixed-point solve ended %v", res.convergedStatus)
	}
}
