package host

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	wasmapi "github.com/tetratelabs/wazero/api"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/internal/abi"
)

// exports are the module's functions an instance calls, in the order of
// the fn* indices.
var exports = [...]string{
	abi.ExportVersion, abi.ExportAlloc, abi.ExportFree, abi.ExportError,
	abi.ExportLoad, abi.ExportInfo, abi.ExportSettings, abi.ExportFreeModel,
	abi.ExportStart, abi.ExportStep, abi.ExportProgress, abi.ExportCancel,
	abi.ExportResult, abi.ExportFreeRun,
}

const (
	fnVersion = iota
	fnAlloc
	fnFree
	fnError
	fnLoad
	fnInfo
	fnSettings
	fnFreeModel
	fnStart
	fnStep
	fnProgress
	fnCancel
	fnResult
	fnFreeRun
)

// instance is one module instance. It runs one call at a time: the pool
// hands it to one goroutine at a time.
type instance struct {
	mod    wasmapi.Module
	mem    wasmapi.Memory
	fns    [len(exports)]wasmapi.Function
	stack  []uint64
	in     uint32 // a guest buffer for the records the host passes in
	out    uint32 // a guest buffer for the records the guest writes
	stderr *capped
	// models maps the models loaded here to their guest handles.
	models map[*Model]int32
	// buf is a guest buffer of bufCap bytes for model files and inputs.
	buf    uint32
	bufCap int
	detach func(context.Context) // frees the instance's SIMD kernels
	// broken is set when a call trapped: the instance is thrown away.
	broken bool
	memory int64 // the memory limit, for a TrapError
}

// sandbox is the configuration of every instance: anonymous (many
// instances of one module), with standard error captured, and nothing else.
// wazero grants a module no filesystem, environment, arguments or sockets
// unless its configuration names them (TestSandbox checks it).
func sandbox(stderr io.Writer) wazero.ModuleConfig {
	return wazero.NewModuleConfig().WithName("").WithStderr(stderr)
}

// newInstance instantiates the compiled module with no filesystem, no
// environment, no arguments and no network, runs its _initialize, and
// checks its ABI version.
func (r *Runtime) newInstance(ctx context.Context) (*instance, error) {
	in := &instance{stack: make([]uint64, 8), stderr: &capped{max: 4096}, models: map[*Model]int32{}, memory: r.memory}
	cfg := sandbox(in.stderr).WithStartFunctions("_initialize")
	mod, err := r.rt.InstantiateModule(ctx, r.compiled, cfg)
	if err != nil {
		return nil, in.trap(fmt.Errorf("instantiating the module: %w", err))
	}
	in.mod, in.mem = mod, mod.Memory()
	if in.detach, err = r.kernels.attach(ctx, r.rt, mod); err != nil {
		_ = mod.Close(ctx)
		return nil, err
	}
	for i, name := range exports {
		if in.fns[i] = mod.ExportedFunction(name); in.fns[i] == nil {
			in.close(ctx)
			return nil, fmt.Errorf("%w: the module does not export %s", ErrModule, name)
		}
	}
	v, err := in.call(ctx, fnVersion)
	if err == nil && v != abi.Version {
		err = fmt.Errorf("%w: the module has ABI version %d, this host speaks %d", ErrModule, v, abi.Version)
	}
	if err == nil {
		in.in, err = in.alloc(ctx, abi.SettingsSize)
	}
	if err == nil {
		in.out, err = in.alloc(ctx, abi.OutSize)
	}
	if err != nil {
		in.close(ctx)
		return nil, err
	}
	return in, nil
}

func (in *instance) close(ctx context.Context) {
	if in.detach != nil {
		in.detach(ctx)
	}
	if in.mod != nil {
		_ = in.mod.Close(ctx)
	}
}

// call runs an export. An error means the instance trapped and is broken.
func (in *instance) call(ctx context.Context, fn int, args ...uint64) (int32, error) {
	if in.broken {
		return 0, fmt.Errorf("%w: the instance trapped before", ErrTrap)
	}
	copy(in.stack, args)
	if err := in.fns[fn].CallWithStack(ctx, in.stack); err != nil {
		return 0, in.trap(fmt.Errorf("%s: %w", exports[fn], err))
	}
	return int32(uint32(in.stack[0])), nil
}

// check calls an export and turns a negative result into the guest's error.
func (in *instance) check(ctx context.Context, fn int, args ...uint64) (int32, error) {
	r, err := in.call(ctx, fn, args...)
	if err != nil || r >= 0 {
		return r, err
	}
	c := abi.Code(r)
	if _, err := in.call(ctx, fnError, uint64(in.out)); err != nil {
		return 0, err
	}
	msg, err := in.regionView(in.out)
	if err != nil {
		return 0, err
	}
	return 0, abi.NewError(c, string(msg))
}

// regionView reads the Region record at ptr and returns its bytes, valid
// until the next call.
func (in *instance) regionView(ptr uint32) ([]byte, error) {
	rb, err := in.view(ptr, abi.RegionSize)
	if err != nil {
		return nil, err
	}
	r, err := abi.DecodeRegion(rb)
	if err != nil {
		return nil, err
	}
	return in.view(r.Ptr, r.Len)
}

// view returns n bytes of guest memory at ptr, valid until the next call.
func (in *instance) view(ptr, n uint32) ([]byte, error) {
	b, ok := in.mem.Read(ptr, n)
	if !ok {
		in.broken = true
		return nil, fmt.Errorf("%w: the guest pointed at %d bytes at %#x, outside its memory of %d", ErrModule, n, ptr, in.mem.Size())
	}
	return b, nil
}

// alloc returns a guest buffer of n bytes.
func (in *instance) alloc(ctx context.Context, n int) (uint32, error) {
	if n <= 0 || n > abi.MaxAlloc {
		return 0, fmt.Errorf("%w: %d bytes do not fit one guest buffer (at most %d)", api.ErrProblem, n, abi.MaxAlloc)
	}
	p, err := in.call(ctx, fnAlloc, uint64(n))
	if err != nil {
		return 0, err
	}
	if p == 0 {
		return 0, fmt.Errorf("%w: %s(%d) failed", abi.ErrArgument, abi.ExportAlloc, n)
	}
	return uint32(p), nil
}

func (in *instance) free(ctx context.Context, ptr uint32) error {
	_, err := in.check(ctx, fnFree, uint64(ptr))
	return err
}

// scratch returns a guest buffer of at least n bytes, kept between calls
// (up to keepScratch bytes) so that a small solve allocates nothing for its
// inputs.
func (in *instance) scratch(ctx context.Context, n int) (uint32, []byte, error) {
	if n > in.bufCap {
		if in.buf != 0 {
			if err := in.free(ctx, in.buf); err != nil {
				return 0, nil, err
			}
			in.buf, in.bufCap = 0, 0
		}
		size := max(n, min(2*in.bufCap, keepScratch), 4096)
		p, err := in.alloc(ctx, size)
		if err != nil {
			return 0, nil, err
		}
		in.buf, in.bufCap = p, size
	}
	b, err := in.view(in.buf, uint32(n))
	return in.buf, b, err
}

// keepScratch is the largest scratch buffer an instance keeps after a call.
const keepScratch = 1 << 20

// dropScratch frees a scratch buffer grown past keepScratch.
func (in *instance) dropScratch(ctx context.Context) error {
	if in.bufCap <= keepScratch {
		return nil
	}
	p := in.buf
	in.buf, in.bufCap = 0, 0
	return in.free(ctx, p)
}

// load loads a model file into the instance and returns its handle.
func (in *instance) load(ctx context.Context, file []byte) (int32, error) {
	p, b, err := in.scratch(ctx, len(file))
	if err != nil {
		return 0, err
	}
	copy(b, file)
	h, err := in.check(ctx, fnLoad, uint64(p), uint64(len(file)))
	if derr := in.dropScratch(ctx); err == nil {
		err = derr
	}
	return h, err
}

func (in *instance) info(ctx context.Context, h int32) (api.Info, error) {
	if _, err := in.check(ctx, fnInfo, uint64(h), uint64(in.out)); err != nil {
		return api.Info{}, err
	}
	b, err := in.regionView(in.out)
	if err != nil {
		return api.Info{}, err
	}
	info, err := abi.DecodeInfo(b)
	if err != nil {
		in.broken = true // the guest wrote nonsense
	}
	return info, err
}

func (in *instance) putSettings(s api.Settings) error {
	b, err := in.view(in.in, abi.SettingsSize)
	if err != nil {
		return err
	}
	return abi.PutSettings(b, s)
}

// settings completes s with the model's defaults, in the guest.
func (in *instance) settings(ctx context.Context, h int32, s api.Settings) (api.Settings, error) {
	if err := in.putSettings(s); err != nil {
		return s, err
	}
	if _, err := in.check(ctx, fnSettings, uint64(h), uint64(in.in), uint64(in.out)); err != nil {
		return s, err
	}
	b, err := in.view(in.out, abi.SettingsSize)
	if err != nil {
		return s, err
	}
	c, err := abi.DecodeSettings(b)
	if err != nil {
		return s, err
	}
	c.Init, c.Recorder = s.Init, s.Recorder
	return c, nil
}

// infer runs model h on x in chunks of iterations, checking ctx between
// them.
func (in *instance) infer(ctx context.Context, h int32, x []float64, s api.Settings) (*api.Output, error) {
	if err := in.putSettings(s); err != nil {
		return nil, err
	}
	nx, ni := len(x), len(s.Init)
	p, b, err := in.scratch(ctx, 8*(nx+ni))
	if err != nil {
		return nil, err
	}
	abi.PutFloats(b, x)
	abi.PutFloats(b[8*nx:], s.Init)
	run, err := in.check(ctx, fnStart, uint64(h), uint64(p), uint64(nx), uint64(in.in), uint64(p+8*uint32(nx)), uint64(ni))
	if derr := in.dropScratch(ctx); err == nil {
		err = derr
	}
	if err != nil {
		return nil, err
	}
	out, err := in.finish(ctx, run, s.Recorder)
	if _, ferr := in.check(ctx, fnFreeRun, uint64(run)); out != nil && ferr != nil {
		return nil, ferr
	}
	return out, err
}

// finish steps a run to its end and reads its output.
func (in *instance) finish(ctx context.Context, run int32, rec api.Recorder) (*api.Output, error) {
	serr := in.steps(ctx, run, rec)
	if in.broken {
		return nil, serr
	}
	if _, err := in.check(ctx, fnResult, uint64(run), uint64(in.out)); err != nil {
		return nil, err
	}
	b, err := in.regionView(in.out)
	if err != nil {
		return nil, err
	}
	out, err := abi.DecodeResult(b) // copies out of guest memory
	if out == nil {
		in.broken = true // the guest wrote nonsense
		return nil, err
	}
	if serr != nil {
		return out, serr
	}
	return out, err
}

// chunkTime is what one call into the guest aims to take: short enough
// that a cancellation is seen within a few milliseconds, and that the host's
// garbage collector, which cannot stop a goroutine inside compiled
// WebAssembly, is not held up; long enough that the cost of a call (about a
// microsecond) does not matter.
const chunkTime = time.Millisecond

// chunker sizes the chunks of a run, in iterations a call, by the time the
// calls take: an iteration may cost a microsecond or a second, depending on
// the model, the batch, the method and how many samples still run.
type chunker struct {
	iters int // the next chunk
}

// next returns the chunk after one of c.iters iterations that took took.
// It grows at most twofold a call, so that one cheap call (the samples
// finishing, a short preparation step) cannot make the next one long, and
// shrinks at once in proportion.
func (c *chunker) next(took time.Duration) int {
	took = max(took, time.Microsecond)
	want := float64(c.iters) * float64(chunkTime) / float64(took)
	c.iters = int(min(max(want, 1), 2*float64(c.iters), math.MaxInt32))
	return c.iters
}

// steps runs a run to its end, or until ctx is done or the recorder fails,
// in which case it cancels the run and returns that error.
func (in *instance) steps(ctx context.Context, run int32, rec api.Recorder) error {
	c := chunker{iters: 1} // the first call measures
	for {
		if err := ctx.Err(); err != nil {
			return in.cancel(ctx, run, err)
		}
		chunk := c.iters
		if rec != nil {
			chunk = 1 // the recorder sees every iteration, and can stop after any
		}
		start := time.Now()
		more, err := in.check(ctx, fnStep, uint64(run), uint64(chunk))
		if err != nil {
			return err
		}
		c.next(time.Since(start))
		if rec != nil {
			if _, err := in.check(ctx, fnProgress, uint64(run), uint64(in.out)); err != nil {
				return err
			}
			b, err := in.view(in.out, abi.ProgressSize)
			if err != nil {
				return err
			}
			it, err := abi.DecodeProgress(b)
			if err != nil {
				return err
			}
			if it.Iteration > 0 { // the chunk ran an iteration
				if err := rec.Record(it); err != nil {
					return in.cancel(ctx, run, err)
				}
			}
		}
		if more == 0 {
			return nil
		}
	}
}

// cancel stops a run's remaining samples and returns why.
func (in *instance) cancel(ctx context.Context, run int32, why error) error {
	// The call must go through even though ctx is done: wazero does not
	// watch it (no WithCloseOnContextDone).
	if _, err := in.check(context.WithoutCancel(ctx), fnCancel, uint64(run)); err != nil {
		return err
	}
	return why
}

// freeModel releases a model's handle in the guest.
func (in *instance) freeModel(ctx context.Context, m *Model) error {
	h, ok := in.models[m]
	if !ok {
		return nil
	}
	delete(in.models, m)
	_, err := in.check(ctx, fnFreeModel, uint64(h))
	return err
}

// trap marks the instance broken and describes the failure with what the
// guest wrote to standard error.
func (in *instance) trap(err error) error {
	in.broken = true
	return &TrapError{Err: err, Stderr: in.stderr.String(), MemoryLimit: in.memory}
}

// TrapError is a failure of the WebAssembly instance itself: a trap, an
// exit, memory exhausted. The instance is thrown away; the Runtime goes on
// with a new one. errors.Is(err, ErrTrap) holds, and errors.Is(err,
// ErrOutOfMemory) too when the guest ran out of memory.
//
// Its message is one line: the first of the failure and of the guest's
// standard error (the reason; the stack traces that follow are in Err and
// Stderr).
type TrapError struct {
	Err         error
	Stderr      string // the start of what the guest wrote to standard error
	MemoryLimit int64  // the instance's memory limit, in bytes
}

func (e *TrapError) Error() string {
	msg := "host: WebAssembly instance failed: " + firstLine(e.Err.Error())
	if e.Is(ErrOutOfMemory) {
		msg = fmt.Sprintf("host: WebAssembly instance out of memory: the call needed more than the instance's limit of %d MiB (Config.MemoryLimit)", e.MemoryLimit>>20)
	}
	if s := firstLine(e.Stderr); s != "" {
		msg += " (guest: " + s + ")"
	}
	return msg
}

// firstLine returns the first non-blank line of s, trimmed.
func firstLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

func (e *TrapError) Unwrap() error { return e.Err }

// Is reports whether target is ErrTrap, or ErrOutOfMemory for an instance
// that ran out of memory.
func (e *TrapError) Is(target error) bool {
	switch target {
	case ErrTrap:
		return true
	case ErrOutOfMemory:
		return strings.Contains(e.Stderr, "out of memory")
	}
	return false
}

// capped keeps the first max bytes written to it: a Go runtime failure
// starts with its reason.
type capped struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *capped) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max - len(t.b); room > 0 {
		t.b = append(t.b, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (t *capped) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
