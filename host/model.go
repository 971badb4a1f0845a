package host

import (
	"context"
	"sync/atomic"

	"github.com/implicitlab/implicit/api"
)

// Model is a model of any kind loaded into a Runtime, the sandboxed
// counterpart of *model.Model (core/model). It is safe for concurrent use:
// each call runs in an instance of its own, where the model is loaded on
// first use.
type Model struct {
	rt   *Runtime
	file []byte // the model file, for the instances that have not loaded it
	info api.Info
	shut atomic.Bool
}

// Load decodes and validates a model file (safetensors, of any kind the
// module knows, as core/model's Decode reads it) inside the sandbox. Errors
// wrap api.ErrModel and name the problem, as Decode's do. file is copied.
func (r *Runtime) Load(ctx context.Context, file []byte) (*Model, error) {
	m := &Model{rt: r, file: append([]byte(nil), file...)}
	err := r.with(ctx, m, func(in *instance, h int32) error {
		var err error
		m.info, err = in.info(ctx, h)
		return err
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Info describes the model: its kind, sizes, parameter count and solver
// defaults, as the guest read them from the file.
func (m *Model) Info() api.Info { return m.info }

// Settings returns s completed with the model's own defaults where s leaves
// them unset, as (*model.Model).Settings does. It waits for an instance,
// until ctx is done.
func (m *Model) Settings(ctx context.Context, s api.Settings) (api.Settings, error) {
	var out api.Settings
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

// Infer runs the model on n = len(x)/In samples, x row-major, as
// (*model.Model).Infer does: s is completed by the model's defaults, the
// Output holds what was computed when the solve fails, and an
// *api.SolveError names the first failed sample. A Recorder in s sees every iteration (the
// solve then runs one iteration per call into the sandbox). When ctx is done
// between chunks of iterations, the samples still running are Canceled and
// the error is ctx.Err().
func (m *Model) Infer(ctx context.Context, x []float64, s api.Settings) (*api.Output, error) {
	var out *api.Output
	err := m.rt.with(ctx, m, func(in *instance, h int32) error {
		n := len(x) / max(m.info.In, 1)
		var err error
		out, err = in.infer(ctx, h, x, s, max(n, 1)*m.info.State*m.info.State)
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
