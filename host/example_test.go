package host_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/host"
)

// Run a model sandboxed: the same calls as with core/model's Load, but the model
// is decoded and solved inside WebAssembly.
func Example() {
	ctx := context.Background()
	// Compile the module, or load the compiled code from a cache directory.
	rt, err := host.New(ctx, host.Config{CacheDir: filepath.Join(os.TempDir(), "implicit-wazero")})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close(ctx)

	file, err := os.ReadFile("../internal/models/digits.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	m, err := rt.Load(ctx, file) // natively: model.Load(file)
	if err != nil {
		log.Fatal(err)
	}

	// An 8×8 handwritten 7, pixels 0..16 scaled to [0, 1].
	pixels := []float64{
		0, 0, 7, 8, 13, 16, 15, 1,
		0, 0, 7, 7, 4, 11, 12, 0,
		0, 0, 0, 0, 8, 13, 1, 0,
		0, 4, 8, 8, 15, 15, 6, 0,
		0, 2, 11, 15, 15, 4, 0, 0,
		0, 0, 0, 16, 5, 0, 0, 0,
		0, 0, 9, 15, 1, 0, 0, 0,
		0, 0, 13, 5, 0, 0, 0, 0,
	}
	for i := range pixels {
		pixels[i] /= 16
	}
	out, err := m.Infer(ctx, pixels, api.Settings{})
	if err != nil {
		log.Fatal(err)
	}
	best := 0
	for c, score := range out.Y {
		if score > out.Y[best] {
			best = c
		}
	}
	fmt.Printf("digit %d, %s\n", best, out.Result.Status)
	// Output: digit 7, converged
}

// A long solve stops when its context is done: the samples still running
// come back Canceled, with the context's error.
func ExampleModel_Infer_deadline() {
	ctx := context.Background()
	rt, err := host.New(ctx, host.Config{Instances: 1, CacheDir: filepath.Join(os.TempDir(), "implicit-wazero")})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close(ctx)
	file, err := os.ReadFile("../testdata/torch/direct_tanh.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	m, err := rt.Load(ctx, file)
	if err != nil {
		log.Fatal(err)
	}
	p := m.Info().In

	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	// A tolerance that is never met: the solve would run a billion iterations.
	out, err := m.Infer(ctx, make([]float64, p), api.Settings{Method: &api.Picard{}, MaxIter: 1e9, RelTol: -1})
	fmt.Println(err, out.Result.Status)
	// Output: context deadline exceeded canceled
}
