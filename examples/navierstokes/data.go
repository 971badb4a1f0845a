package main

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Flow is the benchmark's physics and sampling: the solver's settings, the
// horizon T and the Gaussian random field the initial vorticities come from.
type Flow struct {
	NS NSConfig
	T  float64 // the map learnt is w(0) ↦ w(T)
	// Alpha and Tau set the initial vorticities' law, the Gaussian random
	// field of covariance σ²(−Δ + τ²I)^(−α) with σ = τ^(α−1), as in the FNO
	// benchmark (α = 2.5, τ = 7).
	Alpha, Tau float64
}

// Set holds count samples on an n×n grid, row-major: the initial
// vorticities X, the vorticities Y at time T, and Stokes, the classical
// prediction without advection.
type Set struct {
	N, Count     int
	X, Y, Stokes []float64
}

// The seed's streams of the training and the test fields, so that the size
// of one set does not change the other.
const (
	streamTrain = 0x57ee
	streamTest  = 0x57ef
)

// Generate draws count initial vorticities from the random field, from the
// seed's stream, and solves each to time T.
func Generate(f Flow, count int, seed, stream uint64) (*Set, error) {
	if count < 1 {
		return nil, fmt.Errorf("%d samples: want at least 1", count)
	}
	if !(f.Alpha > 1) || !(f.Tau > 0) || math.IsInf(f.Alpha+f.Tau, 0) {
		return nil, fmt.Errorf("random field α = %v, τ = %v: want α > 1 and τ > 0, finite", f.Alpha, f.Tau)
	}
	s, err := NewNS(f.NS)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, stream))
	set := &Set{N: f.NS.N, Count: count}
	for i := range count {
		w0 := s.RandomField(rng, f.Alpha, f.Tau)
		wT, err := s.Evolve(w0, f.T)
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
		set.X = append(set.X, w0...)
		set.Y = append(set.Y, wT...)
		set.Stokes = append(set.Stokes, s.Stokes(w0, f.T)...)
	}
	return set, nil
}

// RandomField draws a vorticity from the Gaussian random field of
// covariance σ²(−Δ + τ²I)^(−α), σ = τ^(α−1), restricted to the resolved
// modes and with zero mean, as the FNO benchmark's GaussianRF does:
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
