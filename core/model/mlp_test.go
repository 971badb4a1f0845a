package model_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/modeltest"
	"github.com/implicitlab/implicit/core/internal/safetensors"
	"github.com/implicitlab/implicit/core/model"
)

// An mlp is y = C σ(U x + b) + c in one evaluation: the same outputs as a
// deq-dense model with the same U, b, C, c and W = 0, whose solve needs two.
func TestMLPIsOneEvaluation(t *testing.T) {
	for _, act := range []model.Activation{model.ReLU, model.Tanh, model.Identity} {
		mlp := modeltest.RandomMLP(5, act, 7, 4, 3)
		m, err := model.New(mlp)
		if err != nil {
			t.Fatal(err)
		}
		d := &model.Dense{Activation: act, Param: model.Direct, U: mlp.U, Bias: mlp.Bias, C: mlp.C, OutBias: mlp.OutBias, W: model.NewMatrix(7, 7)}
		dm, err := model.New(d)
		if err != nil {
			t.Fatal(err)
		}
		x := modeltest.RandomInputs(6, 5, 4)
		for _, s := range []api.Settings{{}, {Method: &api.Picard{}, MaxIter: 1, RelTol: -1}, {MaxIter: 9, RelTol: -1}} {
			out, err := m.Infer(context.Background(), x, s)
			if err != nil {
				t.Fatal(err)
			}
			if out.Result.Status != api.Converged || out.Result.Iterations != 1 || out.Result.FuncEvals != 5 {
				t.Errorf("%s %+v: %v after %d iterations, %d evaluations", act, s, out.Result.Status, out.Result.Iterations, out.Result.FuncEvals)
			}
			ref, err := dm.Infer(context.Background(), x, api.Settings{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out.Y, ref.Y) {
				t.Errorf("%s: outputs differ from the deq-dense model with W = 0 by %g", act, modeltest.MaxAbsDiff(out.Y, ref.Y))
			}
		}
		// And the formula, written out.
		out, _ := m.Infer(context.Background(), x, api.Settings{})
		for s := 0; s < 5; s++ {
			for i := 0; i < 3; i++ {
				y := mlp.OutBias[i]
				for j := 0; j < 7; j++ {
					v := mlp.Bias[j]
					for k := 0; k < 4; k++ {
						v += mlp.U.Data[j*4+k] * x[s*4+k]
					}
					switch act {
					case model.ReLU:
						v = math.Max(v, 0)
					case model.Tanh:
						v = math.Tanh(v)
					}
					y += mlp.C.Data[i*7+j] * v
				}
				if got := out.Y[s*3+i]; math.Abs(got-y) > 1e-12 {
					t.Errorf("%s: sample %d output %d: %v, want %v", act, s, i, got, y)
				}
			}
		}
		if info := m.Info(); !info.Explicit || info.Params != 7*4+7+3*7+3 || info.Kind != "mlp" {
			t.Errorf("%s: info %+v", act, info)
		}
	}
}

func TestMLPFile(t *testing.T) {
	mlp := modeltest.RandomMLP(2, model.Tanh, 5, 3, 2)
	mlp.Defaults.MaxIter = 3
	b, err := model.Encode(mlp, model.F64)
	if err != nil {
		t.Fatal(err)
	}
	got, err := model.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, mlp) {
		t.Errorf("round trip changed the model:\n got %+v\nwant %+v", got, mlp)
	}
	for name, c := range map[string]struct {
		edit func(f *safetensors.File)
		want string
	}{
		"activation": {func(f *safetensors.File) { f.Metadata["implicit.activation"] = "gelu" }, `implicit.activation="gelu"`},
		"dense key":  {func(f *safetensors.File) { f.Metadata["implicit.param"] = "direct" }, `unknown metadata key "implicit.param" (a mlp file has`},
		"core tensor": {func(f *safetensors.File) {
			f.Tensors = append(f.Tensors, safetensors.Tensor{Name: "core.weight", Shape: []int{5, 5}, Data: make([]float64, 25)})
		}, `unexpected tensor "core.weight" (an mlp model has`},
		"bias shape":   {func(f *safetensors.File) { f.Tensors[0].Shape, f.Tensors[0].Data = []int{1}, f.Tensors[0].Data[:1] }, `"decoder.bias" has shape [1], want [2]`},
		"missing":      {func(f *safetensors.File) { f.Tensors = f.Tensors[1:] }, `tensor "decoder.bias" is missing`},
		"unknown kind": {func(f *safetensors.File) { f.Metadata["implicit.kind"] = "deq-fourier" }, `implicit.kind="deq-fourier": this build knows the kinds deq-dense, mlp, deq-conv`},
	} {
		f, err := safetensors.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		c.edit(f)
		bb, err := safetensors.Encode(f, model.F64)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := model.Decode(bb); !errors.Is(err, api.ErrModel) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrModel mentioning %q", name, err, c.want)
		}
	}
}
