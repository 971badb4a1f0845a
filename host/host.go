// Package host runs implicit models sandboxed: core compiled to WebAssembly
// (package wasm) and run by wazero, with no cgo.
//
// Its API mirrors core/model's, with the shared types of package api, so
// that switching between native and sandboxed execution is one line:
//
//	m, err := model.Load(file)              // native (core/model)
//	m, err := rt.Load(ctx, file)            // sandboxed; rt is a *host.Runtime
//	out, err := m.Infer(ctx, x, settings)   // either way
//
// The package links no numerical engine: the engine runs inside the module,
// and only api's types cross over.
//
// A Runtime compiles the module once (optionally through an on-disk cache)
// and keeps a pool of instances, so that calls from many goroutines run in
// parallel, never two in one instance. Each instance has a memory cap and no
// filesystem, network, environment or arguments. A solve runs in bounded
// chunks of iterations, and the context is checked between them: a deadline
// or cancellation stops it promptly, and the samples still running come
// back as api.Canceled with ctx's error, as natively. An instance that traps
// or runs out of memory is thrown away and replaced; the Runtime keeps
// serving.
//
// Errors are the engine's: errors.Is(err, api.ErrModel) for a bad model
// file, api.ErrProblem for bad inputs or settings, and an *api.SolveError
// wrapping api.ErrDiverged or api.ErrNonFinite for a failed sample. A
// failed instance gives a *TrapError (ErrTrap, ErrOutOfMemory).
package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/implicitlab/implicit/wasm"
)

// Errors of the Runtime itself, testable with errors.Is.
var (
	// ErrClosed: the Runtime or the Model was closed.
	ErrClosed = errors.New("host: closed")
	// ErrTrap: the WebAssembly instance failed (trapped, exited or ran out
	// of memory) and was replaced. The error is a *TrapError.
	ErrTrap = errors.New("host: WebAssembly instance failed")
	// ErrOutOfMemory: the instance reached its memory limit.
	ErrOutOfMemory = errors.New("host: WebAssembly instance out of memory")
	// ErrModule: the module does not have the ABI this host speaks.
	ErrModule = errors.New("host: incompatible WebAssembly module")
)

// Config configures a Runtime. The zero value is ready to use.
type Config struct {
	// CacheDir, if not empty, is a directory where compiled code is kept
	// across processes (wazero's compilation cache), so that a later New
	// skips the compilation. It is created if missing. A cache that cannot
	// be used (not creatable, read-only and empty, full, corrupt) does not
	// fail New: the module is compiled without it, and Warnings says why.
	CacheDir string
	// Cache, if not nil, is a compilation cache shared with other Runtimes
	// of the process (wazero.NewCompilationCache, or
	// NewCompilationCacheWithDir), so that they compile the module once. It
	// takes the place of CacheDir, and its owner closes it after the
	// Runtimes that use it.
	Cache wazero.CompilationCache
	// Warnings, if not nil, gets one line for each problem New works
	// around (a compilation cache it cannot use).
	Warnings io.Writer
	// Instances bounds the instances, and so the calls that run in
	// parallel; 0 means runtime.GOMAXPROCS(0).
	Instances int
	// NoSIMD runs the module's own Go kernels rather than the WebAssembly
	// SIMD matrix product (wasm.Kernels) the host otherwise wires into each
	// instance. The results are the same bit for bit; it is slower, and
	// there for comparisons.
	NoSIMD bool
	// MemoryLimit caps the memory of each instance, in bytes, rounded down
	// to 64 KiB pages; 0 means DefaultMemoryLimit. A call that needs more
	// fails with ErrOutOfMemory.
	MemoryLimit int64
}

// DefaultMemoryLimit is an instance's memory cap when Config sets none.
const DefaultMemoryLimit = 1 << 30

const (
	pageSize     = 64 << 10
	minMemory    = 16 << 20 // the Go runtime's own needs, with room to work
	maxMemory    = 4 << 30  // a 32-bit address space
	maxInstances = 1024
)

// Runtime runs the module. It is safe for concurrent use.
type Runtime struct {
	rt       wazero.Runtime
	cache    wazero.CompilationCache // the cache New opened, closed with the Runtime
	compiled wazero.CompiledModule
	memory   int64 // each instance's memory limit, in bytes
	kernels  *kernels

	idle  chan *instance // instances ready for a call
	slots chan struct{}  // one token per live instance
	// closing is canceled by Close: calls under way stop at their next
	// chunk, and those waiting for an instance return.
	closing context.Context
	stop    context.CancelFunc
	mu      sync.Mutex     // guards closed and calls.Add
	closed  bool           // set by Close: no call starts after it
	calls   sync.WaitGroup // the calls under way, which Close waits for
	close   sync.Once
}

// New compiles the module and starts one instance, so that a bad
// configuration fails here.
func New(ctx context.Context, c Config) (*Runtime, error) {
	if c.Instances < 0 || c.Instances > maxInstances {
		return nil, fmt.Errorf("host: Config.Instances %d (want 0 to %d)", c.Instances, maxInstances)
	}
	if c.Instances == 0 {
		c.Instances = runtime.GOMAXPROCS(0)
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.MemoryLimit < minMemory || c.MemoryLimit > maxMemory {
		return nil, fmt.Errorf("host: Config.MemoryLimit %d bytes (want %d MiB to %d GiB)", c.MemoryLimit, minMemory>>20, maxMemory>>30)
	}
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(uint32(c.MemoryLimit / pageSize)).
		WithCloseOnContextDone(false) // about ten times slower on Go code; chunks instead
	r := &Runtime{
		memory: c.MemoryLimit / pageSize * pageSize,
		idle:   make(chan *instance, c.Instances),
		slots:  make(chan struct{}, c.Instances),
	}
	r.closing, r.stop = context.WithCancel(context.Background())
	if err := r.compile(ctx, rc, c); err != nil {
		r.Close(ctx)
		return nil, err
	}
	r.slots <- struct{}{}
	in, err := r.newInstance(ctx)
	if err != nil {
		<-r.slots
		r.Close(ctx)
		return nil, err
	}
	r.idle <- in
	return r, nil
}

// compile makes the wazero runtime and compiles the module, through the
// compilation cache c names if it can. wazero fails a compilation whose
// cache it cannot read or write; the module is then compiled again without
// the cache, and c.Warnings told.
func (r *Runtime) compile(ctx context.Context, rc wazero.RuntimeConfig, c Config) error {
	cache, err := c.Cache, error(nil)
	if cache == nil && c.CacheDir != "" {
		// It returns a cache with the error, which cannot be used.
		if dc, derr := wazero.NewCompilationCacheWithDir(c.CacheDir); derr != nil {
			err = derr
		} else {
			cache, r.cache = dc, dc
		}
	}
	if cache != nil {
		if err = r.compileWith(ctx, rc.WithCompilationCache(cache), c.NoSIMD); err == nil {
			return nil
		}
		r.closeEngine(ctx)
	}
	if err != nil && c.Warnings != nil {
		where := c.CacheDir
		if c.Cache != nil {
			where = "Config.Cache"
		}
		fmt.Fprintf(c.Warnings, "warning: the WebAssembly compilation cache (%s) cannot be used, compiling without it: %v\n", where, err)
	}
	return r.compileWith(ctx, rc, c.NoSIMD)
}

func (r *Runtime) compileWith(ctx context.Context, rc wazero.RuntimeConfig, noSIMD bool) error {
	r.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.rt); err != nil {
		return fmt.Errorf("host: WASI: %w", err)
	}
	if err := r.instantiateKernelImports(ctx, noSIMD); err != nil {
		return err
	}
	// Compile on every core: most of a cold start without the cache.
	compiled, err := r.rt.CompileModule(experimental.WithCompilationWorkers(ctx, runtime.GOMAXPROCS(0)), wasm.Module())
	if err != nil {
		return fmt.Errorf("host: compiling the module: %w", err)
	}
	r.compiled = compiled
	return nil
}

// closeEngine closes the wazero runtime, with its instances and compiled
// code, and the cache New opened.
func (r *Runtime) closeEngine(ctx context.Context) error {
	var err error
	if r.rt != nil {
		err = r.rt.Close(ctx)
		r.rt, r.compiled = nil, nil
	}
	if r.cache != nil {
		if cerr := r.cache.Close(ctx); err == nil {
			err = cerr
		}
		r.cache = nil
	}
	return err
}

// Close releases the Runtime, its instances and compiled code. It cancels
// the calls under way, which stop at their next chunk of iterations with
// the samples still running Canceled and an error wrapping ErrClosed, and
// waits for them to return. Later calls return ErrClosed.
func (r *Runtime) Close(ctx context.Context) error {
	var err error
	r.close.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		r.stop()
		r.calls.Wait()
		err = r.closeEngine(ctx)
	})
	return err
}

// enter counts a call under way, unless the Runtime is closed.
func (r *Runtime) enter() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.calls.Add(1)
	return nil
}

// acquire returns an idle instance, or starts one if fewer than
// Config.Instances are live, or waits.
func (r *Runtime) acquire(ctx context.Context) (*instance, error) {
	select {
	case in := <-r.idle:
		return in, nil
	default:
	}
	select {
	case in := <-r.idle:
		return in, nil
	case r.slots <- struct{}{}:
		in, err := r.newInstance(ctx)
		if err != nil {
			<-r.slots
			return nil, err
		}
		return in, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-r.closing.Done():
		return nil, ErrClosed
	}
}

// release returns an instance to the pool, or throws it away if it broke.
func (r *Runtime) release(ctx context.Context, in *instance) {
	if in.broken {
		in.close(context.WithoutCancel(ctx))
		<-r.slots
		return
	}
	r.idle <- in
}

// with runs f on an instance where m is loaded (loading it there first if
// needed), after freeing the models closed since the instance last ran.
//
// Close cancels the call: f's context is done then, with ErrClosed its cause.
func (r *Runtime) with(ctx context.Context, m *Model, f func(ctx context.Context, in *instance, h int32) error) error {
	if err := r.enter(); err != nil {
		return err
	}
	defer r.calls.Done()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(r.closing, func() { cancel(ErrClosed) })()
	err := r.call(ctx, m, f)
	if err != nil && !errors.Is(err, ErrClosed) && context.Cause(ctx) == ErrClosed {
		err = fmt.Errorf("%w during the call: %w", ErrClosed, err)
	}
	return err
}

func (r *Runtime) call(ctx context.Context, m *Model, f func(ctx context.Context, in *instance, h int32) error) error {
	in, err := r.acquire(ctx)
	if err != nil {
		return err
	}
	defer r.release(ctx, in)
	for other := range in.models {
		if other.closed() {
			if err := in.freeModel(ctx, other); err != nil {
				return err
			}
		}
	}
	if m.closed() {
		return fmt.Errorf("%w: model", ErrClosed)
	}
	h, ok := in.models[m]
	if !ok {
		if h, err = in.load(ctx, m.file); err != nil {
			return err
		}
		in.models[m] = h
	}
	return f(ctx, in, h)
}
