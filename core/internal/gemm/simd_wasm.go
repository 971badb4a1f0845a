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

// partialPanel32 is partialPanel for a float32 p, on a row already in
// float32: the columns of B's last panel when it is partial (n not a
// multiple of 16), as mulAdd32's single rows add them.
func (p *Packed) partialPanel32(crow []float64, row []float32, s *Scratch) {
	k, n, full := p.k, p.n, p.n/nr32
	if full*nr32 == n {
		return
	}
	t := s.tmp[:nr32]
	clear(t)
	row1xN32(k, row, p.panels32[full*k*nr32:(full+1)*k*nr32], t, 1)
	for q, v := range t[:n-full*nr32] {
		crow[full*nr32+q] += v
	}
}
