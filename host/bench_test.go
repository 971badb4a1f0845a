package host

import (
	"context"
	"fmt"
	"testing"

	"github.com/implicitlab/implicit/core"
)

// BenchmarkInfer is a forward solve of a direct deq-dense model (p=64,
// q=10, relu), natively and in the sandbox, in one run: exactly 30 Picard
// iterations (the kernels and the solver's bookkeeping), and Anderson to a
// relative residual of 1e-4. With -tags purego the native side runs the
// same Go kernels as the WebAssembly build.
func BenchmarkInfer(b *testing.B) {
	rt := sharedRuntime(b)
	ctx := context.Background()
	for _, h := range []int{64, 256} {
		file := encode(b, randomDense(21, core.ReLU, h, 64, 10))
		nm, wm := pair(b, rt, file)
		for _, n := range []int{1, 64} {
			x := randomInputs(22, n, 64)
			for _, c := range []struct {
				name string
				s    core.Settings
			}{
				{"picard30", core.Settings{Method: &core.Picard{}, MaxIter: 30, RelTol: -1}},
				{"anderson", core.Settings{Method: &core.Anderson{}, MaxIter: 500, RelTol: 1e-4}},
			} {
				for _, side := range []struct {
					name  string
					infer func(context.Context, []float64, core.Settings) (*core.Output, error)
				}{{"native", nm.Infer}, {"wasm", wm.Infer}} {
					b.Run(fmt.Sprintf("h=%d/batch=%d/%s/%s", h, n, c.name, side.name), func(b *testing.B) {
						var iters int
						for b.Loop() {
							out, err := side.infer(ctx, x, c.s)
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
