package host

import (
	"context"
	"sync/atomic"

	"github.com/implicitlab/implicit/core"
)

// Model is a deq-dense model loaded into a Runtime, the sandboxed
// counterpart of *core.Model. It is safe for concurrent use: each call runs
// in an instance of its own, where the model is loaded on first use.
type Model struct {
	rt      *Runtime
	file    []byte // the model file, for the instances that have not loaded it
	h, p, q int
	shut    atomic.Bool
}

// Load decodes and validates a model file (safetensors, as core.DecodeDense
// reads) inside the sandbox. Errors wrap core.ErrModel and name the
// problem, as core.DecodeDense's do. file is copied.
func (r *Runtime) Load(ctx context.Context, file []byte) (*Model, error) {
	m := &Model{rt: r, file: append([]byte(nil), file...)}
	err := r.with(ctx, m, func(in *instance, h int32) error {
		info, err := in.info(ctx, h)
		m.h, m.p, m.q = info.H, info.P, info.Q
		return err
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Sizes returns h, p and q: hidden units, inputs and outputs.
func (m *Model) Sizes() (h, p, q int) { return m.h, m.p, m.q }

// Settings returns s completed with the model's own defaults where s leaves
// them unset, as (*core.Model).Settings does.
func (m *Model) Settings(s core.Settings) (core.Settings, error) {
	var out core.Settings
	ctx := context.Background()
	err := m.rt.with(ctx, m, func(in *instance, h int32) error {
		var err error
		out, err = in.settings(ctx, h, s)
		return err
	})
	if err != nil {
		return s, err
	}
	return out, nil
}

// Infer runs the model on n = len(x)/p samples, x row-major, as
// (*core.Model).Infer does: s is completed by the model's defaults, the
// Output holds what was computed when the solve fails, and a *core.SolveError
// names the first failed sample. A Recorder in s sees every iteration (the
// solve then runs one iteration per call into the sandbox). When ctx is done
// between chunks of iterations, the samples still running are Canceled and
// the error is ctx.Err().
func (m *Model) Infer(ctx context.Context, x []float64, s core.Settings) (*core.Output, error) {
	var out *core.Output
	err := m.rt.with(ctx, m, func(in *instance, h int32) error {
		n := len(x) / max(m.p, 1)
		var err error
		out, err = in.infer(ctx, h, x, s, max(n, 1)*m.h*m.h)
		return err
	})
	return out, err
}

// Close releases the model; the instances free it when they next run.
// Calls after Close return ErrClosed.
func (m *Model) Close() error {
	m.shut.Store(true)
	return nil
}

func (m *Model) closed() bool { return m.shut.Load() }
