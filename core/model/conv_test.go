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

// A deq-conv file round-trips, num_batches_tracked as I64 included, and
// every way of breaking it is an error that names the problem.
func TestConvFile(t *testing.T) {
	c := modeltest.RandomConv(3, 3, 6, 4, 6, 4, 2, 2, 5, 0.02)
	c.Defaults.Solver = "picard"
	b, err := model.Encode(c, model.F64)
	if err != nil {
		t.Fatal(err)
	}
	got, err := model.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip changed the model")
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
		"groups":      {func(f *safetensors.File) { f.Metadata["implicit.groups"] = "4" }, "implicit.groups=4 does not divide the channels (C=6 of stem.weight, I=4"},
		"pool":        {func(f *safetensors.File) { f.Metadata["implicit.pool"] = "4" }, "implicit.pool=4 does not divide the image's 6×4 pixels"},
		"no height":   {func(f *safetensors.File) { delete(f.Metadata, "implicit.height") }, "metadata implicit.height is missing"},
		"height":      {func(f *safetensors.File) { f.Metadata["implicit.height"] = "-6" }, `implicit.height="-6"`},
		"huge side":   {func(f *safetensors.File) { f.Metadata["implicit.width"] = "8192" }, "images of 6×8192 pixels (at most 4096 a side)"},
		"in channels": {func(f *safetensors.File) { f.Metadata["implicit.in_channels"] = "1" }, `"stem.weight" has shape [6 3 3 3], want [C, 1, 3, 3]`},
		"missing":     {func(f *safetensors.File) { f.Tensors = f.Tensors[1:] }, "is missing (a deq-conv model has"},
		"renamed":     {func(f *safetensors.File) { tensor(f, "head.bias").Name = "head.extra" }, `"head.bias" is missing`},
		"extra": {func(f *safetensors.File) {
			f.Tensors = append(f.Tensors, safetensors.Tensor{Name: "cell.conv3.weight", Shape: []int{1}, Data: []float64{0}})
		}, `unexpected tensor "cell.conv3.weight"`},
		"conv2 shape":     {func(f *safetensors.File) { tensor(f, "cell.conv2.weight").Shape = []int{4, 6, 3, 3} }, `"cell.conv2.weight" has shape [4 6 3 3], want [6 4 3 3]`},
		"5×5 kernel":      {func(f *safetensors.File) { tensor(f, "cell.conv1.weight").Shape = []int{4, 6, 1, 9} }, `"cell.conv1.weight" has shape [4 6 1 9], want [I, 6, 3, 3]`},
		"head shape":      {func(f *safetensors.File) { tensor(f, "head.weight").Shape = []int{15, 12} }, `"head.weight" has shape [15 12], want [q, 36]`},
		"norm shape":      {func(f *safetensors.File) { n := tensor(f, "cell.norm1.weight"); n.Shape, n.Data = []int{2}, n.Data[:2] }, `"cell.norm1.weight" has shape [2], want [4]`},
		"count is float":  {func(f *safetensors.File) { tensor(f, "stem_norm.num_batches_tracked").DType = safetensors.F64 }, `"stem_norm.num_batches_tracked" is F64, want I64`},
		"weight is I64":   {func(f *safetensors.File) { w := tensor(f, "head.bias"); w.DType = safetensors.I64; clear(w.Data) }, `"head.bias" is I64, want F32 or F64`},
		"negative var":    {func(f *safetensors.File) { tensor(f, "head_norm.running_var").Data[2] = -1 }, "head_norm.running_var holds -1 at index 2"},
		"NaN":             {func(f *safetensors.File) { tensor(f, "cell.conv1.weight").Data[7] = math.NaN() }, "cell.conv1.weight holds NaN at index 7"},
		"dense key":       {func(f *safetensors.File) { f.Metadata["implicit.activation"] = "relu" }, `unknown metadata key "implicit.activation"`},
		"count not whole": {func(f *safetensors.File) { f.Metadata["implicit.pool"] = "2.0" }, `implicit.pool="2.0"`},
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

// An input row is c_in·H·W values; anything else is an error.
func TestConvInputLength(t *testing.T) {
	m, err := model.New(modeltest.RandomConv(3, 3, 6, 4, 6, 4, 2, 2, 5, 0.02))
	if err != nil {
		t.Fatal(err)
	}
	if info := m.Info(); info.In != 72 || info.State != 144 || info.Out != 5 || info.Kind != "deq-conv" || info.Method != "anderson" {
		t.Fatalf("info %+v", info)
	}
	if _, err := m.Infer(context.Background(), make([]float64, 71), api.Settings{}); !errors.Is(err, api.ErrProblem) {
		t.Errorf("71 values for 72 a sample: %v", err)
	}
	out, err := m.Infer(context.Background(), modeltest.RandomInputs(1, 3, 72), api.Settings{})
	if err != nil || out.Result.Status != api.Converged {
		t.Fatalf("3 samples: %v, %v", err, out.Result.Status)
	}
}
