package core

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecodeDense feeds arbitrary bytes to the model loader: it must never
// panic, and a model it accepts must build, run and survive a round trip
// through Encode. Seeds: the PyTorch fixtures and models written here; the
// corpus lives in testdata/fuzz/FuzzDecodeDense.
//
//	go test -fuzz=FuzzDecodeDense ./core
func FuzzDecodeDense(f *testing.F) {
	paths, _ := filepath.Glob("../testdata/torch/*.safetensors")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, param := range []Parametrization{Direct, Monotone} {
		b, err := randomDense(1, Tanh, param, 3, 2, 2, 1).Encode(F32)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDense(b)
		if err != nil {
			return
		}
		m, err := NewModel(d)
		if err != nil {
			t.Fatalf("DecodeDense accepted a model NewModel rejects: %v", err)
		}
		_, p, _ := m.Sizes()
		if _, err := m.Infer(t.Context(), make([]float64, p), Settings{MaxIter: 5}); err != nil && !isSolveFailure(err) {
			t.Fatalf("Infer: %v", err)
		}
		enc, err := d.Encode(F64)
		if err != nil {
			t.Fatalf("Encode of a decoded model: %v", err)
		}
		back, err := DecodeDense(enc)
		if err != nil || !reflect.DeepEqual(back, d) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// isSolveFailure reports whether err is a solve's own verdict on the map (a
// fuzzed layer may well diverge), not a loader bug.
func isSolveFailure(err error) bool {
	var se *SolveError
	return errors.As(err, &se)
}
