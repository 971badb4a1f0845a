//go:build !(wasm && implicit_kernels)

package gemm

// simdMulAdd is MulAdd by the host's WebAssembly SIMD kernels, in the
// guest module's build (simd_wasm.go); elsewhere there are none.
func (p *Packed) simdMulAdd(c, a []float64, m int, s *Scratch) bool { return false }
