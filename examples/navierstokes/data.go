package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Flow is the steady problem's physics and sampling: the grid and
// viscosity, the law of the random velocity forcings (f₁, f₂), and the
// steady residual every sample must reach.
type Flow struct {
	N         int     // grid points a side
	Viscosity float64 // ν
	// Alpha and Tau set the law of each forcing component, the Gaussian
	// random field of covariance ∝ (−Δ + τ²I)^(−α) (RandomField), and
	// Amplitude the RMS of the vorticity forcing g = ∂f₂/∂x − ∂f₁/∂y each
	// draw is scaled to.
	Alpha, Tau, Amplitude float64
	Tol                   float64 // the steady residual required
}

func (f Flow) solver() (*NS, error) {
	// The time step only matters to Evolve, which the tests use to check
	// that the steady states are steady.
	return NewNS(NSConfig{N: f.N, Viscosity: f.Viscosity, Step: 0.01})
}

// Set holds count samples on an n×n grid, row-major: the velocity forcings
// X (2·n² values a sample, f₁ then f₂: the models' channels-first input
// rows), the steady vorticities Y, the Stokes solutions, and each sample's
// steady residual and iterations.
type Set struct {
	N, Count     int
	X, Y, Stokes []float64
	Residual     []float64
	Iterations   []int
	// Rejected counts the draws whose iteration did not reach a steady
	// state (they are replaced by new draws).
	Rejected int
}

// The seed's streams of the training and the test forcings, so that the size
// of one set does not change the other.
const (
	streamTrain = 0x57ee
	streamTest  = 0x57ef
)

// Generate draws count forcings from the seed's stream and solves each for
// its steady state; a draw that has none within the tolerance is replaced,
// up to count times.
func Generate(ctx context.Context, f Flow, count int, seed, stream uint64) (*Set, error) {
	if count < 1 {
		return nil, fmt.Errorf("%d samples: want at least 1", count)
	}
	if !(f.Alpha > 1) || !(f.Tau > 0) || !(f.Amplitude > 0) || math.IsInf(f.Alpha+f.Tau+f.Amplitude, 0) {
		return nil, fmt.Errorf("forcing α = %v, τ = %v, amplitude %v: want α > 1, τ > 0, amplitude > 0, finite", f.Alpha, f.Tau, f.Amplitude)
	}
	s, err := f.solver()
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, stream))
	set := &Set{N: f.N, Count: count}
	for len(set.Residual) < count {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f1, f2 := s.RandomField(rng, f.Alpha, f.Tau), s.RandomField(rng, f.Alpha, f.Tau)
		g := s.Curl(f1, f2)
		a := f.Amplitude / rms(g)
		for _, v := range [][]float64{f1, f2, g} {
			for i := range v {
				v[i] *= a
			}
		}
		w, r, iters, err := s.SteadyState(ctx, g, f.Tol)
		if errors.Is(err, errNoSteadyState) && set.Rejected < count {
			set.Rejected++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", len(set.Residual), err)
		}
		set.X = append(append(set.X, f1...), f2...)
		set.Y = append(set.Y, w...)
		set.Stokes = append(set.Stokes, s.StokesSteady(g)...)
		set.Residual = append(set.Residual, r)
		set.Iterations = append(set.Iterations, iters)
	}
	return set, nil
}

// RandomField draws a field from the Gaussian random field of covariance
// σ²(−Δ + τ²I)^(−α), σ = τ^(α−1), restricted to the resolved modes and with
// zero mean, as the FNO benchmark's GaussianRF does:
// w(x) = Re Σ_k √2 σ (4π²|k|² + τ²)^(−α/2) ξ_k e^{2πik·x}, with the real
// and imaginary parts of every ξ_k independent standard normals.
func (s *NS) RandomField(rng *rand.Rand, alpha, tau float64) []float64 {
	sigma := math.Pow(tau, alpha-1)
	c := make([]complex128, s.n*s.n)
	for m := range c {
		xi := complex(rng.NormFloat64(), rng.NormFloat64())
		if s.keep[m] && s.lap[m] > 0 {
			c[m] = complex(math.Sqrt2*sigma*math.Pow(s.lap[m]+tau*tau, -alpha/2), 0) * xi
		}
	}
	s.transform(c, s.fft.Sequence)
	w := make([]float64, len(c))
	for m, v := range c {
		w[m] = real(v)
	}
	return w
}

// FieldVariance is the pointwise variance of RandomField's law:
// Σ_k 2σ²(4π²|k|² + τ²)^(−α) over the resolved modes k ≠ 0.
func (s *NS) FieldVariance(alpha, tau float64) float64 {
	sigma := math.Pow(tau, alpha-1)
	var v float64
	for m, keep := range s.keep {
		if keep && s.lap[m] > 0 {
			v += 2 * sigma * sigma * math.Pow(s.lap[m]+tau*tau, -alpha)
		}
	}
	return v
}

func rms(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s / float64(len(x)))
}
