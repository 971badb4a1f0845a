package api

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

// JoinOutputs gives one solve's Output and error: samples, Z and Y in
// order, the worst status, the statistics aggregated, what stopped a part
// before any failed sample, and the earliest failure (by iteration, then
// sample) with its index in the batch.
func TestJoinOutputs(t *testing.T) {
	part := func(st Status, iters int, z ...float64) *Output {
		r := &Result{Z: z, Status: st, Stats: Stats{Iterations: iters, FuncEvals: iters * len(z), Residual: float64(iters)}}
		for range z {
			r.Samples = append(r.Samples, Sample{Status: st, Stats: Stats{Iterations: iters}})
		}
		return &Output{Y: z, Z: z, Result: r}
	}
	late := &SolveError{Sample: 0, Iteration: 9, Err: ErrDiverged}
	early := &SolveError{Sample: 1, Iteration: 4, Err: ErrNonFinite}
	outs := []*Output{part(Converged, 3, 1, 2), part(Diverged, 9, 3), part(NonFinite, 4, 4, 5)}
	out, err := JoinOutputs(outs, []error{nil, late, early})
	var se *SolveError
	if !errors.As(err, &se) || se.Sample != 4 || se.Iteration != 4 || !errors.Is(err, ErrNonFinite) {
		t.Fatalf("error %v, want the earliest failure, sample 4 (1 in its part of three) at iteration 4", err)
	}
	want := []float64{1, 2, 3, 4, 5}
	if !reflect.DeepEqual(out.Z, want) || !reflect.DeepEqual(out.Y, want) || !reflect.DeepEqual(out.Result.Z, want) || len(out.Result.Samples) != 5 {
		t.Fatalf("joined %+v", out)
	}
	if r := out.Result; r.Status != NonFinite || r.Iterations != 9 || r.FuncEvals != 6+9+8 || r.Residual != 9 {
		t.Fatalf("aggregated %+v", r.Stats)
	}
	if _, err := JoinOutputs(outs, []error{nil, context.Canceled, early}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a canceled part: %v, want context.Canceled first", err)
	}
	bad := errors.New("bad settings")
	if out, err := JoinOutputs([]*Output{outs[0], nil}, []error{nil, bad}); out != nil || err != bad {
		t.Fatalf("a part that did not run: %v, %v", out, err)
	}
	if FirstFailure(nil, nil) != nil || FirstFailure(late, nil) != late || FirstFailure(nil, early) != early {
		t.Fatal("FirstFailure with nil")
	}
	tie := &SolveError{Sample: 0, Iteration: 4}
	if FirstFailure(early, tie) != tie {
		t.Fatal("a tie in iterations goes to the lower sample")
	}
}

// Parts: Workers, GOMAXPROCS for 0, at most n, one with a Recorder, and an
// error for a negative number.
func TestParts(t *testing.T) {
	for _, c := range []struct {
		s    Settings
		n    int
		want int
	}{
		{Settings{Workers: 3}, 10, 3}, {Settings{Workers: 3}, 2, 2}, {Settings{Workers: 3}, 0, 1},
		{Settings{Workers: 5, Recorder: RecorderFunc(func(Iterate) error { return nil })}, 10, 1},
	} {
		if got, err := c.s.Parts(c.n); err != nil || got != c.want {
			t.Errorf("%d workers, %d samples: %d parts (%v), want %d", c.s.Workers, c.n, got, err, c.want)
		}
	}
	if got, err := (Settings{}).Parts(1 << 20); err != nil || got < 1 {
		t.Errorf("GOMAXPROCS: %d (%v)", got, err)
	}
	if _, err := (Settings{Workers: -1}).Parts(4); !errors.Is(err, ErrProblem) {
		t.Errorf("Workers -1: %v, want ErrProblem", err)
	}
}
