package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/internal/greyimage"
)

// restoreFixture writes a small pgd pnp model (trained on 12×12 crops, say)
// and a blurred 30×22 colour PNG made with its blur, and returns their
// paths, the model and the observation as read back.
func restoreFixture(t *testing.T) (dir, modelPath, inputPath string, p *model.PnP, obs []float64) {
	t.Helper()
	k := model.Matrix{Rows: 3, Cols: 3, Data: []float64{0.05, 0.1, 0.05, 0.1, 0.4, 0.1, 0.05, 0.1, 0.05}}
	p, err := model.NewPnP(model.PnPConfig{Splitting: model.SplittingPGD, Boundary: model.BoundarySymmetric, Height: 12, Width: 12,
		Noise: 0.03, Kernel: k, Depth: 3, Channels: 4, Gamma: 1}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	b, err := model.Encode(p, model.F64)
	if err != nil {
		t.Fatal(err)
	}
	modelPath = filepath.Join(dir, "m.safetensors")
	if err := os.WriteFile(modelPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	const w, h = 30, 22
	clean := make([]float64, w*h)
	for i := range clean {
		x, y := i%w, i/w
		clean[i] = 0.5 + 0.4*math.Sin(float64(x)/3)*math.Cos(float64(y)/4)
	}
	big, err := model.Resize(p, h, w)
	if err != nil {
		t.Fatal(err)
	}
	blurred, err := big.(*model.PnP).Blur(clean)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, v := range blurred {
		u := uint8(math.Round(255 * v))
		img.Set(i%w, i/w, color.RGBA{R: u, G: u, B: u, A: 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	inputPath = filepath.Join(dir, "blurred.png")
	if err := os.WriteFile(inputPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	obs, _, _, err = readGreyPNG(inputPath)
	if err != nil {
		t.Fatal(err)
	}
	return dir, modelPath, inputPath, p, obs
}

func readPNGPixels(t *testing.T, path string) (*image.Gray, []float64) {
	t.Helper()
	pix, w, h, err := readGreyPNG(path)
	if err != nil {
		t.Fatal(err)
	}
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i, v := range pix {
		g.Pix[i] = uint8(math.Round(255 * v))
	}
	return g, pix
}

// restore runs the model of one size on a photograph of another: what it
// writes is the resized model's output, for a fixed point and for exactly N
// iterations, natively and sandboxed.
func TestRestore(t *testing.T) {
	dir, modelPath, inputPath, p, obs := restoreFixture(t)
	big, err := model.Resize(p, 22, 30)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(big)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		s    api.Settings
	}{
		{nil, api.Settings{RelTol: 1e-4}},
		{[]string{"--iters", "3"}, api.Settings{Method: &api.Picard{}, MaxIter: 3, RelTol: -1}},
		{[]string{"--iters", "2", "--from-observation"}, api.Settings{Method: &api.Picard{}, MaxIter: 2, RelTol: -1, Init: obs}},
	} {
		out := filepath.Join(dir, "restored.png")
		_, stderr, err := run(t, append([]string{"restore", "--model", modelPath, "--input", inputPath, "--output", out}, c.args...)...)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		want, err := m.Infer(context.Background(), obs, c.s)
		if err != nil {
			t.Fatal(err)
		}
		g, _ := readPNGPixels(t, out)
		if g.Bounds().Dx() != 30 || g.Bounds().Dy() != 22 {
			t.Fatalf("%v: output %v", c.args, g.Bounds())
		}
		for i, v := range want.Y {
			if d := math.Abs(float64(g.Pix[i]) - math.Round(255*greyimage.Clip01(v))); d > 0 {
				t.Fatalf("%v: pixel %d is %d, want %v", c.args, i, g.Pix[i], 255*greyimage.Clip01(v))
			}
		}
		if !strings.Contains(stderr, "pnp: pgd") || !strings.Contains(stderr, "30×22") {
			t.Errorf("%v: report %q", c.args, stderr)
		}
	}
	// --reference prints PSNRs; the sandbox writes the same image.
	ref := filepath.Join(dir, "ref.png")
	_, stderr, err := run(t, "restore", "--model", modelPath, "--input", inputPath, "--output", ref, "--reference", inputPath)
	if err != nil || !strings.Contains(stderr, "PSNR against") || !strings.Contains(stderr, "input +Inf dB") {
		t.Fatalf("--reference: %v, %q", err, stderr)
	}
	wasmOut := filepath.Join(dir, "wasm.png")
	_, stderr, err = run(t, "restore", "--model", modelPath, "--input", inputPath, "--output", wasmOut, "--runtime", "wasm")
	if err != nil && strings.Contains(err.Error(), "this build knows the kinds") {
		t.Skipf("the embedded wasm/implicit.wasm predates the pnp kinds (go generate ./wasm): %v", err)
	}
	if err != nil || !strings.Contains(stderr, "sandboxed") {
		t.Fatalf("--runtime wasm: %v, %q", err, stderr)
	}
	a, _ := readPNGPixels(t, ref)
	b, _ := readPNGPixels(t, wasmOut)
	for i := range a.Pix {
		if d := int(a.Pix[i]) - int(b.Pix[i]); d < -1 || d > 1 {
			t.Fatalf("pixel %d: native %d, sandboxed %d", i, a.Pix[i], b.Pix[i])
		}
	}
}

// Bad input is an error that names the problem.
func TestRestoreErrors(t *testing.T) {
	dir, modelPath, inputPath, _, _ := restoreFixture(t)
	notPNG := filepath.Join(dir, "x.png")
	if err := os.WriteFile(notPNG, []byte("GIF89a"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "o.png")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", modelPath, "--input", inputPath}, "--model, --input and --output are required"},
		{[]string{"--model", fixtures + "direct_tanh.safetensors", "--input", inputPath, "--output", out}, "a deq-dense model; restore runs the pnp kinds"},
		{[]string{"--model", modelPath, "--input", notPNG, "--output", out}, "x.png: not a PNG image"},
		{[]string{"--model", modelPath, "--input", inputPath, "--output", filepath.Join(dir, "no", "o.png")}, "no"},
		{[]string{"--model", modelPath, "--input", inputPath, "--output", out, "--iters", "-1"}, "--iters -1"},
		{[]string{"--model", modelPath, "--input", inputPath, "--output", out, "--iters", "3", "--solver", "anderson"}, "takes no --solver"},
		{[]string{"--model", modelPath, "--input", inputPath, "--output", out, "--reference", fixtures + "../../README.md"}, "not a PNG"},
		{[]string{"--model", modelPath, "--input", inputPath, "--output", out, "--runtime", "gpu"}, `--runtime "gpu"`},
		{[]string{"--model", inputPath, "--input", inputPath, "--output", out}, "blurred.png"},
	} {
		_, _, err := run(t, append([]string{"restore"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error mentioning %q", c.args, err, c.want)
		}
	}
}
