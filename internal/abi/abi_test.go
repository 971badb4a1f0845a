package abi

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/implicitlab/implicit/api"
)

func TestSettingsRoundTrip(t *testing.T) {
	for _, s := range []api.Settings{
		{},
		{Method: &api.Picard{Damping: 0.5}, MaxIter: 7, RelTol: -1},
		{Method: &api.Anderson{Memory: 3, Reg: 1e-8, Mixing: 0.9}, AbsTol: 1e-12, RelTol: 1e-9, DivergenceRatio: -1},
		{Method: &api.Broyden{Memory: 12}, NoTrace: true},
		{Method: &api.ForwardBackward{Alpha: 0.25}, MaxIter: 1 << 40},
		{Method: &api.PeacemanRachford{Alpha: 2}, DivergenceRatio: math.Inf(1)},
		{Precision: api.Float32, NoTrace: true},
		{Method: &api.Picard{}, Precision: api.Float64},
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
	if err := PutSettings(make([]byte, SettingsSize), api.Settings{Method: (*api.Anderson)(nil)}); !errors.Is(err, api.ErrProblem) {
		t.Errorf("nil *Anderson: %v", err)
	}
	if err := PutSettings(make([]byte, SettingsSize), api.Settings{Precision: "float16"}); !errors.Is(err, api.ErrProblem) {
		t.Errorf("precision float16: %v", err)
	}
}

func TestSettingsRejected(t *testing.T) {
	b := make([]byte, SettingsSize)
	PutSettings(b, api.Settings{Method: &api.Picard{}})
	for name, change := range map[string]func([]byte){
		"unknown method":    func(b []byte) { putInt(b, 0, 99) },
		"memory for picard": func(b []byte) { putInt(b, 40, 3) },
		"alpha for picard":  func(b []byte) { putFloat(b, 72, 1) },
		"unknown flag":      func(b []byte) { putInt(b, 80, 8) },
		"both precisions":   func(b []byte) { putInt(b, 80, FlagFloat32|FlagFloat64) },
	} {
		c := append([]byte(nil), b...)
		change(c)
		if _, err := DecodeSettings(c); !errors.Is(err, api.ErrProblem) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := DecodeSettings(b[:10]); !errors.Is(err, ErrArgument) {
		t.Errorf("short record: %v", err)
	}
}

func TestResultRoundTrip(t *testing.T) {
	out := &api.Output{
		Y: []float64{1, 2, 3, 4},
		Z: []float64{0.5, -0.5, 0, 1, math.Inf(1), 2},
		Result: &api.Result{
			Status: api.Diverged,
			Stats:  api.Stats{Iterations: 3, FuncEvals: 5, Residual: 7, RelResidual: 0.1},
			Samples: []api.Sample{
				{Status: api.Converged, Stats: api.Stats{Iterations: 2, FuncEvals: 2, Residual: 1e-9, RelResidual: 1e-10}, Trace: []float64{1, 1e-9}, RelTrace: []float64{0.5, 1e-10}},
				{Status: api.Diverged, Stats: api.Stats{Iterations: 3, FuncEvals: 3, Residual: 7, RelResidual: 0.1}, Trace: []float64{1, 2, 7}, RelTrace: []float64{0.1, 0.1, 0.1}},
			},
		},
	}
	out.Result.Z = out.Z
	serr := &api.SolveError{Sample: 1, Iteration: 3, Residual: 7, Err: api.ErrDiverged}
	b := EncodeResult(out, 2, 3, 2, serr)
	got, err := DecodeResult(b)
	if !reflect.DeepEqual(got, out) {
		t.Errorf("output %+v came back as %+v", out, got)
	}
	var se *api.SolveError
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

func TestInfoRoundTrip(t *testing.T) {
	for _, i := range []api.Info{
		{Kind: "deq-dense", Description: "monotone (m=0.5) relu, h=64", Sizes: api.Sizes{In: 64, State: 64, Out: 10}, Params: 13002, Method: "peaceman-rachford", Precision: api.Float64},
		{Kind: "mlp", Description: "explicit tanh, h=3", Sizes: api.Sizes{In: 1, State: 3, Out: 2}, Params: 14, Method: "anderson", Explicit: true,
			Defaults: api.Defaults{Solver: "picard", Tol: 1e-7, MaxIter: 9}, Precision: api.Float32},
	} {
		got, err := DecodeInfo(EncodeInfo(i))
		if err != nil || !reflect.DeepEqual(got, i) {
			t.Errorf("%+v came back as %+v, %v", i, got, err)
		}
	}
	b := EncodeInfo(api.Info{Kind: "deq-dense", Sizes: api.Sizes{In: 1, State: 1, Out: 1}})
	for name, bad := range map[string][]byte{
		"short":        b[:40],
		"extra byte":   append(append([]byte(nil), b...), 'x'),
		"string past":  func() []byte { c := append([]byte(nil), b...); putInt(c, 64, 5); return c }(),
		"negative len": func() []byte { c := append([]byte(nil), b...); putInt(c, 56, -1); return c }(),
		"zero in":      func() []byte { c := append([]byte(nil), b...); putInt(c, 0, 0); return c }(),
		"flags":        func() []byte { c := append([]byte(nil), b...); putInt(c, 48, 4); return c }(),
	} {
		if _, err := DecodeInfo(bad); !errors.Is(err, ErrArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The Settings record numbers the methods by their place in api.Methods.
func TestMethodIDsFollowTheTable(t *testing.T) {
	for k, m := range api.Methods() {
		b := make([]byte, SettingsSize)
		if err := PutSettings(b, api.Settings{Method: m.New()}); err != nil {
			t.Fatal(err)
		}
		if id := getInt(b, 0); id != k+1 {
			t.Errorf("%s: id %d, want %d", m.Name, id, k+1)
		}
	}
}
