// Package guest is the WebAssembly module's side of the ABI (package
// internal/abi): the buffers, models and runs of one instance, behind methods
// that take and return what the exports do. The module's main package only
// forwards its exports here, so this logic is tested natively.
package guest

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sort"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/internal/abi"
)

// State is the state of one module instance. A WebAssembly instance runs one
// call at a time, and so must a State's user.
type State struct {
	addr   func([]byte) uint32 // the guest address of a buffer's first byte
	bufs   map[uint32][]byte   // buffers handed out by Alloc, by address
	models map[int32]*loaded
	runs   map[int32]*run
	last   int32  // the last handle given out
	msg    []byte // the message of the last failed call
}

// New returns an empty State; addr gives the guest address of a buffer.
func New(addr func([]byte) uint32) *State {
	return &State{addr: addr, bufs: map[uint32][]byte{}, models: map[int32]*loaded{}, runs: map[int32]*run{}}
}

// loaded is a model and its Info record, kept alive for the host.
type loaded struct {
	m    *model.Model
	info []byte
}

// run is a solve in progress.
type run struct {
	m      *model.Model
	sv     *fixedpoint.Solver
	prec   api.Precision // the solve's, which its readout shares
	n      int
	last   abi.Progress
	result []byte // the last Result record, kept alive for the host
}

// do runs an export that allocates: f, with its error or panic turned into
// an error code and its message recorded for Error, and then a yield to the
// Go scheduler.
//
// In a reactor the Go runtime runs only during a call, and goroutines other
// than the caller's run only when it yields; the garbage collector's
// background mark workers are such goroutines. Without the yield a
// collection that starts during a call does not finish, the heap grows
// without bound, and the instance runs out of memory after some thousands of
// calls (TestMemoryFlat in package host). Exports that do not allocate use
// quick, which does not yield: a yield costs about two microseconds.
func (s *State) do(f func() (int32, error)) int32 {
	defer runtime.Gosched()
	return s.quick(f)
}

// quick is do without the yield.
func (s *State) quick(f func() (int32, error)) (ret int32) {
	defer func() {
		if p := recover(); p != nil {
			ret = s.fail(fmt.Errorf("%w: %v", abi.ErrInternal, p))
		}
	}()
	v, err := f()
	if err != nil {
		return s.fail(err)
	}
	return v
}

func (s *State) fail(err error) int32 {
	s.msg = []byte(err.Error())
	return int32(abi.CodeOf(err))
}

func argErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", abi.ErrArgument, fmt.Sprintf(format, args...))
}

// region returns the n bytes at ptr, which must lie inside one buffer from
// Alloc.
func (s *State) region(ptr uint32, n int, what string) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if n < 0 {
		return nil, argErrorf("%s: negative length %d", what, n)
	}
	for start, b := range s.bufs {
		if ptr >= start && uint64(ptr)+uint64(n) <= uint64(start)+uint64(len(b)) {
			return b[ptr-start : int(ptr-start)+n], nil
		}
	}
	return nil, argErrorf("%s: %d bytes at %#x are not inside a buffer from %s", what, n, ptr, abi.ExportAlloc)
}

// Alloc returns the address of a new zeroed buffer of size bytes, or 0 if
// size is not in 1..abi.MaxAlloc.
func (s *State) Alloc(size int32) uint32 {
	var p uint32
	s.do(func() (int32, error) {
		if size <= 0 || size > abi.MaxAlloc {
			return 0, argErrorf("%s(%d): want a size from 1 to %d", abi.ExportAlloc, size, abi.MaxAlloc)
		}
		b := make([]byte, size)
		p = s.addr(b)
		s.bufs[p] = b
		return 0, nil
	})
	return p
}

// Free releases a buffer from Alloc.
func (s *State) Free(ptr uint32) int32 {
	return s.quick(func() (int32, error) {
		_, ok := s.bufs[ptr]
		if !ok {
			return 0, argErrorf("%s(%#x): not a buffer from %s, or freed already", abi.ExportFree, ptr, abi.ExportAlloc)
		}
		delete(s.bufs, ptr)
		return 0, nil
	})
}

// Error writes the Region of the last failure's message at out.
func (s *State) Error(out uint32) int32 {
	return s.quick(func() (int32, error) {
		b, err := s.region(out, abi.RegionSize, "out")
		if err != nil {
			return 0, err
		}
		abi.PutRegion(b, abi.Region{Ptr: s.addrOf(s.msg), Len: uint32(len(s.msg))})
		return 0, nil
	})
}

func (s *State) addrOf(b []byte) uint32 {
	if len(b) == 0 {
		return 0
	}
	return s.addr(b)
}

// handle returns an unused handle ≥ 1.
func (s *State) handle() int32 {
	for {
		if s.last == math.MaxInt32 {
			s.last = 0
		}
		s.last++
		_, m := s.models[s.last]
		_, r := s.runs[s.last]
		if !m && !r {
			return s.last
		}
	}
}

// Load decodes a model file and returns its handle.
func (s *State) Load(ptr uint32, n int32) int32 {
	return s.do(func() (int32, error) {
		b, err := s.region(ptr, int(n), "model")
		if err != nil {
			return 0, err
		}
		m, err := model.Load(b)
		if err != nil {
			return 0, err
		}
		h := s.handle()
		s.models[h] = &loaded{m: m, info: abi.EncodeInfo(m.Info())}
		return h, nil
	})
}

func (s *State) model(h int32) (*loaded, error) {
	m, ok := s.models[h]
	if !ok {
		return nil, fmt.Errorf("%w: model %d", abi.ErrHandle, h)
	}
	return m, nil
}

func (s *State) run(h int32) (*run, error) {
	r, ok := s.runs[h]
	if !ok {
		return nil, fmt.Errorf("%w: run %d", abi.ErrHandle, h)
	}
	return r, nil
}

// Info writes at out the Region of a model's Info record, which stays
// valid until the model is freed.
func (s *State) Info(model int32, out uint32) int32 {
	return s.quick(func() (int32, error) {
		m, err := s.model(model)
		if err != nil {
			return 0, err
		}
		b, err := s.region(out, abi.RegionSize, "out")
		if err != nil {
			return 0, err
		}
		abi.PutRegion(b, abi.Region{Ptr: s.addrOf(m.info), Len: uint32(len(m.info))})
		return 0, nil
	})
}

// Settings writes at out the settings record at in, completed by the
// model's defaults (model.Model.Settings). in and out may be the same.
func (s *State) Settings(model int32, in, out uint32) int32 {
	return s.quick(func() (int32, error) {
		m, err := s.model(model)
		if err != nil {
			return 0, err
		}
		set, err := s.settings(in)
		if err != nil {
			return 0, err
		}
		if set, err = m.m.Settings(set); err != nil {
			return 0, err
		}
		b, err := s.region(out, abi.SettingsSize, "out")
		if err != nil {
			return 0, err
		}
		return 0, abi.PutSettings(b, set)
	})
}

func (s *State) settings(ptr uint32) (api.Settings, error) {
	b, err := s.region(ptr, abi.SettingsSize, "settings")
	if err != nil {
		return api.Settings{}, err
	}
	return abi.DecodeSettings(b)
}

// FreeModel releases a model. Its runs go on.
func (s *State) FreeModel(model int32) int32 {
	return s.quick(func() (int32, error) {
		if _, err := s.model(model); err != nil {
			return 0, err
		}
		delete(s.models, model)
		return 0, nil
	})
}

// floats returns the n float64 values at ptr.
func (s *State) floats(ptr uint32, n int32, what string) ([]float64, error) {
	if n < 0 || int64(n)*8 > abi.MaxAlloc {
		return nil, argErrorf("%s: %d values", what, n)
	}
	b, err := s.region(ptr, 8*int(n), what)
	if err != nil {
		return nil, err
	}
	return abi.Floats(b), nil
}

// Start begins inference on the xlen/p samples at x (row-major float64) with
// the settings record at settings, completed by the model's defaults, from
// the initial guess at init (initlen values; none if 0). It returns the
// run's handle.
func (s *State) Start(model int32, x uint32, xlen int32, settings uint32, init uint32, initlen int32) int32 {
	return s.do(func() (int32, error) {
		m, err := s.model(model)
		if err != nil {
			return 0, err
		}
		xs, err := s.floats(x, xlen, "x")
		if err != nil {
			return 0, err
		}
		set, err := s.settings(settings)
		if err != nil {
			return 0, err
		}
		if initlen > 0 {
			if set.Init, err = s.floats(init, initlen, "init"); err != nil {
				return 0, err
			}
		}
		r := &run{m: m.m, prec: set.Precision, n: len(xs) / m.m.Info().In}
		set.Recorder = api.RecorderFunc(func(it api.Iterate) error {
			r.last = it
			return nil
		})
		if r.sv, err = m.m.NewSolver(xs, set); err != nil {
			return 0, err
		}
		hd := s.handle()
		s.runs[hd] = r
		return hd, nil
	})
}

// Step runs at most maxIters steps of a run: iterations, or steps of the
// method's preparation (a splitting method's first factorisation), each
// about an iteration's work. It returns 1 if samples are still running, 0
// when all have finished.
func (s *State) Step(hd int32, maxIters int32) int32 {
	return s.do(func() (int32, error) {
		r, err := s.run(hd)
		if err != nil {
			return 0, err
		}
		if maxIters < 0 {
			return 0, argErrorf("%s: %d iterations", abi.ExportStep, maxIters)
		}
		if err := r.sv.Step(context.Background(), int(maxIters)); err != nil {
			return 0, err // the method's preparation failed (neither the context nor the recorder fails)
		}
		if r.sv.Done() {
			return 0, nil
		}
		return 1, nil
	})
}

// Progress writes the run's last iteration at out.
func (s *State) Progress(hd int32, out uint32) int32 {
	return s.quick(func() (int32, error) {
		r, err := s.run(hd)
		if err != nil {
			return 0, err
		}
		b, err := s.region(out, abi.ProgressSize, "out")
		if err != nil {
			return 0, err
		}
		abi.PutProgress(b, r.last)
		return 0, nil
	})
}

// canceled is a context that is done, for stopping a Solver.
var canceled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// Cancel ends a run: its running samples become api.Canceled.
func (s *State) Cancel(hd int32) int32 {
	return s.quick(func() (int32, error) {
		r, err := s.run(hd)
		if err != nil {
			return 0, err
		}
		_ = r.sv.Step(canceled, 1) // stops every running sample
		return 0, nil
	})
}

// Result writes at out the Region of the run's Result record, which stays
// valid until the next Result or FreeRun of the run.
func (s *State) Result(hd int32, out uint32) int32 {
	return s.do(func() (int32, error) {
		r, err := s.run(hd)
		if err != nil {
			return 0, err
		}
		b, err := s.region(out, abi.RegionSize, "out")
		if err != nil {
			return 0, err
		}
		res := r.sv.Result()
		info := r.m.Info()
		y, err := r.m.ReadoutIn(res.Z, r.prec)
		if err != nil {
			return 0, err
		}
		o := &api.Output{Y: y, Z: res.Z, Result: res}
		r.result = abi.EncodeResult(o, r.n, info.State, info.Out, r.sv.Err())
		abi.PutRegion(b, abi.Region{Ptr: s.addrOf(r.result), Len: uint32(len(r.result))})
		return 0, nil
	})
}

// FreeRun releases a run and its Result record.
func (s *State) FreeRun(hd int32) int32 {
	return s.quick(func() (int32, error) {
		if _, err := s.run(hd); err != nil {
			return 0, err
		}
		delete(s.runs, hd)
		return 0, nil
	})
}

// Live reports the handles and buffers in use, for tests: models, runs,
// buffers.
func (s *State) Live() (models, runs, bufs []int64) {
	for h := range s.models {
		models = append(models, int64(h))
	}
	for h := range s.runs {
		runs = append(runs, int64(h))
	}
	for p := range s.bufs {
		bufs = append(bufs, int64(p))
	}
	for _, v := range [][]int64{models, runs, bufs} {
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	}
	return models, runs, bufs
}
