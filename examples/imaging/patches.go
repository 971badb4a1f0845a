package main

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// tiling cuts a degraded image into overlapping windows for a model and puts
// the model's outputs back together. A model sees an in×in window of the
// degraded image and predicts the out×out square at its centre; the windows
// step by stride, and where squares overlap their predictions are averaged.
// Windows that reach past the image edge read it reflected.
type tiling struct {
	in, out, stride int
}

func (t tiling) validate() error {
	switch {
	case t.out < 1 || t.in < t.out:
		return fmt.Errorf("patch %d, output %d: want 1 ≤ output ≤ patch", t.in, t.out)
	case (t.in-t.out)%2 != 0:
		return fmt.Errorf("patch %d, output %d: the difference must be even, so that the output is centred", t.in, t.out)
	case t.stride < 1 || t.stride > t.out:
		return fmt.Errorf("stride %d: want 1 … output size %d, so that the squares cover the image", t.stride, t.out)
	}
	return nil
}

// features and targets a window has.
func (t tiling) p() int { return t.in * t.in }
func (t tiling) q() int { return t.out * t.out }

// scales normalise the model's inputs and outputs to unit root mean square,
// from the training set.
type scales struct{ x, y float64 }

// window writes the model input for the square at (x, y) to dst: the in×in
// degraded window around it, minus the window's mean, times s.x. The model
// sees local structure only; the brightness is put back by the residual.
func (t tiling) window(dst []float64, deg *grey, x, y int, s scales) {
	m := (t.in - t.out) / 2
	var mean float64
	for i := range t.in {
		for j := range t.in {
			v := deg.at(reflect(x-m+j, deg.w), reflect(y-m+i, deg.h))
			dst[i*t.in+j] = v
			mean += v
		}
	}
	mean /= float64(t.p())
	for k := range dst[:t.p()] {
		dst[k] = (dst[k] - mean) * s.x
	}
}

// residual writes the training target for the square at (x, y): what the
// clean image adds to the degraded one there, times s.y.
func (t tiling) residual(dst []float64, deg, clean *grey, x, y int, s scales) {
	for i := range t.out {
		for j := range t.out {
			dst[i*t.out+j] = (clean.at(x+j, y+i) - deg.at(x+j, y+i)) * s.y
		}
	}
}

// pair is a degraded photograph with its clean original.
type pair struct{ clean, deg *grey }

// sample draws n squares uniformly from the pairs (a photograph in
// proportion to its number of positions) and returns their model inputs and
// targets.
func (t tiling) sample(pairs []pair, n int, s scales, rng *rand.Rand) (x, y []float64) {
	var total int
	for _, p := range pairs {
		total += (p.clean.w - t.out + 1) * (p.clean.h - t.out + 1)
	}
	x, y = make([]float64, n*t.p()), make([]float64, n*t.q())
	for k := range n {
		r := rng.IntN(total)
		for _, p := range pairs {
			w, h := p.clean.w-t.out+1, p.clean.h-t.out+1
			if r >= w*h {
				r -= w * h
				continue
			}
			t.window(x[k*t.p():(k+1)*t.p()], p.deg, r%w, r/w, s)
			t.residual(y[k*t.q():(k+1)*t.q()], p.deg, p.clean, r%w, r/w, s)
			break
		}
	}
	return x, y
}

// fitScales returns the scales that give the squares drawn from pairs unit
// root mean square inputs and targets.
func (t tiling) fitScales(pairs []pair, n int, rng *rand.Rand) scales {
	x, y := t.sample(pairs, n, scales{1, 1}, rng)
	return scales{x: 1 / rms(x), y: 1 / rms(y)}
}

func rms(v []float64) float64 {
	var s float64
	for _, a := range v {
		s += a * a
	}
	return math.Sqrt(s / float64(len(v)))
}

// starts returns the offsets of the squares of size out along an edge of n
// pixels, stride apart, the last one flush with the edge.
func starts(n, out, stride int) []int {
	var s []int
	for i := 0; i+out < n; i += stride {
		s = append(s, i)
	}
	return append(s, n-out)
}

// tiles returns the model inputs of every square of the tiling of deg, and
// their positions.
func (t tiling) tiles(deg *grey, s scales) (x []float64, at [][2]int) {
	for _, y0 := range starts(deg.h, t.out, t.stride) {
		for _, x0 := range starts(deg.w, t.out, t.stride) {
			at = append(at, [2]int{x0, y0})
		}
	}
	x = make([]float64, len(at)*t.p())
	for k, a := range at {
		t.window(x[k*t.p():(k+1)*t.p()], deg, a[0], a[1], s)
	}
	return x, at
}

// assemble adds the predicted residuals y (one square a position of at, in
// the scale s) to the degraded image, averaging where squares overlap.
func (t tiling) assemble(deg *grey, y []float64, at [][2]int, s scales) *grey {
	sum, count := newGrey(deg.w, deg.h), make([]int, len(deg.pix))
	for k, a := range at {
		for i := range t.out {
			for j := range t.out {
				idx := (a[1]+i)*deg.w + a[0] + j
				sum.pix[idx] += y[k*t.q()+i*t.out+j] / s.y
				count[idx]++
			}
		}
	}
	for i := range sum.pix {
		sum.pix[i] = deg.pix[i] + sum.pix[i]/float64(count[i])
	}
	return sum
}
