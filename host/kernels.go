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

// kernels wires the module's imports implicit_kernels.available,
// f64_muladd and f32_muladd. Each instance of the module gets an instance
// of the kernels' module (wasm.Kernels: WebAssembly SIMD) that imports its
// memory; the imports, host functions, forward to the calling instance's
// own. With none (Config.NoSIMD), available answers 0 and the module runs
// its Go kernels, with the same results.
type kernels struct {
	compiled wazero.CompiledModule // nil: no SIMD kernels
	attached sync.Map              // the calling module (api.Module) → its *kernelFuncs
	calls    atomic.Int64          // f64_muladd calls forwarded, for the tests
	calls32  atomic.Int64          // f32_muladd calls forwarded, for the tests
}

// kernelFuncs are the exports of one instance of the kernels' module.
type kernelFuncs struct {
	f64, f32 api.Function
}

// kernelParams is the signature of f64_muladd and f32_muladd: c, a, b, m,
// k, np, ldc.
var kernelParams = []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}

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
	// forward is the import name, forwarded to the calling instance's
	// kernel that pick chooses.
	forward := func(name string, calls *atomic.Int64, pick func(*kernelFuncs) api.Function) api.GoModuleFunc {
		return func(ctx context.Context, mod api.Module, stack []uint64) {
			f, ok := k.attached.Load(mod)
			calls.Add(1)
			if !ok {
				panic("implicit_kernels." + name + " called, but available said 0")
			}
			if err := pick(f.(*kernelFuncs)).CallWithStack(ctx, stack); err != nil {
				panic(err) // the module traps, and the instance is replaced
			}
		}
	}
	_, err := r.rt.NewHostModuleBuilder(abi.ImportKernels).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, mod api.Module, stack []uint64) {
		stack[0] = 0
		if _, ok := k.attached.Load(mod); ok {
			stack[0] = 1
		}
	}), nil, []api.ValueType{api.ValueTypeI32}).Export("available").
		NewFunctionBuilder().WithGoModuleFunction(forward("f64_muladd", &k.calls, func(f *kernelFuncs) api.Function { return f.f64 }), kernelParams, nil).Export("f64_muladd").
		NewFunctionBuilder().WithGoModuleFunction(forward("f32_muladd", &k.calls32, func(f *kernelFuncs) api.Function { return f.f32 }), kernelParams, nil).Export("f32_muladd").
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
	k.attached.Store(mod, &kernelFuncs{f64: km.ExportedFunction("f64_muladd"), f32: km.ExportedFunction("f32_muladd")})
	return func(ctx context.Context) {
		k.attached.Delete(mod)
		_ = km.Close(ctx)
	}, nil
}
