package abi

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/implicitlab/implicit/core"
)

func TestSettingsRoundTrip(t *testing.T) {
	for _, s := range []core.Settings{
		{},
		{Method: &core.Picard{Damping: 0.5}, MaxIter: 7, RelTol: -1},
		{Method: &core.Anderson{Memory: 3, Reg: 1e-8, Mixing: 0.9}, AbsTol: 1e-12, RelTol: 1e-9, DivergenceRatio: -1},
		{Method: &core.Broyden{Memory: 12}, NoTrace: true},
		{Method: &core.ForwardBackward{Alpha: 0.25}, MaxIter: 1 << 40},
		{Method: &core.PeacemanRachford{Alpha: 2}, DivergenceRatio: math.Inf(1)},
	} {
		b := make([]byte, SettingsSize)
		if err := PutSettings(b, s); err != nil {
			t.Fatal(err)
		}
		got, err := DecodeSettings(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("%+v came back as %+v", s, got)
		}
	}
	if err := PutSettings(make([]byte, SettingsSize), core.Settings{Method: (*core.Anderson)(nil)}); !errors.Is(err, core.ErrProblem) {
		t.Errorf("nil *Anderson: %v", err)
	}
}

func TestSettingsRejected(t *testing.T) {
	b := make([]byte, SettingsSize)
	PutSettings(b, core.Settings{Method: &core.Picard{}})
	for name, change := range map[string]func([]byte){
		"unknown method":    func(b []byte) { putInt(b, 0, 99) },
		"memory for picard": func(b []byte) { putInt(b, 40, 3) },
		"alpha for picard":  func(b []byte) { putFloat(b, 72, 1) },
		"unknown flag":      func(b []byte) { putInt(b, 80, 2) },
	} {
		c := append([]byte(nil), b...)
		change(c)
		if _, err := DecodeSettings(c); !errors.Is(err, core.ErrProblem) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := DecodeSettings(b[:10]); !errors.Is(err, ErrArgument) {
		t.Errorf("short record: %v", err)
	}
}

func TestResultRoundTrip(t *testing.T) {
	out := &core.Output{
		Y: []float64{1, 2, 3, 4},
		Z: []float64{0.5, -0.5, 0, 1, math.Inf(1), 2},
		Result: &core.Result{
			Status: core.Diverged,
			Stats:  core.Stats{Iterations: 3, FuncEvals: 5, Residual: 7, RelResidual: 0.1},
			Samples: []core.Sample{
				{Status: core.Converged, Stats: core.Stats{Iterations: 2, FuncEvals: 2, Residual: 1e-9, RelResidual: 1e-10}, Trace: []float64{1, 1e-9}, RelTrace: []float64{0.5, 1e-10}},
				{Status: core.Diverged, Stats: core.Stats{Iterations: 3, FuncEvals: 3, Residual: 7, RelResidual: 0.1}, Trace: []float64{1, 2, 7}, RelTrace: []float64{0.1, 0.1, 0.1}},
			},
		},
	}
	out.Result.Z = out.Z
	serr := &core.SolveError{Sample: 1, Iteration: 3, Residual: 7, Err: core.ErrDiverged}
	b := EncodeResult(out, 2, 3, 2, serr)
	got, err := DecodeResult(b)
	if !reflect.DeepEqual(got, out) {
		t.Errorf("output %+v came back as %+v", out, got)
	}
	var se *core.SolveError
	if !errors.As(err, &se) || *se != *serr {
		t.Errorf("solve error %v came back as %v", serr, err)
	}
	for _, bad := range [][]byte{b[:50], b[:len(b)-8], append(append([]byte(nil), b...), 0)} {
		if got, err := DecodeResult(bad); got != nil || !errors.Is(err, ErrArgument) {
			t.Errorf("%d bytes: %v, %v", len(bad), got, err)
		}
	}
	// No traces (NoTrace) and no error.
	out.Result.Samples[0].Trace, out.Result.Samples[0].RelTrace = nil, nil
	out.Result.Samples[1].Trace, out.Result.Samples[1].RelTrace = nil, nil
	got, err = DecodeResult(EncodeResult(out, 2, 3, 2, nil))
	if err != nil || !reflect.DeepEqual(got, out) {
		t.Errorf("without traces: %+v, %v", got, err)
	}
}

func TestCodes(t *testing.T) {
	for _, s := range sentinels {
		err := fmt.Errorf("context: %w", s.err)
		if c := CodeOf(err); c != s.code {
			t.Errorf("CodeOf(%v) = %d, want %d", err, c, s.code)
		}
		e := NewError(s.code, err.Error())
		if !errors.Is(e, s.err) || e.Error() != err.Error() {
			t.Errorf("code %d: %v does not wrap %v", s.code, e, s.err)
		}
	}
	if CodeOf(nil) != OK || CodeOf(errors.New("x")) != CodeInternal || Sentinel(OK) != nil {
		t.Error("OK and unknown errors")
	}
	if err := Sentinel(-99); !errors.Is(err, ErrInternal) {
		t.Errorf("unknown code: %v", err)
	}
}
