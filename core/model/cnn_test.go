package model_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/modeltest"
	"github.com/implicitlab/implicit/core/internal/safetensors"
	"github.com/implicitlab/implicit/core/model"
)

// A cnn of depth 1 is deq-conv's network run once from z₀ = x̃:
// y = readout(f(x̃)), in one evaluation.
func TestCNNIsTheCellOnce(t *testing.T) {
	conv := modeltest.RandomConv(4, 3, 6, 4, 6, 4, 2, 2, 5, 0.3)
	cnn := &model.CNN{ConvFrame: conv.ConvFrame, Cells: []model.Cell{conv.Cell}}
	m, err := model.New(cnn)
	if err != nil {
		t.Fatal(err)
	}
	if info := m.Info(); !info.Explicit || info.Kind != "cnn" || info.Params != mustNew(t, conv).Info().Params {
		t.Fatalf("info %+v", info)
	}
	const n = 3
	x := modeltest.RandomInputs(5, n, 72)
	out, err := m.Infer(context.Background(), x, api.Settings{MaxIter: 7, RelTol: -1})
	if err != nil || out.Result.Iterations != 1 || out.Result.Status != api.Converged {
		t.Fatalf("%v: %+v", err, out.Result)
	}
	layer := mustNew(t, conv).Layer()
	xt := layer.Inject(x, n)
	fz := make([]float64, len(xt))
	layer.Problem(xt, n).F(fz, xt, []int{0, 1, 2})
	y := make([]float64, n*5)
	layer.Readout(y, fz, n)
	if d := modeltest.MaxAbsDiff(out.Y, y); d > 1e-12 {
		t.Errorf("outputs differ from readout(f(x̃, x̃)) by %g", d)
	}
}

func mustNew(t *testing.T, a model.Architecture) *model.Model {
	t.Helper()
	m, err := model.New(a)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCNNFile(t *testing.T) {
	c := modeltest.RandomCNN(6, 3, 1, 4, 4, 4, 4, 2, 2, 3, 0.1)
	b, err := model.Encode(c, model.F32)
	if err != nil {
		t.Fatal(err)
	}
	got, err := model.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if g := got.(*model.CNN); len(g.Cells) != 3 || g.Describe() != "explicit, depth 3, C=4, I=4, G=2, 4×4×1 images, pool 2" {
		t.Fatalf("decoded %s with %d cells", g.Describe(), len(g.Cells))
	}
	b64, _ := model.Encode(c, model.F64)
	if got, _ := model.Decode(b64); !reflect.DeepEqual(got, c) {
		t.Error("F64 round trip changed the model")
	}
	for name, c := range map[string]struct {
		edit func(f *safetensors.File)
		want string
	}{
		"deeper":    {func(f *safetensors.File) { f.Metadata["implicit.depth"] = "4" }, `tensor "cells.3.conv1.weight" is missing`},
		"depth":     {func(f *safetensors.File) { f.Metadata["implicit.depth"] = "0" }, `implicit.depth="0"`},
		"no depth":  {func(f *safetensors.File) { delete(f.Metadata, "implicit.depth") }, `implicit.depth=""`},
		"shallower": {func(f *safetensors.File) { f.Metadata["implicit.depth"] = "2" }, `unexpected tensor "cells.2.conv1.weight"`},
	} {
		f, _ := safetensors.Decode(b64)
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
