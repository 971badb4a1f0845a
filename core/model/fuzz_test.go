package model_test

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/modeltest"
	"github.com/implicitlab/implicit/core/model"
)

// FuzzDecode feeds arbitrary bytes to the model loader: it must never
// panic, and a model it accepts must build, run and survive a round trip
// through model.Encode. The seeds are the smallest model of each kind (a
// few hundred bytes: the fuzzer mutates and minimises small inputs quickly,
// where the PyTorch fixtures of up to 120 KB kept it minimising); the corpus
// lives in testdata/fuzz/FuzzDecode.
//
//	go test -fuzz=FuzzDecode ./core/model
func FuzzDecode(f *testing.F) {
	conv := modeltest.RandomConv(1, 1, 2, 2, 2, 2, 1, 1, 2, 0.1)
	for _, a := range []model.Architecture{
		modeltest.RandomDense(1, model.Tanh, model.Direct, 2, 2, 1, 1),
		modeltest.RandomDense(1, model.ReLU, model.Monotone, 2, 2, 1, 1),
		modeltest.RandomMLP(1, model.ReLU, 2, 2, 1),
		conv,
		&model.CNN{ConvFrame: conv.ConvFrame, Cells: []model.Cell{conv.Cell}},
		tinyGNN(f, false),
		tinyGNN(f, true),
		tinyPnP(f, false), tinyPnP(f, true),
		tinyFNO(f, false),
		tinyFNO(f, true),
	} {
		b, err := model.Encode(a, model.F32)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := model.Decode(b)
		if err != nil {
			return
		}
		m, err := model.New(a)
		if err != nil {
			t.Fatalf("Decode accepted a model model.New rejects: %v", err)
		}
		// A small model also runs: a large one (a fuzzed deq-conv of
		// thousands of pixels a side) would take the fuzzer's time for
		// inference, which the other tests cover.
		if info := m.Info(); info.State <= 1<<12 && info.In <= 1<<12 {
			if _, err := m.Infer(t.Context(), make([]float64, info.In), api.Settings{MaxIter: 5}); err != nil && !isSolveFailure(err) {
				t.Fatalf("Infer: %v", err)
			}
		}
		enc, err := model.Encode(a, model.F64)
		if err != nil {
			t.Fatalf("Encode of a decoded model: %v", err)
		}
		back, err := model.Decode(enc)
		if err != nil || !reflect.DeepEqual(back, a) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// isSolveFailure reports whether err is a solve's own verdict on the map (a
// fuzzed layer may well diverge), not a loader bug.
func isSolveFailure(err error) bool {
	var se *api.SolveError
	return errors.As(err, &se)
}

// tinyGNN is the smallest gnn-lp (or gnn-lp-explicit) model: one
// constraint, one variable, width 1.
func tinyGNN(f *testing.F, explicit bool) *model.GNN {
	g, err := model.NewGNN(model.GNNConfig{Explicit: explicit, Constraints: 1, Variables: 1, Width: 1}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		f.Fatal(err)
	}
	return g
}
