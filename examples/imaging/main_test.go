package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/core/model"
)

// The kernels are normalised, centred and symmetric under each flip.
func TestKernels(t *testing.T) {
	for _, k := range []model.Matrix{gaussianKernel(1.6), motionKernel(9)} {
		var sum float64
		for i, v := range k.Data {
			sum += v
			if r, c := i/k.Cols, i%k.Cols; math.Abs(v-k.Data[(k.Rows-1-r)*k.Cols+c]) > 1e-15 || math.Abs(v-k.Data[r*k.Cols+k.Cols-1-c]) > 1e-15 {
				t.Errorf("%d×%d kernel not symmetric at %d", k.Rows, k.Cols, i)
			}
		}
		if math.Abs(sum-1) > 1e-12 || k.Rows%2 == 0 || k.Cols%2 == 0 {
			t.Errorf("%d×%d kernel sums to %v", k.Rows, k.Cols, sum)
		}
	}
	if k := gaussianKernel(1.6); k.Rows != 11 {
		t.Errorf("σ = 1.6: %d taps, want 11 (3σ)", k.Rows)
	}
}

func encodePNG(t *testing.T, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A colour PNG is made grey by BT.601 luma, a large one cropped about its
// centre to 512×512, and what is not a PNG is an error naming the file.
func TestDecodeGrey(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 600, 20))
	for x := range 600 {
		for y := range 20 {
			img.Set(x, y, color.RGBA{R: uint8(x % 256), G: 100, B: 30, A: 255})
		}
	}
	g, err := decodeGrey("c.png", encodePNG(t, img))
	if err != nil {
		t.Fatal(err)
	}
	if g.w != 512 || g.h != 20 {
		t.Fatalf("%d×%d, want 512×20", g.w, g.h)
	}
	// Column 0 of the crop is column 44 of the image.
	want := float64(color.Gray16Model.Convert(color.RGBA{R: 44, G: 100, B: 30, A: 255}).(color.Gray16).Y) / 65535
	if math.Abs(g.pix[0]-want) > 1e-12 {
		t.Errorf("pixel %v, want %v", g.pix[0], want)
	}
	if _, err := decodeGrey("x.png", []byte("not a png")); err == nil || !strings.Contains(err.Error(), "x.png: not a PNG") {
		t.Errorf("bad PNG: %v", err)
	}
	if _, err := decodeGrey("s.png", encodePNG(t, image.NewGray(image.Rect(0, 0, 4, 40)))); err == nil || !strings.Contains(err.Error(), "4×40") {
		t.Errorf("tiny PNG: %v", err)
	}
}

// The classical baselines beat the observation on a crop of a photograph.
func TestBaselines(t *testing.T) {
	g, err := loadPhoto(heldOutPhoto)
	if err != nil {
		t.Fatal(err)
	}
	clean := g.crop(100, 60, 64, 48)
	template, err := model.NewPnP(model.PnPConfig{Splitting: model.SplittingPGD, Boundary: model.BoundarySymmetric, Height: 8, Width: 8,
		Kernel: gaussianKernel(1.6), Depth: 2, Channels: 1}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	obs, err := degrade(template, clean, 0.03, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	o, err := newOperator(template, clean.w, clean.h)
	if err != nil {
		t.Fatal(err)
	}
	deg := psnr(obs.pix, clean.pix)
	tik, tvv := psnr(tikhonov(o, obs.pix, 0.1, 100), clean.pix), psnr(tv(o, obs.pix, 0.006, 150), clean.pix)
	if !(tik > deg+0.5 && tvv > deg+0.5) {
		t.Errorf("observation %.2f dB, Tikhonov %.2f, TV %.2f", deg, tik, tvv)
	}
	// divT is the adjoint of forward differences.
	rng := rand.New(rand.NewPCG(3, 3))
	x, qx, qy := make([]float64, 12), make([]float64, 12), make([]float64, 12)
	for i := range x {
		x[i], qx[i], qy[i] = rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()
	}
	var lhs float64
	for r := range 3 {
		for c := range 4 {
			i := r*4 + c
			if c+1 < 4 {
				lhs += (x[i+1] - x[i]) * qx[i]
			}
			if r+1 < 3 {
				lhs += (x[i+4] - x[i]) * qy[i]
			}
		}
	}
	g2 := make([]float64, 12)
	divT(g2, qx, qy, 4, 3)
	if d := math.Abs(lhs - dot(x, g2)); d > 1e-12 {
		t.Errorf("⟨∇x, q⟩ − ⟨x, ∇ᵀq⟩ = %g", d)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-splitting", "admm"}, {"-blur", "box"}, {"-blur", "motion", "-motion", "4"}, {"-sigma", "0"}, {"-crop", "4"},
		{"-depth", "1"}, {"-noise", "-1"}, {"-lr", "0"}, {"-test", "/nonexistent.png"}, {"-test", "a.png,"},
		{"-json", "/nonexistent/dir/x.json"}, {"-crops", "0"}, {"stray"},
		{"-jacobian-penalty", "-1"}, {"-jacobian-penalty", "NaN"}, {"-jacobian-power-steps", "5"}, {"-jacobian-penalty", "1", "-jacobian-power-steps", "101"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	c, err := parseFlags([]string{"-long", "-epochs", "2"}, io.Discard)
	if err != nil || c.crops != 960 || c.epochs != 2 || c.crop != 48 {
		t.Errorf("-long -epochs 2: %+v, %v", c, err)
	}
}

// A small end-to-end run on a user's test image (a colour PNG crop of the
// held-out photograph): every method is reported, the JSON has the
// documented shape, the saved model loads, and the implicit model beats
// the observation.
func TestRunSmall(t *testing.T) {
	g, err := loadPhoto(heldOutPhoto)
	if err != nil {
		t.Fatal(err)
	}
	c := g.crop(150, 80, 72, 56)
	rgb := image.NewRGBA(image.Rect(0, 0, c.w, c.h))
	for i, v := range c.pix {
		u := uint8(math.Round(255 * v))
		rgb.Set(i%c.w, i/c.w, color.RGBA{R: u, G: u, B: u, A: 255})
	}
	dir := t.TempDir()
	testPNG := filepath.Join(dir, "cat.png")
	if err := os.WriteFile(testPNG, encodePNG(t, rgb), 0o644); err != nil {
		t.Fatal(err)
	}
	jsonPath, modelPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "m.safetensors")
	cfg, err := parseFlags([]string{"-crops", "32", "-crop", "24", "-epochs", "2", "-pretrain-epochs", "2", "-max-budget", "4", "-baseline-iters", "30",
		"-lipschitz-crops", "2", "-jacobian-penalty", "0.1", "-jacobian-power-steps", "2", "-test", testPNG, "-json", jsonPath, "-model", modelPath, "-image", filepath.Join(dir, "q.png")}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := run(context.Background(), cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	if !strings.Contains(out.String(), "Jacobian estimate") || !strings.Contains(res.Setup["gradient"], "Jacobian penalty 0.1") {
		t.Errorf("the Jacobian penalty is not reported: setup %q", res.Setup["gradient"])
	}
	r := res.Images[0]
	if r.Width != 72 || r.Height != 56 || len(r.Implicit.T) != 3 || len(res.Lipschitz) != 3 {
		t.Fatalf("results %+v", r)
	}
	// Trained for seconds, the implicit model is better than the observation
	// at some budget; the full run's numbers are in the README.
	best := math.Inf(-1)
	for _, v := range r.Implicit.T {
		best = math.Max(best, v)
	}
	if !(best > r.Degraded+0.5) || !(r.Tikhonov > r.Degraded) || !(r.TV > r.Degraded) || math.IsNaN(r.Implicit.FixedPoint) {
		t.Errorf("observation %.2f dB, implicit at best %.2f, at its fixed point %.2f, Tikhonov %.2f, TV %.2f", r.Degraded, best, r.Implicit.FixedPoint, r.Tikhonov, r.TV)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Images []map[string]json.RawMessage `json:"images"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Images) != 1 {
		t.Fatalf("JSON: %v", err)
	}
	for _, k := range []string{"name", "degraded", "implicit", "explicit_one_pass", "explicit_cnn", "tikhonov", "tv"} {
		if _, ok := doc.Images[0][k]; !ok {
			t.Errorf("JSON image has no %q", k)
		}
	}
	var imp struct {
		FixedPoint float64            `json:"fixed_point"`
		T          map[string]float64 `json:"t"`
	}
	if err := json.Unmarshal(doc.Images[0]["implicit"], &imp); err != nil || imp.T["1"] == 0 || imp.FixedPoint == 0 {
		t.Errorf("JSON implicit %s: %v", doc.Images[0]["implicit"], err)
	}
	mb, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(mb)
	if err != nil || m.Info().Kind != "pnp" || m.Info().In != 24*24 {
		t.Fatalf("saved model: %v", err)
	}
}

// TestStuckAtInput checks the warning's test: a network whose training PSNR
// is its input's has learned nothing; one a hundredth of a dB better has.
func TestStuckAtInput(t *testing.T) {
	x, target := []float64{0.1, 0.5, 0.9, 0.3}, []float64{0.15, 0.45, 0.95, 0.25}
	in := unclippedPSNR(x, target)
	if want := 10 * math.Log10(1/0.0025); math.Abs(in-want) > 1e-12 {
		t.Fatalf("unclippedPSNR %v, want %v", in, want)
	}
	if !stuckAtInput(in, in) || !stuckAtInput(in+0.004, in) || stuckAtInput(in+0.01, in) || stuckAtInput(in-0.01, in) {
		t.Error("stuckAtInput does not tell a network that learned from one that did not")
	}
}
