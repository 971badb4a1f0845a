package model_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/safetensors"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
)

// smallFNO is an fno-deq (or fno) model on an h×w grid, 2 inputs, 1 output.
func smallFNO(t testing.TB, explicit bool, seed uint64, h, w, c, k1, k2 int) *model.FNO {
	t.Helper()
	f, err := model.NewFNO(model.FNOConfig{Explicit: explicit, InChannels: 2, Out: 1, Height: h, Width: w, Channels: c,
		Modes1: k1, Modes2: k2, ProjWidth: 5, Gain: 0.6}, rand.New(rand.NewPCG(seed, 3)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The parameter count is the tensors', equal for both kinds, and the
// closed form: per Fourier layer 2·2c²k1k2 + 3(c² + c), lift (c_in+3)c,
// projection (c+1)m + (m+1)q.
func TestFNOParams(t *testing.T) {
	for _, explicit := range []bool{false, true} {
		f := smallFNO(t, explicit, 1, 8, 8, 4, 3, 2)
		n := 0
		for _, tn := range f.Tensors() {
			n += len(tn.Data)
		}
		c, k1, k2, m := 4, 3, 2, 5
		want := 4*(4*c*c*k1*k2+3*(c*c+c)) + 5*c + (c+1)*m + (m + 1)
		if n != want || model.FNOParams(model.FNOConfig{InChannels: 2, Out: 1, Channels: c, Modes1: k1, Modes2: k2, ProjWidth: m}) != want {
			t.Errorf("explicit %v: %d parameters, want %d", explicit, n, want)
		}
		m2, err := model.New(f)
		if err != nil {
			t.Fatal(err)
		}
		if info := m2.Info(); info.Params != want || info.In != 128 || info.Out != 64 || info.State != 256 {
			t.Errorf("info %+v", info)
		}
	}
}

// naiveSpectral is SpectralConv2d written out with complex DFTs: rfft2,
// the kept modes multiplied, irfft2 (which reads the real part of each
// row's inverse at the zero column).
func naiveSpectral(u [][]float64, w1, w2 []float64, c, h, w, k1, k2 int) [][]float64 {
	hw := h * w
	out := make([][]float64, c)
	spec := make([][]complex128, c) // [channel][a*w + b]
	for i := range c {
		spec[i] = make([]complex128, hw)
		for a := range h {
			for b := range w/2 + 1 {
				var s complex128
				for m := range h {
					for n := range w {
						s += complex(u[i][m*w+n], 0) * cmplx.Exp(complex(0, -2*math.Pi*(float64(a*m)/float64(h)+float64(b*n)/float64(w))))
					}
				}
				spec[i][a*w+b] = s
			}
		}
	}
	for o := range c {
		v := make([]complex128, hw)
		for a := range h {
			for b := range k2 {
				var wt []float64
				var ai int
				switch {
				case a < k1:
					wt, ai = w1, a
				case a >= h-k1:
					wt, ai = w2, a-(h-k1)
				default:
					continue
				}
				for i := range c {
					idx := ((((i*c+o)*k1)+ai)*k2 + b) * 2
					v[a*w+b] += spec[i][a*w+b] * complex(wt[idx], wt[idx+1])
				}
			}
		}
		out[o] = make([]float64, hw)
		for m := range h {
			for n := range w {
				var s float64
				for b := range w/2 + 1 {
					var col complex128
					for a := range h {
						col += v[a*w+b] * cmplx.Exp(complex(0, 2*math.Pi*float64(a*m)/float64(h)))
					}
					cb := 2.0
					if b == 0 || 2*b == w {
						cb = 1
					}
					s += cb * real(col*cmplx.Exp(complex(0, 2*math.Pi*float64(b*n)/float64(w))))
				}
				out[o][m*w+n] = s / float64(hw)
			}
		}
	}
	return out
}

// The spectral convolution (the truncated DFTs as matrix products, the
// modes mixed) matches SpectralConv2d written out with complex DFTs, on
// grids of odd and even sides, the Nyquist row kept (2·k1 = h) or not.
func TestFNOSpectralConvMatchesNaiveDFT(t *testing.T) {
	for _, g := range []struct{ h, w, k1, k2 int }{{4, 5, 2, 3}, {6, 4, 2, 2}, {5, 7, 1, 4}, {2, 1, 1, 1}} {
		rng := rand.New(rand.NewPCG(uint64(g.h*10+g.w), 1))
		const c = 3
		n := c * c * g.k1 * g.k2 * 2
		w1, w2 := make([]float64, n), make([]float64, n)
		for i := range w1 {
			w1[i], w2[i] = rng.NormFloat64(), rng.NormFloat64()
		}
		u := make([][]float64, c)
		flat := make([]float64, c*g.h*g.w) // channels last
		for i := range c {
			u[i] = make([]float64, g.h*g.w)
			for p := range u[i] {
				u[i][p] = rng.NormFloat64()
				flat[p*c+i] = u[i][p]
			}
		}
		got := model.SpectralConvForTest(flat, w1, w2, c, g.h, g.w, g.k1, g.k2)
		want := naiveSpectral(u, w1, w2, c, g.h, g.w, g.k1, g.k2)
		var worst float64
		for o := range c {
			for p := range want[o] {
				worst = math.Max(worst, math.Abs(got[p*c+o]-want[o][p]))
			}
		}
		if worst > 1e-12 {
			t.Errorf("%d×%d grid, modes %d×%d: spectral convolution differs from the naive DFT by %.2g", g.h, g.w, g.k1, g.k2, worst)
		}
	}
}

// train.Gradient matches central finite differences for every tensor
// (a sample of each one's entries), for the implicit, phantom, unrolled
// and explicit gradients, on grids of odd and even sides.
func TestFNOGradientMatchesFiniteDifferences(t *testing.T) {
	const h, w, k = 4, 5, 2
	rng := rand.New(rand.NewPCG(5, 1))
	x := make([]float64, k*2*h*w)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	target := make([]float64, k*h*w)
	for i := range target {
		target[i] = rng.NormFloat64()
	}
	tight := api.Settings{RelTol: 1e-14, AbsTol: 1e-15, MaxIter: 500}
	cases := []struct {
		name     string
		explicit bool
		gs       train.GradientSettings
		forward  api.Settings
	}{
		{"implicit", false, train.GradientSettings{Forward: tight, Backward: tight, AllowUnconverged: true}, tight},
		{"unrolled", false, train.GradientSettings{Mode: train.Unrolled, Steps: 3}, api.Settings{}},
		{"explicit", true, train.GradientSettings{}, api.Settings{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := smallFNO(t, c.explicit, 9, h, w, 3, 2, 3)
			mod, err := model.New(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := train.Gradient(context.Background(), mod, x, target, train.MSE{}, c.gs)
			if err != nil {
				t.Fatal(err)
			}
			loss := func() float64 {
				mm, err := model.New(f)
				if err != nil {
					t.Fatal(err)
				}
				var y []float64
				if c.gs.Mode == train.Unrolled {
					y = unrolledOutputs(t, mm, x, k, 3, 1)
				} else {
					out, err := mm.Infer(context.Background(), x, c.forward)
					if err != nil {
						t.Fatal(err)
					}
					y = out.Y
				}
				l, _ := train.MSE{}.Loss(y, target, k, h*w, make([]float64, len(y)))
				return l
			}
			grads := r.Grad.Tensors()
			fd := centralDifferences{step: 1e-4, floor: 1e-6, tol: 1e-4, samples: 4, pick: rand.New(rand.NewPCG(2, 2))}
			worst := fd.check(t, f.Tensors(), grads, loss)
			t.Logf("%s: %d tensors match central differences to %.2g relative", c.name, len(grads), worst)
		})
	}
}

// unrolledOutputs runs steps damped iterations z ← (1 − τ) z + τ G(z) from
// z = 0 and reads out, the model train.Unrolled differentiates.
func unrolledOutputs(t *testing.T, m *model.Model, x []float64, n, steps int, tau float64) []float64 {
	t.Helper()
	out, err := m.Infer(context.Background(), x, api.Settings{Method: &api.Picard{Damping: tau}, MaxIter: steps, RelTol: -1})
	if err != nil && out == nil {
		t.Fatal(err)
	}
	return out.Y
}

// A file round-trips, and every way of breaking it is an error that names
// the tensor or key.
func TestFNOFile(t *testing.T) {
	for _, explicit := range []bool{false, true} {
		f := smallFNO(t, explicit, 3, 6, 5, 3, 2, 3)
		b, err := model.Encode(f, model.F64)
		if err != nil {
			t.Fatal(err)
		}
		got, err := model.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Fatalf("round trip changed the model")
		}
		what := "an fno-deq model"
		if explicit {
			what = "an fno model"
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
			"no height":  {func(f *safetensors.File) { delete(f.Metadata, "implicit.height") }, "metadata implicit.height is missing"},
			"bad width":  {func(f *safetensors.File) { f.Metadata["implicit.width"] = "0" }, `implicit.width="0"`},
			"small grid": {func(f *safetensors.File) { f.Metadata["implicit.height"] = "3" }, "modes1 = 2 (the weights' third dimension) on a grid of 3 rows"},
			"nyquist":    {func(f *safetensors.File) { f.Metadata["implicit.width"] = "4" }, "modes2 = 3 (the weights' fourth dimension) on a grid of 4 columns"},
			"missing":    {func(f *safetensors.File) { tensor(f, "fc.weight").Name = "fc.weight0" }, `tensor "fc.weight" is missing`},
			"missing w2": {func(f *safetensors.File) { tensor(f, "deq_block.deq_block.0.w2.bias").Name = "x" }, `"deq_block.deq_block.0.w2.bias" is missing (` + what},
			"block":      {func(f *safetensors.File) { tensor(f, "q.mlp2.bias").Name = "deq_block.deq_block.1.conv0.weights1" }, `"deq_block.deq_block.1.conv0.weights2" is missing`},
			"extra": {func(f *safetensors.File) {
				f.Tensors = append(f.Tensors, safetensors.Tensor{Name: "deq_block.deq_block.0.conv3.weights1", Shape: []int{1}, Data: []float64{0}})
			}, `unexpected tensor "deq_block.deq_block.0.conv3.weights1"`},
			"spec shape": {func(f *safetensors.File) {
				tensor(f, "deq_block.deq_block.0.conv1.weights2").Shape = []int{3, 3, 3, 2, 2}
			}, `"deq_block.deq_block.0.conv1.weights2" has shape [3 3 3 2 2], want [3 3 2 3 2]`},
			"not complex": {func(f *safetensors.File) { tensor(f, "conv.weights1").Shape = []int{3, 3, 2, 6} }, `tensor "conv.weights1" has shape [3 3 2 6], want [c, c, modes1, modes2, 2]`},
			"mlp shape":   {func(f *safetensors.File) { tensor(f, "mlp.mlp1.weight").Shape = []int{3, 3} }, `"mlp.mlp1.weight" has shape [3 3], want [3 3 1 1]`},
			"lift": {func(f *safetensors.File) {
				tensor(f, "fc.weight").Shape = []int{6, 2}
				tensor(f, "fc.weight").Data = make([]float64, 12)
			}, "want [c, c_in+2] with c_in ≥ 1"},
			"NaN":      {func(f *safetensors.File) { tensor(f, "deq_block.deq_block.0.mlp2.mlp2.weight").Data[4] = math.NaN() }, "deq_block.deq_block.0.mlp2.mlp2.weight holds NaN at index 4"},
			"conv key": {func(f *safetensors.File) { f.Metadata["implicit.pool"] = "2" }, `unknown metadata key "implicit.pool"`},
		} {
			sf, err := safetensors.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			c.edit(sf)
			bb, err := safetensors.Encode(sf, model.F64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if _, err := model.Decode(bb); !errors.Is(err, api.ErrModel) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v %s: %v, want ErrModel mentioning %q", explicit, name, err, c.want)
			}
		}
	}
}

// A batch solves each sample as it would alone, and the explicit model is
// one evaluation.
func TestFNOBatch(t *testing.T) {
	for _, explicit := range []bool{false, true} {
		m, err := model.New(smallFNO(t, explicit, 4, 6, 6, 4, 2, 2))
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		x := make([]float64, 3*2*36)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		set := api.Settings{RelTol: 1e-12, MaxIter: 300}
		all, err := m.Infer(context.Background(), x, set)
		if err != nil {
			t.Fatal(err)
		}
		for s := range 3 {
			one, err := m.Infer(context.Background(), x[s*72:(s+1)*72], set)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range one.Y {
				if d := math.Abs(v - all.Y[s*36+i]); d > 1e-9 {
					t.Fatalf("explicit %v sample %d: batched output differs by %g", explicit, s, d)
				}
			}
		}
		if explicit && all.Result.Iterations > 1 {
			t.Errorf("explicit: %d iterations", all.Result.Iterations)
		}
	}
}

// tinyFNO is the smallest fno-deq (or fno) model, for the fuzzer's seeds:
// a 2×1 grid, one channel, one mode.
func tinyFNO(f *testing.F, explicit bool) *model.FNO {
	m, err := model.NewFNO(model.FNOConfig{Explicit: explicit, InChannels: 1, Out: 1, Height: 2, Width: 1, Channels: 1, Modes1: 1, Modes2: 1, ProjWidth: 1}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		f.Fatal(err)
	}
	return m
}

// BenchmarkFNOIteration times one evaluation of fno-deq's map G (three
// Fourier layers) on a batch of 8 samples, and one vector-Jacobian product
// through it, at the grid sizes, widths and modes of examples/navierstokes
// and of the paper.
//
//	GOMAXPROCS=1 go test -run XXX -bench FNOIteration ./core/model
func BenchmarkFNOIteration(b *testing.B) {
	for _, g := range []struct{ n, c, k int }{{32, 16, 8}, {64, 16, 12}, {64, 32, 12}} {
		f := smallFNO(b, false, 1, g.n, g.n, g.c, g.k, g.k)
		l, err := f.Build(api.Float64)
		if err != nil {
			b.Fatal(err)
		}
		const n = 8
		rng := rand.New(rand.NewPCG(1, 2))
		x := make([]float64, n*2*g.n*g.n)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		inj := l.Inject(x, n)
		p := l.Problem(inj, n)
		z, dst := make([]float64, len(inj)), make([]float64, len(inj))
		rows := []int{0, 1, 2, 3, 4, 5, 6, 7}
		p.F(z, make([]float64, len(inj)), rows)
		name := fmt.Sprintf("%dx%d,c=%d,modes=%d", g.n, g.n, g.c, g.k)
		b.Run(name+"/map", func(b *testing.B) {
			for range b.N {
				p.F(dst, z, rows)
			}
		})
		bw := l.Backward(x, inj, z, n)
		b.Run(name+"/vjp", func(b *testing.B) {
			for range b.N {
				bw.StateVJP(dst, z)
			}
		})
	}
}
