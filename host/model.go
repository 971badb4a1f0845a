package host

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/internal/abi"
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
// wrap api.ErrModel and name the problem, as Decode's do; a file larger
// than one guest buffer (abi.MaxAlloc, 1 GiB) is refused with ErrModel too.
// file is copied.
func (r *Runtime) Load(ctx context.Context, file []byte) (*Model, error) {
	if len(file) > abi.MaxAlloc {
		return nil, fmt.Errorf("%w: a model file of %d bytes is larger than the sandbox takes (%d bytes, 1 GiB)", api.ErrModel, len(file), abi.MaxAlloc)
	}
	m := &Model{rt: r, file: append([]byte(nil), file...)}
	err := r.with(ctx, m, func(ctx context.Context, in *instance, h int32) error {
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
	err := m.rt.with(ctx, m, func(ctx context.Context, in *instance, h int32) error {
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
// *api.SolveError names the first failed sample. A Recorder in s sees every
// iteration (the solve then runs one iteration per call into the sandbox).
// When ctx is done between chunks of iterations, the samples still running
// are Canceled and the error is ctx.Err().
//
// A batch is spread over up to s.Workers instances of the pool (0: as many
// as GOMAXPROCS and Config.Instances allow; with a Recorder, one), in parts
// of consecutive samples solved at once; a part too large for an instance's
// memory is solved in smaller parts, one after the other (see
// chunkSamples). The Output is the same bit for bit, but a Recorder sees
// each part's iterations in turn.
func (m *Model) Infer(ctx context.Context, x []float64, s api.Settings) (*api.Output, error) {
	info := m.info
	n := len(x) / max(info.In, 1)
	parts, err := s.Parts(n)
	if err != nil {
		return nil, err
	}
	parts = min(parts, cap(m.rt.slots))
	if parts <= 1 || len(x)%max(info.In, 1) != 0 || (s.Init != nil && len(s.Init) != n*info.State) {
		return m.inferOn(ctx, x, s) // one part, or wrong: the guest says why
	}
	return api.InferInParts(x, s, info.In, info.State, parts, func(x []float64, s api.Settings) (*api.Output, error) {
		return m.inferOn(ctx, x, s)
	})
}

// inferOn solves the samples x on one instance.
func (m *Model) inferOn(ctx context.Context, x []float64, s api.Settings) (*api.Output, error) {
	var out *api.Output
	err := m.rt.with(ctx, m, func(ctx context.Context, in *instance, h int32) error {
		var err error
		out, err = m.inferParts(ctx, in, h, x, s)
		return err
	})
	return out, err
}

// inferParts runs Infer in instance in, in parts of at most chunkSamples.
func (m *Model) inferParts(ctx context.Context, in *instance, h int32, x []float64, s api.Settings) (*api.Output, error) {
	info := m.info
	n := len(x) / max(info.In, 1)
	part := m.rt.chunkSamples(info)
	if n <= part || len(x)%max(info.In, 1) != 0 || (s.Init != nil && len(s.Init) != n*info.State) {
		return in.infer(ctx, h, x, s) // whole, or wrong: the guest says why
	}
	var outs []*api.Output
	var errs []error
	for lo := 0; lo < n; lo += part {
		hi := min(lo+part, n)
		ps := s
		if s.Init != nil {
			ps.Init = s.Init[lo*info.State : hi*info.State]
		}
		// Once ctx is done, each later part starts and is canceled at once:
		// its samples are Canceled, with outputs, as natively.
		o, err := in.infer(ctx, h, x[lo*info.In:hi*info.In], ps)
		if o == nil {
			return nil, err // the part did not run: a bad setting, a failed instance
		}
		outs, errs = append(outs, o), append(errs, err)
	}
	return api.JoinOutputs(outs, errs)
}

// chunkBuffers is how many n×State buffers a solve of n samples may keep in
// the guest, with room to spare: iterates, map values, a method's history, a
// convolution's im2col scratch, the inputs and the result records.
const chunkBuffers = 64

// guestBase is about what the guest's Go runtime and a loaded model take
// before a solve.
const guestBase = 8 << 20

// partValues bounds the values of a part's n×max(In, State, Out) buffer, 1
// MiB: batches far smaller are already as fast per sample as they get, and
// what a solve keeps beyond chunkBuffers such buffers (a method's history,
// the traces, the garbage the collector has yet to free) stays small.
const partValues = 1 << 17

// chunkSamples is the number of samples of model info that one solve in an
// instance takes at most: a buffer of n×max(In, State, Out) values of at
// most partValues, and chunkBuffers of them in half the memory the runtime
// leaves (the garbage collector lets the heap grow to twice what is live
// before it collects).
func (r *Runtime) chunkSamples(info api.Info) int {
	per := max(info.In, info.State, info.Out, 1)
	byMemory := int((r.memory-guestBase)/2/chunkBuffers) / (8 * per)
	return max(1, min(byMemory, partValues/per))
}

// Close releases the model; the instances free it when they next run.
// Calls after Close return ErrClosed.
func (m *Model) Close() error {
	m.shut.Store(true)
	return nil
}

func (m *Model) closed() bool { return m.shut.Load() }
