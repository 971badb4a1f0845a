package host

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/implicitlab/implicit/core/model"
)

// randomDense returns a direct deq-dense model whose W has spectral norm
// about 0.7 (a Gaussian h×h matrix with entries of variance 1/h has norm
// about 2), so that plain iteration converges.
func randomDense(seed uint64, act model.Activation, h, p, q int) *model.Dense {
	rng := rand.New(rand.NewPCG(seed, 11))
	mat := func(rows, cols int, scale float64) model.Matrix {
		m := model.NewMatrix(rows, cols)
		for i := range m.Data {
			m.Data[i] = scale * rng.NormFloat64()
		}
		return m
	}
	return &model.Dense{
		Activation: act, Param: model.Direct,
		W: mat(h, h, 0.35/math.Sqrt(float64(h))),
		U: mat(h, p, 1/math.Sqrt(float64(p))), Bias: mat(1, h, 0.1).Data,
		C: mat(q, h, 1/math.Sqrt(float64(h))), OutBias: mat(1, q, 0.1).Data,
	}
}

func randomInputs(seed uint64, n, p int) []float64 {
	rng := rand.New(rand.NewPCG(seed, 12))
	x := make([]float64, n*p)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	return x
}

// randomMLP returns an mlp model.
func randomMLP(seed uint64, act model.Activation, h, p, q int) *model.MLP {
	d := randomDense(seed, act, h, p, q)
	return &model.MLP{Activation: act, U: d.U, Bias: d.Bias, C: d.C, OutBias: d.OutBias}
}

// encode returns a's model file.
func encode(tb testing.TB, d model.Architecture) []byte {
	tb.Helper()
	b, err := model.Encode(d, model.F64)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// pair loads one model file natively and into rt.
func pair(tb testing.TB, rt *Runtime, file []byte) (*model.Model, *Model) {
	tb.Helper()
	nm, err := model.Load(file) // in the file's precision, as the guest loads it
	if err != nil {
		tb.Fatal(err)
	}
	wm, err := rt.Load(context.Background(), file)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { wm.Close() })
	return nm, wm
}

// testCache is the package's compilation cache, shared by the Runtimes of
// its tests (Config.Cache): the module is compiled, or loaded from the cache
// directory, once a test process rather than once a Runtime, which matters
// under the race detector.
var testCache wazero.CompilationCache

func TestMain(m *testing.M) {
	var err error
	if testCache, err = wazero.NewCompilationCacheWithDir(testCacheDir()); err != nil {
		testCache = wazero.NewCompilationCache() // in memory only
	}
	code := m.Run()
	if shared.rt != nil {
		shared.rt.Close(context.Background())
	}
	testCache.Close(context.Background())
	os.Exit(code)
}

// testConfig is c with the package's compilation cache.
func testConfig(c Config) Config {
	c.Cache = testCache
	return c
}

// newRuntime is New(testConfig(c)), closed when the test ends.
func newRuntime(tb testing.TB, c Config) *Runtime {
	tb.Helper()
	rt, err := New(context.Background(), testConfig(c))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

// shared is one Runtime for the tests that need no special configuration.
var shared struct {
	once sync.Once
	rt   *Runtime
	err  error
}

// noSIMDRuntime is a Runtime of its own whose instances run the module's Go
// kernels (Config.NoSIMD), closed when the test ends.
func noSIMDRuntime(tb testing.TB) *Runtime {
	tb.Helper()
	return newRuntime(tb, Config{NoSIMD: true})
}

func sharedRuntime(tb testing.TB) *Runtime {
	tb.Helper()
	shared.once.Do(func() {
		shared.rt, shared.err = New(context.Background(), testConfig(Config{}))
	})
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.rt
}

// testCacheDir keeps compiled code between test runs, in the user cache, or
// the temporary directory.
func testCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "implicit-test", "wazero")
}
