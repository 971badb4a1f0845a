package fixedpoint

import (
	"fmt"
	"math"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/vec"
)

const defaultBroydenMemory = 20

func startBroyden(m *api.Broyden, sv *Solver) (iterator, error) {
	mem := m.Memory
	if mem == 0 {
		mem = defaultBroydenMemory
	}
	if mem < 1 || mem > 1000 {
		return nil, fmt.Errorf("%w: broyden memory %d (want 1 to 1000)", api.ErrProblem, m.Memory)
	}
	return &broydenIter{mem: mem, dim: sv.dim, hist: make([]broydenHistory, sv.n)}, nil
}

type broydenIter struct {
	mem, dim int
	hist     []broydenHistory
}

// broydenHistory is one sample's low-rank inverse Jacobian and last step.
type broydenHistory struct {
	u, v         []float64 // mem×dim
	count        int
	zPrev, gPrev []float64
	dz, dg, w    []float64 // scratch
	started      bool
}

func (b *broydenIter) iterate(sv *Solver) {
	sv.iterateMap(b.update)
}

// applyInv sets dst = (−I + U Vᵀ) x; applyInvT sets dst = (−I + V Uᵀ) x.
func (h *broydenHistory) applyInv(dst, x []float64, d int, transpose bool) {
	left, right := h.u, h.v
	if transpose {
		left, right = h.v, h.u
	}
	for j := range dst {
		dst[j] = -x[j]
	}
	for k := 0; k < h.count; k++ {
		vec.Axpy(vec.Dot(right[k*d:(k+1)*d], x), left[k*d:(k+1)*d], dst)
	}
}

func (b *broydenIter) update(_, i int, z, fz, next []float64) {
	h := &b.hist[i]
	d := b.dim
	if h.u == nil {
		h.u = make([]float64, b.mem*d)
		h.v = make([]float64, b.mem*d)
		h.zPrev = make([]float64, d)
		h.gPrev = make([]float64, d)
		h.dz = make([]float64, d)
		h.dg = make([]float64, d)
		h.w = make([]float64, d)
	}
	g := next // next doubles as g until the step is formed
	for j := range g {
		g[j] = fz[j] - z[j]
	}
	if h.started {
		for j := range g {
			h.dz[j] = z[j] - h.zPrev[j]
			h.dg[j] = g[j] - h.gPrev[j]
		}
		// Good Broyden: B ← B + (Δz − B Δg)(Δzᵀ B) / (Δzᵀ B Δg).
		if h.count == b.mem {
			h.count = 0
		}
		bdg := h.w
		h.applyInv(bdg, h.dg, d, false)
		k := h.count
		vk := h.v[k*d : (k+1)*d]
		h.applyInv(vk, h.dz, d, true)
		denom := vec.Dot(vk, h.dg)
		if math.Abs(denom) > 1e-30*math.Sqrt(vec.Dot(vk, vk)*vec.Dot(h.dg, h.dg)) && !math.IsInf(denom, 0) {
			uk := h.u[k*d : (k+1)*d]
			for j := range uk {
				uk[j] = (h.dz[j] - bdg[j]) / denom
			}
			h.count++
		} else {
			h.count = 0
		}
	}
	h.started = true
	copy(h.zPrev, z)
	copy(h.gPrev, g)
	// Step: z ← z − B g.
	h.applyInv(h.w, g, d, false)
	for j := range next {
		next[j] = z[j] - h.w[j]
	}
	for _, v := range next {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			// A poisoned update; fall back to a Picard step and restart.
			copy(next, fz)
			h.count = 0
			return
		}
	}
}
