package model_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/safetensors"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
)

// pnpKernel is a normalised Gaussian-like kernel, symmetric under each flip.
func pnpKernel(kh, kw int) model.Matrix {
	k := model.NewMatrix(kh, kw)
	var sum float64
	for a := range kh {
		for c := range kw {
			da, dc := float64(a-kh/2), float64(c-kw/2)
			k.Data[a*kw+c] = math.Exp(-(da*da + 0.7*dc*dc) / 2)
			sum += k.Data[a*kw+c]
		}
	}
	for i := range k.Data {
		k.Data[i] *= 0.5 / sum
	}
	k.Data[kh/2*kw+kw/2] += 0.5 // well conditioned: |k̂| ≥ 0.5·(1 − …) keeps G contractive
	return k
}

// smallPnP is a pnp model on h×w images with a denoiser of depth 3, C = 3,
// its weights jittered so that every tensor matters.
func smallPnP(t testing.TB, explicit bool, splitting, boundary string, h, w int) *model.PnP {
	p, err := model.NewPnP(model.PnPConfig{Explicit: explicit, Splitting: splitting, Boundary: boundary, Height: h, Width: w,
		Noise: 0.03, Kernel: pnpKernel(3, 5), Depth: 3, Channels: 3, Gamma: 0.9, Beta: 0.4}, rand.New(rand.NewPCG(7, 8)))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for l := range p.Denoiser {
		for i := range p.Denoiser[l].Bias {
			p.Denoiser[l].Bias[i] = 0.1 * rng.NormFloat64()
		}
	}
	return p
}

func pnpImages(seed uint64, n, hw int) []float64 {
	rng := rand.New(rand.NewPCG(seed, 3))
	x := make([]float64, n*hw)
	for i := range x {
		x[i] = rng.Float64()
	}
	return x
}

// The gradients of every trained tensor, implicit (through the fixed
// point), unrolled (through 3 iterations from 0) and explicit, against
// central finite differences of the loss, for both splittings and
// boundaries, on images banded and whole.
func TestPnPGradientMatchesFiniteDifferences(t *testing.T) {
	const h, w, n = 5, 6, 2
	x, target := pnpImages(1, n, h*w), pnpImages(2, n, h*w)
	tight := api.Settings{RelTol: 1e-14, AbsTol: 1e-15, MaxIter: 2000}
	implicit := train.GradientSettings{Forward: tight, Backward: tight, AllowUnconverged: true}
	cases := []struct {
		name                string
		explicit            bool
		splitting, boundary string
		gs                  train.GradientSettings
		forward             api.Settings
	}{
		{"pgd symmetric", false, model.SplittingPGD, model.BoundarySymmetric, implicit, tight},
		{"pgd periodic", false, model.SplittingPGD, model.BoundaryPeriodic, implicit, tight},
		{"hqs symmetric", false, model.SplittingHQS, model.BoundarySymmetric, implicit, tight},
		{"hqs periodic", false, model.SplittingHQS, model.BoundaryPeriodic, implicit, tight},
		{"hqs unrolled", false, model.SplittingHQS, model.BoundarySymmetric, train.GradientSettings{Mode: train.Unrolled, Steps: 3}, api.Settings{Method: &api.Picard{}, MaxIter: 3, RelTol: -1}},
		{"pgd unrolled", false, model.SplittingPGD, model.BoundarySymmetric, train.GradientSettings{Mode: train.Unrolled, Steps: 3}, api.Settings{Method: &api.Picard{}, MaxIter: 3, RelTol: -1}},
		{"explicit", true, "", "", train.GradientSettings{}, api.Settings{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := smallPnP(t, c.explicit, c.splitting, c.boundary, h, w)
			mod, err := model.New(p)
			if err != nil {
				t.Fatal(err)
			}
			r, err := train.Gradient(context.Background(), mod, x, target, train.MSE{}, c.gs)
			if err != nil {
				t.Fatal(err)
			}
			if r.Forward != nil && !c.explicit && c.forward.RelTol >= 0 && r.Forward.Status != api.Converged {
				t.Fatalf("forward %v", r.Forward.Status)
			}
			loss := func() float64 {
				mm, err := model.New(p)
				if err != nil {
					t.Fatal(err)
				}
				out, err := mm.Infer(context.Background(), x, c.forward)
				if out == nil {
					t.Fatal(err)
				}
				l, _ := train.MSE{}.Loss(out.Y, target, n, h*w, make([]float64, len(out.Y)))
				return l
			}
			worst := centralDifferences{step: 1e-6, floor: 1e-4, tol: 1e-5}.check(t, p.Tensors(), r.Grad.Tensors(), loss)
			t.Logf("%s: the trained tensors match central differences to %.2g relative", c.name, worst)
		})
	}
}

// The Jacobian-free gradient is the implicit one without the adjoint solve:
// it trains (a descent direction here) and differs from the exact one.
func TestPnPJacobianFree(t *testing.T) {
	p := smallPnP(t, false, model.SplittingPGD, model.BoundarySymmetric, 5, 6)
	mod, err := model.New(p)
	if err != nil {
		t.Fatal(err)
	}
	x, target := pnpImages(1, 2, 30), pnpImages(2, 2, 30)
	exact, err := train.Gradient(context.Background(), mod, x, target, train.MSE{}, train.GradientSettings{})
	if err != nil {
		t.Fatal(err)
	}
	jf, err := train.Gradient(context.Background(), mod, x, target, train.MSE{}, train.GradientSettings{Mode: train.JacobianFree})
	if err != nil {
		t.Fatal(err)
	}
	var dotp float64
	for i, tn := range exact.Grad.Tensors() {
		for j, v := range tn.Data {
			dotp += v * jf.Grad.Tensors()[i].Data[j]
		}
	}
	if !(dotp > 0) || jf.Backward != nil {
		t.Errorf("Jacobian-free gradient · exact = %v (want > 0), backward %v", dotp, jf.Backward)
	}
}

// A file round-trips; Resize makes the same model for another size; the
// operator and the denoiser run on a whole image.
func TestPnPFileAndResize(t *testing.T) {
	for _, c := range []struct {
		explicit            bool
		splitting, boundary string
	}{{false, model.SplittingPGD, model.BoundarySymmetric}, {false, model.SplittingHQS, model.BoundaryPeriodic}, {true, "", ""}} {
		p := smallPnP(t, c.explicit, c.splitting, c.boundary, 5, 6)
		p.Defaults.Solver = "picard"
		b, err := model.Encode(p, model.F64)
		if err != nil {
			t.Fatal(err)
		}
		got, err := model.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("%s: round trip changed the model", p.Describe())
		}
		m, err := model.New(got)
		if err != nil {
			t.Fatal(err)
		}
		info := m.Info()
		if info.In != 30 || info.State != 30 || info.Out != 30 || info.Explicit != c.explicit || info.Kind != p.Kind() {
			t.Fatalf("info %+v", info)
		}
		r, err := model.Resize(got, 9, 4)
		if err != nil {
			t.Fatal(err)
		}
		if s := r.Sizes(); s.In != 36 || s.Out != 36 || r.(*model.PnP).Denoiser[0].Weight[0] != p.Denoiser[0].Weight[0] {
			t.Fatalf("resized sizes %+v", s)
		}
		rm, err := model.New(r)
		if err != nil {
			t.Fatal(err)
		}
		out, err := rm.Infer(context.Background(), pnpImages(4, 1, 36), api.Settings{})
		if err != nil || len(out.Y) != 36 {
			t.Fatalf("resized: %v", err)
		}
		if _, err := model.Resize(got, 0, 4); !errors.Is(err, api.ErrModel) {
			t.Errorf("resize to 0×4: %v", err)
		}
	}
	dense, err := model.NewDense(model.DenseConfig{Hidden: 2, In: 2, Out: 1, Activation: model.ReLU, Param: model.Direct}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := model.Resize(dense, 3, 3); !errors.Is(err, api.ErrModel) || !strings.Contains(err.Error(), "cannot be resized") {
		t.Errorf("resizing a deq-dense model: %v", err)
	}
}

// Every way of breaking a pnp file is an error that names the problem.
func TestPnPFileErrors(t *testing.T) {
	b, err := model.Encode(smallPnP(t, false, model.SplittingHQS, model.BoundarySymmetric, 5, 6), model.F64)
	if err != nil {
		t.Fatal(err)
	}
	tensor := func(f *safetensors.File, name string) *safetensors.Tensor {
		for i := range f.Tensors {
			if f.Tensors[i].Name == name {
				return &f.Tensors[i]
			}
		}
		t.Fatalf("no tensor %q", name)
		return nil
	}
	for name, c := range map[string]struct {
		edit func(f *safetensors.File)
		want string
	}{
		"splitting":    {func(f *safetensors.File) { f.Metadata["implicit.splitting"] = "admm" }, `implicit.splitting="admm" (want pgd or hqs)`},
		"no splitting": {func(f *safetensors.File) { delete(f.Metadata, "implicit.splitting") }, "metadata implicit.splitting is missing"},
		"boundary":     {func(f *safetensors.File) { f.Metadata["implicit.boundary"] = "zero" }, `implicit.boundary="zero"`},
		"height":       {func(f *safetensors.File) { f.Metadata["implicit.height"] = "0" }, `implicit.height="0"`},
		"no width":     {func(f *safetensors.File) { delete(f.Metadata, "implicit.width") }, "metadata implicit.width is missing"},
		"huge":         {func(f *safetensors.File) { f.Metadata["implicit.width"] = "5000" }, "at most 4096 a side"},
		"depth":        {func(f *safetensors.File) { f.Metadata["implicit.depth"] = "4" }, `tensor "denoiser.6.weight" is missing`},
		"depth 1":      {func(f *safetensors.File) { f.Metadata["implicit.depth"] = "1" }, "implicit.depth=1 (want 2 to"},
		"noise":        {func(f *safetensors.File) { f.Metadata["implicit.noise"] = "-1" }, `implicit.noise="-1"`},
		"no beta":      {func(f *safetensors.File) { f.Metadata["implicit.splitting"] = "pgd" }, `tensor "gamma" is missing`},
		"gamma":        {func(f *safetensors.File) { tensor(f, "beta").Name = "gamma" }, `tensor "beta" is missing`},
		"beta":         {func(f *safetensors.File) { tensor(f, "beta").Data[0] = 0 }, `tensor "beta" is 0 (β must be > 0`},
		"beta shape":   {func(f *safetensors.File) { g := tensor(f, "beta"); g.Shape, g.Data = []int{2}, []float64{1, 2} }, `tensor "beta" has shape [2], want []`},
		"even kernel": {func(f *safetensors.File) {
			k := tensor(f, "kernel")
			k.Shape, k.Data = []int{2, 2}, []float64{1, 0, 0, 0}
		}, `tensor "kernel" is 2×2 (want odd sides`},
		"asymmetric":  {func(f *safetensors.File) { tensor(f, "kernel").Data[0] += 0.1 }, `tensor "kernel" is not symmetric under each axis's flip`},
		"kernel NaN":  {func(f *safetensors.File) { tensor(f, "kernel").Data[4] = math.NaN() }, "kernel holds NaN at index 4"},
		"in channels": {func(f *safetensors.File) { tensor(f, "denoiser.0.weight").Shape = []int{1, 3, 3, 3} }, `"denoiser.0.weight" has shape [1 3 3 3], want [C, 1, 3, 3]`},
		"layer shape": {func(f *safetensors.File) { tensor(f, "denoiser.2.weight").Shape = []int{3, 3, 1, 9} }, `"denoiser.2.weight" has shape [3 3 1 9], want [3 3 3 3]`},
		"bias NaN":    {func(f *safetensors.File) { tensor(f, "denoiser.4.bias").Data[0] = math.Inf(1) }, "denoiser.4.bias holds +Inf at index 0"},
		"extra": {func(f *safetensors.File) {
			f.Tensors = append(f.Tensors, safetensors.Tensor{Name: "denoiser.1.weight", Shape: []int{1}, Data: []float64{0}})
		}, `unexpected tensor "denoiser.1.weight"`},
		"conv key": {func(f *safetensors.File) { f.Metadata["implicit.pool"] = "2" }, `unknown metadata key "implicit.pool"`},
		"as explicit": {func(f *safetensors.File) {
			f.Metadata["implicit.kind"] = "pnp-explicit"
			delete(f.Metadata, "implicit.splitting")
		}, `unknown metadata key "implicit.boundary"`},
	} {
		f, err := safetensors.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		c.edit(f)
		bb, err := safetensors.Encode(f, model.F64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := model.Decode(bb); !errors.Is(err, api.ErrModel) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrModel mentioning %q", name, err, c.want)
		}
	}
}

// tinyPnP is the smallest pnp (hqs) or pnp-explicit model, for the fuzzer's
// seeds: 2×2 images, a 3×1 kernel, a denoiser of depth 2 and width 1.
func tinyPnP(f testing.TB, explicit bool) *model.PnP {
	p, err := model.NewPnP(model.PnPConfig{Explicit: explicit, Splitting: model.SplittingHQS, Boundary: model.BoundarySymmetric,
		Height: 2, Width: 2, Kernel: model.Matrix{Rows: 3, Cols: 1, Data: []float64{0.25, 0.5, 0.25}}, Depth: 2, Channels: 1}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		f.Fatal(err)
	}
	return p
}
