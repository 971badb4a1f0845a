package main

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/dsp/fourier"
)

// NS integrates the 2D incompressible Navier–Stokes equations in vorticity
// form on the unit torus [0, 1)²,
//
//	∂w/∂t + u·∇w = νΔw + f,   ∇·u = 0,   w = ∂v/∂x − ∂u/∂y,
//
// pseudo-spectrally on an n×n grid: the velocity comes from the stream
// function, −Δψ = w, u = ∂ψ/∂y, v = −∂ψ/∂x; the advection term is formed
// on the grid and transformed back with the 2/3 rule (modes with
// 3·max(|k_x|, |k_y|) ≥ n are kept at zero, so the quadratic term is
// alias-free); the viscous term is stepped by Crank–Nicolson and advection
// and forcing by second-order Adams–Bashforth (Euler on the first step).
//
// Grids are row-major, w[i*n+j] = w(x_j, y_i) with x_j = j/n, y_i = i/n.
// An NS holds work buffers, so one must not be used by two goroutines at
// once.
type NS struct {
	n      int
	nu, dt float64
	fft    *fourier.CmplxFFT
	k      []float64    // angular wavenumber 2π·k of each index, 0 at the Nyquist index
	lap    []float64    // 4π²|k|², the symbol of −Δ, per mode
	keep   []bool       // the 2/3-rule mask
	force  []complex128 // the forcing's spectrum (zero without forcing)
	col    []complex128
	a, b   []complex128 // work: the packed velocity and gradient fields
}

// NSConfig describes a solver.
type NSConfig struct {
	N         int     // grid points a side; even, at least 4
	Viscosity float64 // ν > 0
	Step      float64 // the largest time step; Evolve shortens it to divide T
	// Forcing adds the benchmark's f(x, y) = 0.1(sin 2π(x+y) + cos 2π(x+y)).
	Forcing bool
}

// errUnstable is returned when a step's CFL number max(|u|, |v|)·dt·n
// exceeds maxCFL or the vorticity stops being finite: the time step is too
// long for the flow.
var errUnstable = errors.New("time step too long for the flow")

const maxCFL = 0.5

// maxSteps bounds the time steps of one solve.
const maxSteps = 1e8

// NewNS returns a solver for cfg.
func NewNS(cfg NSConfig) (*NS, error) {
	n := cfg.N
	switch {
	case n < 4 || n%2 != 0:
		return nil, fmt.Errorf("grid size %d: want an even number, at least 4", n)
	case !(cfg.Viscosity > 0) || math.IsInf(cfg.Viscosity, 0):
		return nil, fmt.Errorf("viscosity %v: want a positive number", cfg.Viscosity)
	case !(cfg.Step > 0) || math.IsInf(cfg.Step, 0):
		return nil, fmt.Errorf("time step %v: want a positive number", cfg.Step)
	}
	s := &NS{
		n: n, nu: cfg.Viscosity, dt: cfg.Step,
		fft:  fourier.NewCmplxFFT(n),
		k:    make([]float64, n),
		lap:  make([]float64, n*n),
		keep: make([]bool, n*n),
		col:  make([]complex128, n),
		a:    make([]complex128, n*n),
		b:    make([]complex128, n*n),
	}
	for j := range n {
		kj := j
		if j > n/2 {
			kj = j - n
		}
		if j != n/2 { // the Nyquist mode has no sign; it is dealiased away
			s.k[j] = 2 * math.Pi * float64(kj)
		}
	}
	for i := range n {
		for j := range n {
			m := i*n + j
			s.lap[m] = s.k[i]*s.k[i] + s.k[j]*s.k[j]
			// 3|k| < n: the sum of two kept modes cannot alias onto a
			// kept one (|k| ≤ n/3 would let 2n/3 alias onto −n/3 when 3
			// divides n).
			s.keep[m] = 3*abs(s.index(i)) < n && 3*abs(s.index(j)) < n
		}
	}
	s.force = make([]complex128, n*n)
	if cfg.Forcing {
		f := make([]float64, n*n)
		for i := range n {
			for j := range n {
				arg := 2 * math.Pi * float64(i+j) / float64(n)
				f[i*n+j] = 0.1 * (math.Sin(arg) + math.Cos(arg))
			}
		}
		s.force = s.spectrum(f)
	}
	return s, nil
}

// index is the signed wavenumber of index j.
func (s *NS) index(j int) int {
	if j > s.n/2 {
		return j - s.n
	}
	return j
}

func abs(k int) int {
	if k < 0 {
		return -k
	}
	return k
}

// Evolve returns the vorticity at time T from w0 (n×n), in steps of at most
// the configured length. The initial vorticity is first projected onto the
// resolved (2/3-rule) modes.
func (s *NS) Evolve(w0 []float64, T float64) ([]float64, error) {
	if len(w0) != s.n*s.n {
		return nil, fmt.Errorf("vorticity of %d values on a %d×%d grid", len(w0), s.n, s.n)
	}
	if !(T >= 0) || T/s.dt > maxSteps {
		return nil, fmt.Errorf("final time %v: want a number ≥ 0 and at most %g time steps of %g", T, float64(maxSteps), s.dt)
	}
	steps := int(math.Ceil(T/s.dt - 1e-9))
	dt := 0.0
	if steps > 0 {
		dt = T / float64(steps)
	}
	w := s.spectrum(w0)
	nl, prev := make([]complex128, len(w)), make([]complex128, len(w))
	for step := range steps {
		cfl, err := s.advection(w, nl)
		if err != nil {
			return nil, err
		}
		if cfl*dt > maxCFL || math.IsNaN(cfl) {
			return nil, fmt.Errorf("%w: CFL number %.3g at t = %.4g (dt = %g, n = %d)", errUnstable, cfl*dt, float64(step)*dt, dt, s.n)
		}
		if step == 0 {
			copy(prev, nl)
		}
		for m := range w {
			if !s.keep[m] {
				continue
			}
			d := 0.5 * dt * s.nu * s.lap[m]
			explicit := -1.5*nl[m] + 0.5*prev[m] + s.force[m]
			w[m] = (complex(1-d, 0)*w[m] + complex(dt, 0)*explicit) / complex(1+d, 0)
		}
		nl, prev = prev, nl
	}
	return s.grid(w), nil
}

// Stokes returns the vorticity at time T from w0 without the advection
// term, exactly: each resolved mode relaxes as ŵ(T) = e^{−νλT} ŵ₀ +
// (1 − e^{−νλT})/(νλ) f̂, λ = 4π²|k|². It is the classical linear
// prediction the learned models are compared with.
func (s *NS) Stokes(w0 []float64, T float64) []float64 {
	w := s.spectrum(w0)
	for m := range w {
		if !s.keep[m] {
			continue
		}
		r := s.nu * s.lap[m]
		if r == 0 {
			w[m] += complex(T, 0) * s.force[m]
			continue
		}
		e := math.Exp(-r * T)
		w[m] = complex(e, 0)*w[m] + complex((1-e)/r, 0)*s.force[m]
	}
	return s.grid(w)
}

// advection sets nl to the dealiased spectrum of u·∇w for the vorticity
// spectrum w, and returns max(|u|, |v|)·n, the CFL number of a unit step.
// Two real fields share each complex transform: u + iv and ∂w/∂x + i∂w/∂y.
func (s *NS) advection(w, nl []complex128) (float64, error) {
	n := s.n
	for i := range n {
		for j := range n {
			m := i*n + j
			if s.lap[m] == 0 {
				s.a[m], s.b[m] = 0, 0
				continue
			}
			psi := w[m] / complex(s.lap[m], 0)
			u := complex(0, s.k[i]) * psi  // ∂ψ/∂y
			v := complex(0, -s.k[j]) * psi // −∂ψ/∂x
			wx := complex(0, s.k[j]) * w[m]
			wy := complex(0, s.k[i]) * w[m]
			s.a[m] = u + complex(0, 1)*v
			s.b[m] = wx + complex(0, 1)*wy
		}
	}
	s.inverse(s.a)
	s.inverse(s.b)
	var vmax float64
	for m := range s.a {
		u, v := real(s.a[m]), imag(s.a[m])
		vmax = math.Max(vmax, math.Max(math.Abs(u), math.Abs(v)))
		nl[m] = complex(u*real(s.b[m])+v*imag(s.b[m]), 0)
	}
	if math.IsNaN(vmax) || math.IsInf(vmax, 0) {
		return 0, fmt.Errorf("%w: the velocity is not finite", errUnstable)
	}
	s.forward(nl)
	for m := range nl {
		if !s.keep[m] {
			nl[m] = 0
		}
	}
	return vmax * float64(n), nil
}

// spectrum returns the resolved modes of the grid field f (the rest zero).
func (s *NS) spectrum(f []float64) []complex128 {
	c := make([]complex128, len(f))
	for m, v := range f {
		c[m] = complex(v, 0)
	}
	s.forward(c)
	for m := range c {
		if !s.keep[m] {
			c[m] = 0
		}
	}
	return c
}

// grid returns the real field of the spectrum c, which it overwrites.
func (s *NS) grid(c []complex128) []float64 {
	s.inverse(c)
	f := make([]float64, len(c))
	for m, v := range c {
		f[m] = real(v)
	}
	return f
}

// forward transforms the n×n field c in place: ĉ_k = Σ c_x e^{−2πik·x}.
func (s *NS) forward(c []complex128) { s.transform(c, s.fft.Coefficients) }

// inverse transforms the spectrum c in place, normalised so that it undoes
// forward.
func (s *NS) inverse(c []complex128) {
	s.transform(c, s.fft.Sequence)
	scale := complex(1/float64(len(c)), 0)
	for m := range c {
		c[m] *= scale
	}
}

// transform applies the 1D transform t to every row of c, then every column.
func (s *NS) transform(c []complex128, t func(dst, src []complex128) []complex128) {
	n := s.n
	for i := range n {
		row := c[i*n : (i+1)*n]
		t(row, row)
	}
	for j := range n {
		for i := range n {
			s.col[i] = c[i*n+j]
		}
		t(s.col, s.col)
		for i := range n {
			c[i*n+j] = s.col[i]
		}
	}
}
