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

// The paper's Table 1 (arXiv:2510.03638): the parameter counts of its
// implicit and explicit LP networks at embedding widths 4, 8, 16, 32.
func TestGNNParamsMatchThePaper(t *testing.T) {
	widths := []int{4, 8, 16, 32}
	implicit := []int{722, 2350, 8390, 31606}
	explicit := []int{580, 2088, 7888, 30624}
	for k, d := range widths {
		// The closed forms, L = d, R = d + 1 (implicit) or d.
		l, r := d, d+1
		imp := 12*l*l + 12*r*r + 4*l*r + 12*l + 8*r + (r + 1) + (2+3+2)*d + d*d + 3*d
		exp := 29*d*d + (24+2+3)*d
		if got := model.GNNParams(false, d, 2, 3); got != implicit[k] || imp != implicit[k] {
			t.Errorf("d=%d: implicit %d parameters (closed form %d), the paper has %d", d, got, imp, implicit[k])
		}
		if got := model.GNNParams(true, d, 2, 3); got != explicit[k] || exp != explicit[k] {
			t.Errorf("d=%d: explicit %d parameters (closed form %d), the paper has %d", d, got, exp, explicit[k])
		}
		for _, e := range []bool{false, true} {
			g, err := model.NewGNN(model.GNNConfig{Explicit: e, Constraints: 10, Variables: 50, Width: d}, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				t.Fatal(err)
			}
			m, err := model.New(g)
			if err != nil {
				t.Fatal(err)
			}
			if m.Info().Params != model.GNNParams(e, d, 2, 3) {
				t.Errorf("d=%d explicit=%v: Info has %d parameters", d, e, m.Info().Params)
			}
		}
	}
}

// randomLP returns k flattened random LP instances of m constraints and n
// variables (about nnz nonzeros each), as gnn-lp reads them.
func randomLP(rng *rand.Rand, k, m, n, nnz int) []float64 {
	var x []float64
	for range k {
		for range m {
			x = append(x, 2*rng.Float64()-1, float64(rng.IntN(2)))
		}
		for range n {
			a, b := 3*rng.NormFloat64(), 3*rng.NormFloat64()
			x = append(x, 0.1*(2*rng.Float64()-1), math.Min(a, b), math.Max(a, b))
		}
		a := make([]float64, m*n)
		for range nnz {
			a[rng.IntN(m*n)] = rng.NormFloat64()
		}
		x = append(x, a...)
	}
	return x
}

// smallGNN is a gnn-lp model whose map is a contraction (small gain), so
// that plain iteration converges to its fixed point.
func smallGNN(t *testing.T, explicit bool, seed uint64, m, n, d int, gain float64) *model.GNN {
	t.Helper()
	g, err := model.NewGNN(model.GNNConfig{Explicit: explicit, Constraints: m, Variables: n, Width: d, Gain: gain}, rand.New(rand.NewPCG(seed, 3)))
	if err != nil {
		t.Fatal(err)
	}
	// Nonzero biases, so that their gradients are checked too.
	rng := rand.New(rand.NewPCG(seed, 4))
	for _, tn := range g.Tensors() {
		if len(tn.Shape) == 1 {
			for i := range tn.Data {
				tn.Data[i] = 0.1 * rng.NormFloat64()
			}
		}
	}
	return g
}

func TestGNNFileRoundTrip(t *testing.T) {
	for _, e := range []bool{false, true} {
		g := smallGNN(t, e, 5, 3, 4, 2, 1)
		g.Defaults = api.Defaults{Solver: "anderson", MaxIter: 6}
		b, err := model.Encode(g, model.F64)
		if err != nil {
			t.Fatal(err)
		}
		back, err := model.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, g) {
			t.Errorf("explicit=%v: the round trip changed the model", e)
		}
	}
}

// Instances in a batch are independent, and padding an instance with
// constraints and variables that have no edges changes nothing of its own
// variables' outputs.
func TestGNNBatchAndPadding(t *testing.T) {
	const m, n = 3, 5
	rng := rand.New(rand.NewPCG(8, 1))
	x := randomLP(rng, 4, m, n, 6)
	for _, e := range []bool{false, true} {
		g := smallGNN(t, e, 9, m, n, 3, 0.5)
		mod, err := model.New(g)
		if err != nil {
			t.Fatal(err)
		}
		st := api.Settings{MaxIter: 7, RelTol: -1}
		all, err := mod.Infer(context.Background(), x, st)
		if err != nil {
			t.Fatal(err)
		}
		p := mod.Info().In
		for s := range 4 {
			one, err := mod.Infer(context.Background(), x[s*p:(s+1)*p], st)
			if err != nil {
				t.Fatal(err)
			}
			for j := range n {
				if d := math.Abs(one.Y[j] - all.Y[s*n+j]); d > 1e-12 {
					t.Fatalf("explicit=%v: instance %d alone differs from the batch by %g", e, s, d)
				}
			}
		}
		// The first instance padded to 4 constraints and 7 variables.
		gp := smallGNN(t, e, 9, m+1, n+2, 3, 0.5)
		copyParams(gp, g)
		big, _ := model.New(gp)
		row := x[:p]
		var pr []float64
		pr = append(pr, row[:2*m]...)
		pr = append(pr, 0.3, 1)
		pr = append(pr, row[2*m:2*m+3*n]...)
		pr = append(pr, 0.01, -1, 1, 0.02, -2, 2)
		a := row[2*m+3*n:]
		for i := range m + 1 {
			for j := range n + 2 {
				v := 0.0
				if i < m && j < n {
					v = a[i*n+j]
				}
				pr = append(pr, v)
			}
		}
		out, err := big.Infer(context.Background(), pr, st)
		if err != nil {
			t.Fatal(err)
		}
		for j := range n {
			if d := math.Abs(out.Y[j] - all.Y[j]); d > 1e-12 {
				t.Fatalf("explicit=%v: padding changed variable %d's output by %g", e, j, d)
			}
		}
	}
}

// copyParams copies the tensors of src into dst, of the same width.
func copyParams(dst, src *model.GNN) {
	ds, ss := dst.Tensors(), src.Tensors()
	for k := range ds {
		copy(ds[k].Data, ss[k].Data)
	}
}

// The gradients of every tensor, implicit (through the fixed point) and
// unrolled (through exactly 3 iterations from 0), against central finite
// differences of the loss.
func TestGNNGradientMatchesFiniteDifferences(t *testing.T) {
	const m, n, k = 3, 4, 3
	rng := rand.New(rand.NewPCG(11, 1))
	x := randomLP(rng, k, m, n, 6)
	target := make([]float64, k*n)
	for i := range target {
		target[i] = rng.NormFloat64()
	}
	tight := api.Settings{RelTol: 1e-14, AbsTol: 1e-15, MaxIter: 2000}
	cases := []struct {
		name     string
		explicit bool
		gs       train.GradientSettings
		forward  api.Settings
	}{
		{"implicit", false, train.GradientSettings{Forward: tight, Backward: tight, AllowUnconverged: true}, tight},
		{"unrolled", false, train.GradientSettings{Mode: train.Unrolled, Steps: 3}, api.Settings{MaxIter: 3, RelTol: -1}},
		{"explicit", true, train.GradientSettings{}, api.Settings{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := smallGNN(t, c.explicit, 12, m, n, 3, 0.7)
			mod, err := model.New(g)
			if err != nil {
				t.Fatal(err)
			}
			r, err := train.Gradient(context.Background(), mod, x, target, train.MSE{}, c.gs)
			if err != nil {
				t.Fatal(err)
			}
			loss := func() float64 {
				mm, err := model.New(g)
				if err != nil {
					t.Fatal(err)
				}
				out, err := mm.Infer(context.Background(), x, c.forward)
				if err != nil && !c.explicit && c.forward.RelTol >= 0 && out == nil {
					t.Fatal(err)
				}
				l, _ := train.MSE{}.Loss(out.Y, target, k, n, make([]float64, len(out.Y)))
				return l
			}
			grads := r.Grad.Tensors()
			// The floor is the differences' rounding error (about 1e-16/h on
			// a loss of order 1).
			worst := centralDifferences{step: 1e-6, floor: 1e-4, tol: 1e-5}.check(t, g.Tensors(), grads, loss)
			t.Logf("%s: %d tensors match central differences to %.2g relative", c.name, len(grads), worst)
		})
	}
}

// A broken gnn-lp file fails with an error naming the tensor or key.
func TestGNNDecodeNamesTheProblem(t *testing.T) {
	valid := func(t *testing.T) *safetensors.File {
		b, err := model.Encode(smallGNN(t, false, 3, 2, 3, 2, 1), model.F64)
		if err != nil {
			t.Fatal(err)
		}
		f, err := safetensors.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return f
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
	cases := map[string]struct {
		edit func(f *safetensors.File)
		want string
	}{
		"no m":        {func(f *safetensors.File) { delete(f.Metadata, "implicit.constraints") }, "implicit.constraints is missing"},
		"bad n":       {func(f *safetensors.File) { f.Metadata["implicit.variables"] = "0" }, `implicit.variables="0"`},
		"unknown key": {func(f *safetensors.File) { f.Metadata["implicit.edges"] = "3" }, `unknown metadata key "implicit.edges"`},
		"no to_y": {func(f *safetensors.File) {
			for i := range f.Tensors {
				if f.Tensors[i].Name == "deq_func.to_y.weight" {
					f.Tensors = append(f.Tensors[:i], f.Tensors[i+1:]...)
					return
				}
			}
		}, `"deq_func.to_y.weight" is missing`},
		"no emb":  {func(f *safetensors.File) { tensor(f, "cons_embedding.0.weight").Name = "x" }, `"cons_embedding.0.weight" is missing`},
		"emb 1-D": {func(f *safetensors.File) { tensor(f, "var_embedding.0.weight").Shape = []int{6} }, `"var_embedding.0.weight" has shape [6], want [d, features]`},
		"extra bias": {func(f *safetensors.File) {
			f.Tensors = append(f.Tensors, safetensors.Tensor{Name: "output_module.2.bias", Shape: []int{1}, Data: []float64{0}})
		}, `unexpected tensor "output_module.2.bias"`},
		"shape": {func(f *safetensors.File) {
			w := tensor(f, "deq_func.conv_c_to_v.output_module.0.weight")
			w.Shape, w.Data = []int{2, 5}, w.Data[:10]
		}, `"deq_func.conv_c_to_v.output_module.0.weight" has shape [2 5], want [3 5]`},
		"NaN":                       {func(f *safetensors.File) { tensor(f, "deq_func.to_y.bias").Data[0] = math.NaN() }, "deq_func.to_y.bias holds NaN"},
		"explicit file as implicit": {func(f *safetensors.File) { f.Metadata["implicit.kind"] = "gnn-lp-explicit" }, `"conv_v_to_c.feature_module_left.0.weight" is missing`},
	}
	for name, c := range cases {
		f := valid(t)
		c.edit(f)
		b, err := safetensors.Encode(f, model.F64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, err = model.Decode(b)
		if !errors.Is(err, api.ErrModel) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want api.ErrModel mentioning %q", name, err, c.want)
		}
	}
	// A wrong row length is the caller's error, not a panic.
	m, _ := model.New(smallGNN(t, false, 3, 2, 3, 2, 1))
	if _, err := m.Infer(context.Background(), make([]float64, m.Info().In+1), api.Settings{}); !errors.Is(err, api.ErrProblem) {
		t.Errorf("a row too long: %v", err)
	}
}
