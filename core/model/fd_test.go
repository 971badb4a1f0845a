package model_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/implicitlab/implicit/core/model"
)

// centralDifferences compares a gradient with central differences of a
// loss, tensor by tensor: for each trained tensor of params (grads in the
// same order), ‖fd − g‖/(‖fd‖ + floor) must be at most tol, over samples
// entries drawn by pick, or over every entry if samples is 0. It returns
// the worst relative error.
type centralDifferences struct {
	step, floor, tol float64
	samples          int
	pick             *rand.Rand
}

func (c centralDifferences) check(t *testing.T, params, grads []model.Tensor, loss func() float64) float64 {
	t.Helper()
	var worst float64
	for ti, tn := range params {
		if tn.Fixed {
			continue
		}
		gd := grads[ti].Data
		var d2, n2 float64
		diff := func(i int) {
			v := tn.Data[i]
			tn.Data[i] = v + c.step
			lp := loss()
			tn.Data[i] = v - c.step
			lm := loss()
			tn.Data[i] = v
			fd := (lp - lm) / (2 * c.step)
			d2 += (fd - gd[i]) * (fd - gd[i])
			n2 += fd * fd
		}
		if c.samples > 0 {
			for range c.samples {
				diff(c.pick.IntN(len(tn.Data)))
			}
		} else {
			for i := range tn.Data {
				diff(i)
			}
		}
		rel := math.Sqrt(d2) / (math.Sqrt(n2) + c.floor)
		if rel > c.tol {
			t.Errorf("∂L/∂%s differs from finite differences by %.2g relative (‖·‖ = %.3g)", tn.Name, rel, math.Sqrt(n2))
		}
		worst = math.Max(worst, rel)
	}
	return worst
}
