package model_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/modeltest"
	"github.com/implicitlab/implicit/core/model"
)

// FuzzDecode feeds arbitrary bytes to the model loader: it must never
// panic, and a model it accepts must build, run and survive a round trip
// through model.Encode. Seeds: the PyTorch fixtures and models written here; the
// corpus lives in testdata/fuzz/FuzzDecode.
//
//	go test -fuzz=FuzzDecode ./core/model
func FuzzDecode(f *testing.F) {
	paths, _ := filepath.Glob("../../testdata/torch/*.safetensors")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, param := range []model.Parametrization{model.Direct, model.Monotone} {
		b, err := model.Encode(modeltest.RandomDense(1, model.Tanh, param, 3, 2, 2, 1), model.F32)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	if b, err := model.Encode(modeltest.RandomMLP(1, model.ReLU, 3, 2, 2), model.F32); err == nil {
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
		if _, err := m.Infer(t.Context(), make([]float64, m.Info().In), api.Settings{MaxIter: 5}); err != nil && !isSolveFailure(err) {
			t.Fatalf("Infer: %v", err)
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
