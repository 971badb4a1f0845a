package main

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
)

// The steady problem: for a vorticity forcing g (zero mean), the steady
// vorticity w of
//
//	u·∇w = νΔw + g,   ∇·u = 0,
//
// on the solver's grid and modes (2/3-rule dealiased advection, ns.go). In
// spectral form, with λ = 4π²|k|² the symbol of −Δ,
//
//	ŵ_k = (ĝ_k − N̂_k(w)) / (νλ_k),   N = u·∇w,   ŵ_0 = 0,
//
// which SteadyState solves as a fixed point of the Oseen-type map on the
// right, accelerated by Anderson (core/fixedpoint): without advection it is
// the Stokes solution in one step. Every solution's steady residual
// ‖νΔw − u·∇w + g‖/‖g‖ (over the kept modes) is measured, not assumed.

// errNoSteadyState is returned when the iteration does not reach the
// required residual: the forcing is too strong for a stable steady state at
// this viscosity, or the grid too coarse for it.
var errNoSteadyState = errors.New("no steady state reached")

// steadyMaxIter bounds the fixed-point iterations of one steady solve.
const steadyMaxIter = 400

// SteadyState returns the steady vorticity for the vorticity forcing g
// (n×n, its mean ignored), the steady residual and the iterations taken;
// an error wrapping errNoSteadyState if the residual stays above tol.
func (s *NS) SteadyState(ctx context.Context, g []float64, tol float64) ([]float64, float64, int, error) {
	if len(g) != s.n*s.n {
		return nil, 0, 0, fmt.Errorf("forcing of %d values on a %d×%d grid", len(g), s.n, s.n)
	}
	gh := s.spectrum(g)
	gh[0] = 0
	nl := make([]complex128, len(gh))
	m := len(gh)
	var failed error
	p := fixedpoint.Problem{Dim: 2 * m, F: func(dst, z []float64) {
		w := unpack(z)
		if _, err := s.advection(w, nl); err != nil && failed == nil {
			failed = err
		}
		for k := range w {
			var v complex128
			if s.keep[k] && s.lap[k] > 0 {
				v = (gh[k] - nl[k]) / complex(s.nu*s.lap[k], 0)
			}
			dst[2*k], dst[2*k+1] = real(v), imag(v)
		}
	}}
	res, err := fixedpoint.Solve(ctx, p, api.Settings{Method: &api.Anderson{Memory: 10, Mixing: 0.5}, RelTol: 1e-13, MaxIter: steadyMaxIter})
	if failed != nil {
		return nil, 0, 0, fmt.Errorf("%w: %w", errNoSteadyState, failed)
	}
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%w: %w", errNoSteadyState, err)
	}
	w := unpack(res.Z)
	r := s.steadyResidual(w, gh)
	if !(r <= tol) {
		return nil, r, res.Iterations, fmt.Errorf("%w: steady residual %.2g after %d iterations (want ≤ %g)", errNoSteadyState, r, res.Iterations, tol)
	}
	return s.grid(w), r, res.Iterations, nil
}

// unpack reads interleaved real and imaginary parts.
func unpack(z []float64) []complex128 {
	w := make([]complex128, len(z)/2)
	for k := range w {
		w[k] = complex(z[2*k], z[2*k+1])
	}
	return w
}

// SteadyResidual returns ‖νΔw − u·∇w + g‖/‖g‖ for the grid fields w and g,
// over the kept modes.
func (s *NS) SteadyResidual(w, g []float64) float64 {
	gh := s.spectrum(g)
	gh[0] = 0
	return s.steadyResidual(s.spectrum(w), gh)
}

func (s *NS) steadyResidual(w, g []complex128) float64 {
	nl := make([]complex128, len(w))
	if _, err := s.advection(w, nl); err != nil {
		return math.Inf(1)
	}
	var r2, g2 float64
	for k := range w {
		if !s.keep[k] {
			continue
		}
		d := complex(-s.nu*s.lap[k], 0)*w[k] - nl[k] + g[k]
		if s.lap[k] == 0 {
			d = 0 // the mean: not part of the steady problem
		}
		r2 += real(d)*real(d) + imag(d)*imag(d)
		g2 += real(g[k])*real(g[k]) + imag(g[k])*imag(g[k])
	}
	return math.Sqrt(r2 / g2)
}

// StokesSteady is the classical linear prediction: the steady state without
// advection, ŵ_k = ĝ_k/(νλ_k), exactly.
func (s *NS) StokesSteady(g []float64) []float64 {
	w := s.spectrum(g)
	for k := range w {
		if s.lap[k] > 0 {
			w[k] /= complex(s.nu*s.lap[k], 0)
		} else {
			w[k] = 0
		}
	}
	return s.grid(w)
}

// Curl returns the vorticity forcing g = ∂f₂/∂x − ∂f₁/∂y of the velocity
// forcing (f₁, f₂) (n×n each), spectrally: the part of a body force that
// drives the vorticity (its gradient part is balanced by the pressure).
func (s *NS) Curl(f1, f2 []float64) []float64 {
	a, b := s.spectrum(f1), s.spectrum(f2)
	n := s.n
	g := make([]complex128, n*n)
	for i := range n {
		for j := range n {
			m := i*n + j
			g[m] = complex(0, s.k[j])*b[m] - complex(0, s.k[i])*a[m]
		}
	}
	return s.grid(g)
}

// SetForcing sets the vorticity forcing Evolve adds to g (n×n).
func (s *NS) SetForcing(g []float64) { s.force = s.spectrum(g) }
