package host

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/wasm"
)

// BenchmarkInfer is a forward solve of a direct deq-dense model (p=64,
// q=10, relu), natively and in the sandbox, in one run: exactly 30 Picard
// iterations (the kernels and the solver's bookkeeping), and Anderson to a
// relative residual of 1e-4; one thread each. "wasm" runs the host's
// WebAssembly SIMD kernels, "wasm-nosimd" the module's Go kernels. With
// -tags purego the native side runs the same Go kernels as the WebAssembly
// build.
func BenchmarkInfer(b *testing.B) {
	rt, plain := sharedRuntime(b), noSIMDRuntime(b)
	ctx := context.Background()
	for _, h := range []int{64, 256} {
		file := encode(b, randomDense(21, model.ReLU, h, 64, 10))
		nm, wm := pair(b, rt, file)
		pm, err := plain.Load(ctx, file)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range []int{1, 64} {
			x := randomInputs(22, n, 64)
			for _, c := range []struct {
				name string
				s    api.Settings
			}{
				{"picard30", api.Settings{Method: &api.Picard{}, MaxIter: 30, RelTol: -1, Workers: 1}},
				{"anderson", api.Settings{Method: &api.Anderson{}, MaxIter: 500, RelTol: 1e-4, Workers: 1}},
			} {
				for _, side := range []struct {
					name  string
					infer func(context.Context, []float64, api.Settings) (*api.Output, error)
				}{{"native", nm.Infer}, {"wasm", wm.Infer}, {"wasm-nosimd", pm.Infer}} {
					for _, prec := range []api.Precision{api.Float64, api.Float32} {
						s := c.s
						s.Precision = prec
						b.Run(fmt.Sprintf("h=%d/batch=%d/%s/%s/%s", h, n, c.name, side.name, prec), func(b *testing.B) {
							var iters int
							for b.Loop() {
								out, err := side.infer(ctx, x, s)
								if err != nil {
									b.Fatal(err)
								}
								iters = out.Result.Iterations
							}
							b.ReportMetric(float64(iters), "iters")
						})
					}
				}
			}
		}
	}
}

// BenchmarkInferConv is a deq-conv forward solve (8×8×1 images, C = 32,
// I = 16, G = 4, pool 2) by Anderson to 1e-4, natively and in the sandbox,
// batch 1 and 64.
func BenchmarkInferConv(b *testing.B) {
	rt, plain := sharedRuntime(b), noSIMDRuntime(b)
	ctx := context.Background()
	c, err := model.NewConv(model.ConvConfig{InChannels: 1, Height: 8, Width: 8, Channels: 32, Inner: 16, Groups: 4, Pool: 2, Out: 10}, rand.New(rand.NewPCG(1, 64)))
	if err != nil {
		b.Fatal(err)
	}
	nm, wm := pair(b, rt, encode(b, c))
	pm, err := plain.Load(ctx, encode(b, c))
	if err != nil {
		b.Fatal(err)
	}
	s := api.Settings{Method: &api.Anderson{Memory: 5}, RelTol: 1e-4, MaxIter: 100, Workers: 1}
	for _, n := range []int{1, 64} {
		x := randomInputs(65, n, 64)
		for _, side := range []struct {
			name  string
			infer func(context.Context, []float64, api.Settings) (*api.Output, error)
		}{{"native", nm.Infer}, {"wasm", wm.Infer}, {"wasm-nosimd", pm.Infer}} {
			b.Run(fmt.Sprintf("batch=%d/%s", n, side.name), func(b *testing.B) {
				for b.Loop() {
					out, err := side.infer(ctx, x, s)
					if err != nil || out.Result.Status != api.Converged {
						b.Fatal(err, out.Result.Status)
					}
				}
			})
		}
	}
}

// BenchmarkCancel is how long a sandboxed solve takes to return once its
// context is canceled, a few milliseconds into it: the median and the 99th
// percentile over the benchmark's runs, in ms. Direct deq-dense models of
// h = 1 to 1024 run Picard without end (an iteration costs from a
// microsecond to a few milliseconds); "pr-first" is the first
// Peaceman-Rachford solve of a monotone h = 1024 layer, which factors its
// resolvent (a fresh model each run).
func BenchmarkCancel(b *testing.B) {
	ctx := context.Background()
	rt := newRuntime(b, Config{Instances: 1})
	never := api.Settings{Method: &api.Picard{}, MaxIter: 1 << 30, RelTol: -1, NoTrace: true}
	rng := rand.New(rand.NewPCG(7, 8))
	// measure cancels solve; setup, if not nil, prepares each run.
	measure := func(b *testing.B, setup func(), solve func(ctx context.Context) error) {
		var lat []time.Duration
		for b.Loop() {
			if setup != nil {
				b.StopTimer()
				setup()
				b.StartTimer()
			}
			ctx, cancel := context.WithCancel(ctx)
			delay := time.Duration(1+rng.IntN(20)) * time.Millisecond
			var canceled time.Time
			time.AfterFunc(delay, func() { canceled = time.Now(); cancel() })
			err := solve(ctx)
			end := time.Now()
			if !errors.Is(err, context.Canceled) {
				b.Fatalf("%v, want context.Canceled", err)
			}
			lat = append(lat, end.Sub(canceled))
		}
		slices.Sort(lat)
		at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
		b.ReportMetric(at(0.5), "p50-ms")
		b.ReportMetric(at(0.99), "p99-ms")
	}
	for _, h := range []int{1, 16, 256, 1024} {
		_, wm := pair(b, rt, encode(b, randomDense(33, model.ReLU, h, 16, 4)))
		x := randomInputs(34, 1, 16)
		b.Run(fmt.Sprintf("picard/h=%d", h), func(b *testing.B) {
			measure(b, nil, func(ctx context.Context) error {
				_, err := wm.Infer(ctx, x, never)
				return err
			})
		})
	}
	d, err := model.NewDense(model.DenseConfig{Hidden: 1024, In: 16, Out: 4, Activation: model.ReLU, Param: model.Monotone}, rand.New(rand.NewPCG(35, 36)))
	if err != nil {
		b.Fatal(err)
	}
	file := encode(b, d)
	x := randomInputs(37, 1, 16)
	b.Run("pr-first/h=1024", func(b *testing.B) {
		var wm *Model
		setup := func() {
			if wm != nil {
				wm.Close()
			}
			var err error
			if wm, err = rt.Load(ctx, file); err != nil { // into the one instance
				b.Fatal(err)
			}
		}
		measure(b, setup, func(ctx context.Context) error {
			_, err := wm.Infer(ctx, x, api.Settings{Method: &api.PeacemanRachford{}})
			return err
		})
	})
}

// BenchmarkStart is the cold start: compiling the module without and with
// the compilation cache, creating an instance, and from a warm cache to the
// first result (New, Load of the digits model, Infer of one sample).
func BenchmarkStart(b *testing.B) {
	ctx := context.Background()
	module := wasm.Module()
	dir := b.TempDir()
	if rt, err := New(ctx, Config{CacheDir: dir}); err != nil { // fills the cache
		b.Fatal(err)
	} else {
		rt.Close(ctx)
	}
	compile := func(b *testing.B, cfg wazero.RuntimeConfig) {
		cctx := experimental.WithCompilationWorkers(ctx, runtime.GOMAXPROCS(0)) // as New does
		for b.Loop() {
			rt := wazero.NewRuntimeWithConfig(ctx, cfg)
			if _, err := rt.CompileModule(cctx, module); err != nil {
				b.Fatal(err)
			}
			rt.Close(ctx)
		}
	}
	b.Run("compile", func(b *testing.B) { compile(b, wazero.NewRuntimeConfig()) })
	b.Run("compile-cached", func(b *testing.B) {
		cache, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			b.Fatal(err)
		}
		defer cache.Close(ctx)
		compile(b, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	})
	b.Run("instantiate", func(b *testing.B) {
		rt := sharedRuntime(b)
		for b.Loop() {
			in, err := rt.newInstance(ctx)
			if err != nil {
				b.Fatal(err)
			}
			in.close(ctx)
		}
	})
	file, err := os.ReadFile("../internal/models/digits.safetensors")
	if err != nil {
		b.Fatal(err)
	}
	x := make([]float64, 64)
	b.Run("first-result-cached", func(b *testing.B) {
		for b.Loop() {
			rt, err := New(ctx, Config{CacheDir: dir})
			if err != nil {
				b.Fatal(err)
			}
			m, err := rt.Load(ctx, file)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.Infer(ctx, x, api.Settings{}); err != nil {
				b.Fatal(err)
			}
			rt.Close(ctx)
		}
	})
}
