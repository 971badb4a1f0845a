//go:build wasm && implicit_kernels

package gemm

import "sync"

// The WebAssembly SIMD kernels of wasm/kernels, which the host
// instantiates against this module's memory and forwards these imports to.
// A host without them answers 0 to kernelsAvailable, and the Go kernels
// run; both give the same bits.

//go:wasmimport implicit_kernels available
func kernelsAvailable() int32

//go:wasmimport implicit_kernels f64_muladd
func kernelMulAdd(c, a, b *float64, m, k, np, ldc int32)

// simdAvailable asks the host once, on first use (not while the module
// initialises, before the host has wired the kernels).
var simdAvailable = sync.OnceValue(func() bool { return kernelsAvailable() == 1 })

// simdMulAdd runs MulAdd's full panels in the host's kernel, one call for
// the whole product, and a partial last panel in Go. It reports false if
// the host has no kernels.
func (p *Packed) simdMulAdd(c, a []float64, m int, s *Scratch) bool {
	k, n := p.k, p.n
	full := n / nr
	if full == 0 || !simdAvailable() || m > 1<<24 || k > 1<<24 || n > 1<<24 {
		return false
	}
	kernelMulAdd(&c[0], &a[0], &p.panels[0], int32(m), int32(k), int32(full), int32(n))
	if full*nr == n {
		return true
	}
	panel := p.panels[full*k*nr : (full+1)*k*nr]
	t := s.tmp[:nr]
	for i := range m {
		clear(t)
		row1xN(k, a[i*k:(i+1)*k], panel, t, 1)
		for q, v := range t[:n-full*nr] {
			c[i*n+full*nr+q] += v
		}
	}
	return true
}
