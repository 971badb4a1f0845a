package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/implicitlab/implicit/api"
)

func pnpRand(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

func maxDiff(a, b []float64) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// A is PyTorch's conv2d of the extended image, Aᵀ its adjoint, for both
// boundary rules and kernels larger than the image.
func TestPnPBlurAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, b := range []string{BoundarySymmetric, BoundaryPeriodic} {
		for _, k := range []Matrix{{Rows: 3, Cols: 5, Data: pnpRand(rng, 15)}, {Rows: 9, Cols: 7, Data: pnpRand(rng, 63)}} {
			h, w := 5, 6
			op := newBlurOp(k, b, h, w)
			x, y := pnpRand(rng, h*w), pnpRand(rng, h*w)
			ax, aty := make([]float64, h*w), make([]float64, h*w)
			op.apply(ax, x)
			op.adjoint(aty, y)
			if d := math.Abs(dot64(ax, y) - dot64(x, aty)); d > 1e-12 {
				t.Errorf("%s %d×%d: ⟨Ax, y⟩ − ⟨x, Aᵀy⟩ = %g", b, k.Rows, k.Cols, d)
			}
			// One pixel by the definition.
			i, j := 1, 4
			var want float64
			for a := range k.Rows {
				for c := range k.Cols {
					want += k.Data[a*k.Cols+c] * x[boundaryIndex(i+a-k.Rows/2, h, b)*w+boundaryIndex(j+c-k.Cols/2, w, b)]
				}
			}
			if math.Abs(ax[i*w+j]-want) > 1e-12 {
				t.Errorf("%s: (Ax)[1,4] = %v, want %v", b, ax[i*w+j], want)
			}
		}
	}
	if got := []int{boundaryIndex(-1, 3, BoundarySymmetric), boundaryIndex(-4, 3, BoundarySymmetric), boundaryIndex(3, 3, BoundarySymmetric), boundaryIndex(-1, 3, BoundaryPeriodic)}; got[0] != 0 || got[1] != 2 || got[2] != 2 || got[3] != 2 {
		t.Errorf("boundary indices %v", got)
	}
}

// The FFT resolvent inverts AᵀA + βI: periodic for any kernel, symmetric
// for a kernel symmetric under each flip, on odd and even sizes.
func TestPnPResolvent(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sym := Matrix{Rows: 5, Cols: 3, Data: make([]float64, 15)}
	for a := range 5 {
		for c := range 3 {
			sym.Data[a*3+c] = math.Exp(-float64((a-2)*(a-2)) - 0.5*float64((c-1)*(c-1)))
		}
	}
	cases := []struct {
		k        Matrix
		boundary string
	}{{Matrix{Rows: 3, Cols: 3, Data: pnpRand(rng, 9)}, BoundaryPeriodic}, {sym, BoundarySymmetric}, {sym, BoundaryPeriodic}}
	for _, c := range cases {
		for _, hw := range [][2]int{{6, 5}, {4, 8}, {7, 3}} {
			h, w := hw[0], hw[1]
			op, r := newBlurOp(c.k, c.boundary, h, w), newResolvent(c.k, c.boundary, h, w)
			v := pnpRand(rng, h*w)
			x, back, tmp := make([]float64, h*w), make([]float64, h*w), make([]float64, h*w)
			const beta = 0.37
			r.apply(x, v, beta, r.scratch())
			op.normal(back, x, tmp)
			for i := range back {
				back[i] += beta * x[i]
			}
			if d := maxDiff(back, v); d > 1e-11 {
				t.Errorf("%s %d×%d kernel on %d×%d: (AᵀA + βI) R v − v = %g", c.boundary, c.k.Rows, c.k.Cols, h, w, d)
			}
		}
	}
}

// A convolution run in bands equals the whole image's, forward and both
// backward products, band heights dividing the image or not.
func TestPnPBandConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const in, out, h, w, n = 2, 3, 7, 5, 2
	weight, bias := pnpRand(rng, out*in*9), pnpRand(rng, out)
	whole := newBandConv(weight, bias, in, out, h, w, api.Float64)
	if !whole.whole() {
		t.Fatal("a small image is not banded")
	}
	x, dy := pnpRand(rng, n*h*w*in), pnpRand(rng, n*h*w*out)
	run := func(b *bandConv) (y, dx, gw, gb []float64) {
		var s bandScratch
		y, dx, gw, gb = make([]float64, n*h*w*out), make([]float64, n*h*w*in), make([]float64, len(weight)), make([]float64, out)
		b.forward(y, x, n, &s)
		b.backwardData(dx, dy, n, &s)
		b.backwardWeight(gw, gb, x, dy, n, &s)
		return
	}
	y0, dx0, gw0, gb0 := run(whole)
	defer func(v int) { pnpBandPixels = v }(pnpBandPixels)
	for _, px := range []int{5, 10, 15} { // bands of 1, 2 and 3 rows
		pnpBandPixels = px
		b := newBandConv(weight, bias, in, out, h, w, api.Float64)
		if b.whole() {
			t.Fatalf("%d pixels a band: not banded", px)
		}
		y, dx, gw, gb := run(b)
		if d := max(maxDiff(y, y0), maxDiff(dx, dx0), maxDiff(gw, gw0), maxDiff(gb, gb0)); d > 1e-12 {
			t.Errorf("bands of %d rows differ from the whole image by %g", b.band, d)
		}
	}
}
