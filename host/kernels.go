package host

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/implicitlab/implicit/internal/abi"
	"github.com/implicitlab/implicit/wasm"
)

// kernels wires the module's imports implicit_kernels.available and
// implicit_kernels.f64_muladd. Each instance of the module gets an instance
// of the kernels' module (wasm.Kernels: WebAssembly SIMD) that imports its
// memory; the imports, host functions, forward to the calling instance's
// own. With none (Config.NoSIMD), available answers 0 and the module runs
// its Go kernels, with the same results.
type kernels struct {
	compiled wazero.CompiledModule // nil: no SIMD kernels
	muladd   sync.Map              // the calling module (api.Module) → its kernels' f64_muladd
	calls    atomic.Int64          // f64_muladd calls forwarded, for the tests
}

// instantiateKernelImports compiles the kernels' module (unless off) and
// instantiates the host module the main module imports them from.
func (r *Runtime) instantiateKernelImports(ctx context.Context, off bool) error {
	k := &kernels{}
	if !off {
		compiled, err := r.rt.CompileModule(ctx, wasm.Kernels())
		if err != nil {
			return fmt.Errorf("host: compiling the SIMD kernels: %w", err)
		}
		k.compiled = compiled
	}
	_, err := r.rt.NewHostModuleBuilder(abi.ImportKernels).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, mod api.Module, stack []uint64) {
		stack[0] = 0
		if _, ok := k.muladd.Load(mod); ok {
			stack[0] = 1
		}
	}), nil, []api.ValueType{api.ValueTypeI32}).Export("available").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		fn, ok := k.muladd.Load(mod)
		k.calls.Add(1)
		if !ok {
			panic("implicit_kernels.f64_muladd called, but available said 0")
		}
		if err := fn.(api.Function).CallWithStack(ctx, stack); err != nil {
			panic(err) // the module traps, and the instance is replaced
		}
	}), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).Export("f64_muladd").
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("host: the kernels' imports: %w", err)
	}
	r.kernels = k
	return nil
}

// attach instantiates the kernels' module against mod's memory, if there
// are kernels, and returns what detaches them.
func (k *kernels) attach(ctx context.Context, rt wazero.Runtime, mod api.Module) (func(context.Context), error) {
	if k.compiled == nil {
		return func(context.Context) {}, nil
	}
	resolve := experimental.WithImportResolver(ctx, func(name string) api.Module {
		if name == "implicit" {
			return mod
		}
		return nil
	})
	km, err := rt.InstantiateModule(resolve, k.compiled, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		return nil, fmt.Errorf("host: instantiating the SIMD kernels: %w", err)
	}
	k.muladd.Store(mod, km.ExportedFunction("f64_muladd"))
	return func(ctx context.Context) {
		k.muladd.Delete(mod)
		_ = km.Close(ctx)
	}, nil
}
