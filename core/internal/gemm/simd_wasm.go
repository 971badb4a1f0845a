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

//go:wasmimport implicit_kernels f32_muladd
func kernelMulAdd32(c *float64, a, b *float32, m, k, np, ldc int32)

// simdAvailable asks the host once, on first use (not while the module
// initialises, before the host has wired the kernels).
var simdAvailable = sync.OnceValue(func() bool { return kernelsAvailable() == 1 })

// simdMulAdd runs MulAdd's rows in pairs through the host's kernel (one
// call for the whole product's full panels), a partial last panel in Go,
// and an odd last row through MulAdd's Go path, whose sparse kernel skips a
// relu's zeros. It reports false, for MulAdd to do it all, for a single
// row or if the host has no kernels. A float32 p (mulAdd32 asks) goes
// through f32_muladd, on A's rows rounded to float32 into s.a32.
func (p *Packed) simdMulAdd(c, a []float64, m int, s *Scratch) bool {
	k, n := p.k, p.n
	w := nr
	if p.f32 {
		w = nr32
	}
	full, pairs := n/w, m&^1
	if full == 0 || pairs == 0 || !simdAvailable() || m > 1<<24 || k > 1<<24 || n > 1<<24 {
		return false
	}
	if p.f32 {
		if cap(s.a32) < pairs*k {
			s.a32 = make([]float32, pairs*k)
		}
		a32 := s.a32[:pairs*k]
		toFloat32(a32, a[:pairs*k])
		kernelMulAdd32(&c[0], &a32[0], &p.panels32[0], int32(pairs), int32(k), int32(full), int32(n))
		for i := range pairs {
			p.partialPanel32(c[i*n:(i+1)*n], a32[i*k:(i+1)*k], s)
		}
	} else {
		kernelMulAdd(&c[0], &a[0], &p.panels[0], int32(pairs), int32(k), int32(full), int32(n))
		for i := range pairs {
			p.partialPanel(c[i*n:(i+1)*n], a[i*k:(i+1)*k], s)
		}
	}
	if pairs < m {
		p.MulAdd(c[pairs*n:m*n], a[pairs*k:m*k], 1, s)
	}
	return true
}
