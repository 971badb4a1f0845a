package fixedpoint

import (
	"fmt"
	"math"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/vec"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

const (
	defaultAndersonMemory = 5
	defaultAndersonReg    = 1e-10
	// andersonCondLimit is the estimated condition number of the Gram
	// matrix past which the history is restarted.
	andersonCondLimit = 1e10
)

func startAnderson(m *api.Anderson, sv *Solver) (iterator, error) {
	a := &andersonIter{mem: m.Memory, reg: m.Reg, beta: m.Mixing, dim: sv.dim}
	if a.mem == 0 {
		a.mem = defaultAndersonMemory
	}
	if a.reg == 0 {
		a.reg = defaultAndersonReg
	}
	if a.reg < 0 {
		a.reg = 0
	}
	if a.beta == 0 {
		a.beta = 1
	}
	switch {
	case a.mem < 1 || a.mem > 100:
		return nil, fmt.Errorf("%w: anderson memory %d (want 1 to 100)", api.ErrProblem, m.Memory)
	case !(a.beta > 0 && a.beta <= 1):
		return nil, fmt.Errorf("%w: anderson mixing %v (want 0 < β ≤ 1)", api.ErrProblem, m.Mixing)
	case math.IsNaN(a.reg) || math.IsInf(a.reg, 0):
		return nil, fmt.Errorf("%w: anderson regularisation %v", api.ErrProblem, m.Reg)
	}
	a.hist = make([]andersonHistory, sv.n)
	a.sys = make([]float64, a.mem*a.mem)
	a.rhs = make([]float64, a.mem)
	return a, nil
}

type andersonIter struct {
	mem, dim  int
	reg, beta float64
	hist      []andersonHistory // per sample, allocated on first use
	sys, rhs  []float64         // scratch for the least-squares system
}

// andersonHistory is one sample's ring of past map values and residuals.
type andersonHistory struct {
	f, g  []float64 // mem×dim: f(zⱼ) and gⱼ = f(zⱼ) − zⱼ
	gram  []float64 // mem×mem: gᵢ·gⱼ
	count int       // iterates stored since the last restart
}

func (a *andersonIter) iterate(sv *Solver) {
	sv.iterateMap(a.update)
}

func (a *andersonIter) update(_, i int, z, fz, next []float64) {
	h := &a.hist[i]
	if h.f == nil {
		h.f = make([]float64, a.mem*a.dim)
		h.g = make([]float64, a.mem*a.dim)
		h.gram = make([]float64, a.mem*a.mem)
	}
	d, m := a.dim, a.mem
	slot := h.count % m
	fs, gs := h.f[slot*d:(slot+1)*d], h.g[slot*d:(slot+1)*d]
	copy(fs, fz)
	for j := range gs {
		gs[j] = fz[j] - z[j]
	}
	h.count++
	k := min(h.count, m)
	for j := 0; j < k; j++ {
		v := vec.Dot(gs, h.g[j*d:(j+1)*d])
		h.gram[slot*m+j] = v
		h.gram[j*m+slot] = v
	}

	alpha, ok := a.weights(h, k)
	if !ok {
		// Restart from the newest iterate alone: a damped Picard step.
		if slot != 0 {
			copy(h.f[:d], fs)
			copy(h.g[:d], gs)
			h.gram[0] = h.gram[slot*m+slot]
		}
		h.count = 1
		k, alpha = 1, a.rhs[:1]
		alpha[0] = 1
	}
	// next = Σ αⱼ fⱼ − (1 − β) Σ αⱼ gⱼ
	clear(next)
	for j := 0; j < k; j++ {
		vec.Axpy(alpha[j], h.f[j*d:(j+1)*d], next)
		if a.beta != 1 {
			vec.Axpy(-(1-a.beta)*alpha[j], h.g[j*d:(j+1)*d], next)
		}
	}
}

// weights solves min ‖Σ αⱼ gⱼ‖ subject to Σ αⱼ = 1 through the regularised
// Gram system (H + λI) y = 1, α = y / Σ y. It reports false when the system
// is not safely solvable.
func (a *andersonIter) weights(h *andersonHistory, k int) ([]float64, bool) {
	m := a.mem
	sys := a.sys[:k*k]
	var dmax float64
	for r := 0; r < k; r++ {
		dmax = math.Max(dmax, h.gram[r*m+r])
	}
	if !(dmax > 0) || math.IsInf(dmax, 0) {
		return nil, false
	}
	for r := 0; r < k; r++ {
		for c := 0; c < k; c++ {
			sys[r*k+c] = h.gram[r*m+c]
		}
		sys[r*k+r] += a.reg * dmax
	}
	t, ok := lapack64.Potrf(blas64.Symmetric{N: k, Stride: k, Data: sys, Uplo: blas.Upper})
	if !ok {
		return nil, false
	}
	lmin, lmax := math.Inf(1), 0.0
	for r := 0; r < k; r++ {
		l := math.Abs(sys[r*k+r])
		lmin, lmax = math.Min(lmin, l), math.Max(lmax, l)
	}
	if lmax/lmin > math.Sqrt(andersonCondLimit) {
		return nil, false
	}
	y := a.rhs[:k]
	for r := range y {
		y[r] = 1
	}
	lapack64.Potrs(t, blas64.General{Rows: k, Cols: 1, Stride: 1, Data: y})
	var sum float64
	for _, v := range y {
		sum += v
	}
	if !(math.Abs(sum) > 0) || math.IsInf(sum, 0) {
		return nil, false
	}
	for r := range y {
		y[r] /= sum
	}
	return y, true
}
