package main

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

// gridField samples g(x, y) on the n×n grid.
func gridField(n int, g func(x, y float64) float64) []float64 {
	w := make([]float64, n*n)
	for i := range n {
		for j := range n {
			w[i*n+j] = g(float64(j)/float64(n), float64(i)/float64(n))
		}
	}
	return w
}

func relDiff(a, b []float64) float64 {
	var d, n float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		n += b[i] * b[i]
	}
	return math.Sqrt(d / n)
}

func newNS(t *testing.T, cfg NSConfig) *NS {
	t.Helper()
	s, err := NewNS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The advection term against its closed form: for w = sin 2πx + cos 4πy,
// ψ = sin(2πx)/4π² + cos(4πy)/16π², u = ψ_y = −sin(4πy)/4π,
// v = −ψ_x = −cos(2πx)/2π, and u·∇w = 1.5 cos(2πx) sin(4πy).
func TestAdvectionTerm(t *testing.T) {
	s := newNS(t, NSConfig{N: 16, Viscosity: 1e-3, Step: 0.01})
	w := gridField(16, func(x, y float64) float64 { return math.Sin(2*math.Pi*x) + math.Cos(4*math.Pi*y) })
	want := gridField(16, func(x, y float64) float64 { return 1.5 * math.Cos(2*math.Pi*x) * math.Sin(4*math.Pi*y) })
	nl := make([]complex128, 16*16)
	cfl, err := s.advection(s.spectrum(w), nl)
	if err != nil {
		t.Fatal(err)
	}
	if d := relDiff(s.grid(nl), want); d > 1e-12 {
		t.Errorf("u·∇w is off by %.2e (relative L2)", d)
	}
	// max |v| = 1/2π, in units of grid cells per unit time.
	if math.Abs(cfl-16/(2*math.Pi)) > 1e-12 {
		t.Errorf("CFL rate %v, want %v", cfl, 16/(2*math.Pi))
	}
}

// w = A sin(2πkx) sin(2πky) without forcing is an exact solution: the
// stream function is proportional to w, so u·∇w = 0, and the field decays
// as exp(−2ν(2πk)²t).
func TestTaylorGreenDecay(t *testing.T) {
	const nu, T, k, dt = 0.01, 1.0, 2, 0.01
	s := newNS(t, NSConfig{N: 16, Viscosity: nu, Step: dt})
	w0 := gridField(16, func(x, y float64) float64 { return 0.8 * math.Sin(2*math.Pi*k*x) * math.Sin(2*math.Pi*k*y) })
	got, err := s.Evolve(w0, T)
	if err != nil {
		t.Fatal(err)
	}
	rate := 2 * nu * (2 * math.Pi * k) * (2 * math.Pi * k)
	exact := make([]float64, len(w0))
	cn := make([]float64, len(w0))
	d := 0.5 * dt * rate
	for i, v := range w0 {
		exact[i] = v * math.Exp(-rate*T)
		cn[i] = v * math.Pow((1-d)/(1+d), T/dt) // Crank–Nicolson's own decay
	}
	if e := relDiff(got, cn); e > 1e-12 {
		t.Errorf("differs from the Crank–Nicolson decay by %.2e", e)
	}
	// Crank–Nicolson's error is (rate·dt)³/12 a step, relative.
	if e, bound := relDiff(got, exact), math.Pow(rate*dt, 3)/12*T/dt; e > 1.1*bound {
		t.Errorf("differs from the exact decay by %.2e, more than Crank–Nicolson's %.2e", e, bound)
	}
	if e := relDiff(s.Stokes(w0, T), exact); e > 1e-13 {
		t.Errorf("Stokes differs from the exact decay by %.2e", e)
	}
}

// From rest, the forcing (a function of x + y) drives a shear flow whose
// advection vanishes, so the full solution is the Stokes one:
// w(t) = (1 − e^{−νλt})/(νλ) f with λ = 8π².
func TestForcedShearFlow(t *testing.T) {
	const T = 2.0
	s := newNS(t, NSConfig{N: 16, Viscosity: 1e-3, Step: 0.025, Forcing: true})
	got, err := s.Evolve(make([]float64, 16*16), T)
	if err != nil {
		t.Fatal(err)
	}
	r := 1e-3 * 8 * math.Pi * math.Pi
	f := gridField(16, func(x, y float64) float64 {
		return 0.1 * (math.Sin(2*math.Pi*(x+y)) + math.Cos(2*math.Pi*(x+y)))
	})
	want, cn := make([]float64, len(f)), make([]float64, len(f))
	d := 0.5 * 0.025 * r
	for i, v := range f {
		want[i] = (1 - math.Exp(-r*T)) / r * v
		cn[i] = (1 - math.Pow((1-d)/(1+d), T/0.025)) / r * v // Crank–Nicolson's
	}
	if e := relDiff(got, cn); e > 1e-12 {
		t.Errorf("forced flow from rest differs from Crank–Nicolson's by %.2e", e)
	}
	if e := relDiff(got, want); e > 1e-6 {
		t.Errorf("forced flow from rest differs from the exact one by %.2e", e)
	}
	if e := relDiff(s.Stokes(make([]float64, 16*16), T), want); e > 1e-13 {
		t.Errorf("Stokes differs from the exact forced flow by %.2e", e)
	}
}

// The mean vorticity is conserved (the forcing has none and advection is
// a divergence), and without viscosity or forcing the truncated system
// conserves energy Σ|ŵ|²/λ and enstrophy Σ|ŵ|², up to the time stepping.
func TestInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	forced := newNS(t, NSConfig{N: 16, Viscosity: 1e-3, Step: 0.025, Forcing: true})
	w0 := forced.RandomField(rng, 2.5, 7)
	for i := range w0 {
		w0[i] = 4*w0[i] + 0.3 // a stronger, nonlinear flow with a mean
	}
	w, err := forced.Evolve(w0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if m := mean(w); math.Abs(m-0.3) > 1e-12 {
		t.Errorf("mean vorticity %.15f, want 0.3", m)
	}

	inviscid := newNS(t, NSConfig{N: 16, Viscosity: 1e-14, Step: 0.005})
	w, err = inviscid.Evolve(w0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if relDiff(w, w0) < 0.1 {
		t.Fatalf("the flow hardly changed (%.3f): the test would be vacuous", relDiff(w, w0))
	}
	e0, z0 := invariants(inviscid, w0)
	e1, z1 := invariants(inviscid, w)
	t.Logf("field changed by %.3f; energy by %.2e, enstrophy by %.2e (relative)", relDiff(w, w0), e1/e0-1, z1/z0-1)
	if math.Abs(e1/e0-1) > 1e-4 || math.Abs(z1/z0-1) > 1e-4 {
		t.Errorf("energy changed by %.2e and enstrophy by %.2e (relative)", e1/e0-1, z1/z0-1)
	}
}

func mean(w []float64) float64 {
	var s float64
	for _, v := range w {
		s += v
	}
	return s / float64(len(w))
}

func invariants(s *NS, w []float64) (energy, enstrophy float64) {
	c := s.spectrum(w)
	for m, v := range c {
		a := real(v)*real(v) + imag(v)*imag(v)
		enstrophy += a
		if s.lap[m] > 0 {
			energy += a / s.lap[m]
		}
	}
	return energy, enstrophy
}

// upsample interpolates a field of the coarse grid onto the fine one
// (zero padding in Fourier space).
func upsample(coarse, fine *NS, w []float64) []float64 {
	c := coarse.spectrum(w)
	f := make([]complex128, fine.n*fine.n)
	scale := complex(float64(fine.n*fine.n)/float64(coarse.n*coarse.n), 0)
	for i := range coarse.n {
		for j := range coarse.n {
			fi, fj := (coarse.index(i)+fine.n)%fine.n, (coarse.index(j)+fine.n)%fine.n
			f[fi*fine.n+fj] = c[i*coarse.n+j] * scale
		}
	}
	return fine.grid(f)
}

// The default resolution is adequate: from the same initial field, the
// 16×16 solution at T = 1 is within 1% of a 48×48 one (sampled at the same
// points), and halving the time step changes it by under 1e-4.
func TestResolution(t *testing.T) {
	const T = 1
	coarse := newNS(t, NSConfig{N: 16, Viscosity: 1e-3, Step: 0.025, Forcing: true})
	half := newNS(t, NSConfig{N: 16, Viscosity: 1e-3, Step: 0.0125, Forcing: true})
	fine := newNS(t, NSConfig{N: 48, Viscosity: 1e-3, Step: 0.005, Forcing: true})
	rng := rand.New(rand.NewPCG(5, 6))
	for range 3 {
		w0 := coarse.RandomField(rng, 2.5, 7)
		a, err := coarse.Evolve(w0, T)
		if err != nil {
			t.Fatal(err)
		}
		b, err := half.Evolve(w0, T)
		if err != nil {
			t.Fatal(err)
		}
		c, err := fine.Evolve(upsample(coarse, fine, w0), T)
		if err != nil {
			t.Fatal(err)
		}
		sub := make([]float64, len(a))
		for i := range 16 {
			for j := range 16 {
				sub[i*16+j] = c[(3*i)*48+3*j]
			}
		}
		space, time := relDiff(a, sub), relDiff(a, b)
		t.Logf("16×16 against 48×48: %.2e; dt against dt/2: %.2e", space, time)
		if space > 0.01 || time > 1e-4 {
			t.Errorf("16×16 against 48×48 differ by %.2e, dt against dt/2 by %.2e", space, time)
		}
	}
}

// The random field has the benchmark's law: zero mean, the pointwise
// variance Σ 2σ²(4π²|k|² + τ²)^(−α), nothing in the unresolved modes.
func TestRandomField(t *testing.T) {
	s := newNS(t, NSConfig{N: 16, Viscosity: 1e-3, Step: 0.025})
	rng := rand.New(rand.NewPCG(7, 8))
	const draws = 2000
	var sum, sq float64
	for range draws {
		w := s.RandomField(rng, 2.5, 7)
		c := make([]complex128, len(w))
		for m, v := range w {
			c[m] = complex(v, 0)
		}
		s.forward(c)
		var top float64
		for _, v := range c {
			top = math.Max(top, cmplx.Abs(v))
		}
		for m, v := range c {
			if !s.keep[m] && cmplx.Abs(v) > 1e-12*top {
				t.Fatalf("unresolved mode %d is %v (largest %v)", m, v, top)
			}
		}
		if m := mean(w); math.Abs(m) > 1e-12 {
			t.Fatalf("field mean %v, want 0", m)
		}
		for _, v := range w {
			sum += v
			sq += v * v
		}
	}
	got, want := sq/(draws*256), s.FieldVariance(2.5, 7)
	// The variance estimate's relative standard error is about
	// √(2/draws) ≈ 3% (the points of a field are correlated).
	if math.Abs(got/want-1) > 0.1 {
		t.Errorf("pointwise variance %.4f, want %.4f", got, want)
	}
	t.Logf("pointwise variance %.4f, law %.4f", got, want)
}
