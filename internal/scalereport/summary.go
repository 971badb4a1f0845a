package scalereport

import (
	"fmt"
	"math"
	"strings"

	"github.com/implicitlab/implicit/core/scale"
)

// settleTol is how close to its last value a curve must stay to have
// settled: 1% of that value.
const settleTol = 0.01

// Summary describes the table in words, every claim computed from its
// numbers: whether accuracy, loss and L_t rise, fall or stay (and where
// they stop moving), and whether the L_t measured agrees with the paper's
// prediction that it grows with t. It is wrapped at 80 columns.
func Summary(pts []scale.Point) string {
	if len(pts) < 2 {
		return "One budget only: nothing to compare across t.\n"
	}
	first, last := pts[0].Budget, pts[len(pts)-1].Budget
	series := func(get func(scale.Point) float64) []float64 {
		v := make([]float64, len(pts))
		for i, p := range pts {
			v[i] = get(p)
		}
		return v
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From t = %d to %d iterations:", first, last)
	if !math.IsNaN(pts[0].Accuracy) {
		fmt.Fprintf(&b, " accuracy %s;", describeCurve(pts, series(func(p scale.Point) float64 { return p.Accuracy }), "%.4f", "rises", "falls"))
		fmt.Fprintf(&b, " the loss %s.", describeCurve(pts, series(func(p scale.Point) float64 { return p.Loss }), "%.4f", "grows", "falls"))
	} else {
		fmt.Fprintf(&b, " the loss %s.", describeCurve(pts, series(func(p scale.Point) float64 { return p.Loss }), "%.3e", "grows", "falls"))
	}
	lip := series(func(p scale.Point) float64 { return p.Lipschitz })
	fmt.Fprintf(&b, " The t-step map's sensitivity L_t = max ‖y_t(x+δ) − y_t(x)‖/‖δ‖ %s.", describeCurve(pts, lip, "%.3f", "grows", "falls"))
	switch trendOf(lip).dir {
	case 1:
		b.WriteString(" L_t growing with t is what the paper predicts: an implicit model expresses a richer map the more test-time compute it spends.")
	case -1:
		b.WriteString(" The paper predicts L_t to grow with t; here it falls: the extra iterations smooth the map this model has learnt.")
	}
	return wrap(b.String(), 80)
}

// trend is the shape of a curve.
type trend struct {
	dir int // +1 grows, −1 falls, 0 stays within settleTol
	// extreme is the index of the running extreme (the highest value of a
	// growing curve so far, the lowest of a falling one) that a later value
	// fell back from by the most, beyond the tolerance; −1 if none did: the
	// curve is then monotone to within the tolerance.
	extreme int
	// settled is the index from which every value is within settleTol of
	// the last.
	settled int
}

func trendOf(v []float64) trend {
	n := len(v)
	lastV := v[n-1]
	tol := settleTol * math.Abs(lastV)
	t := trend{extreme: -1, settled: n - 1}
	for t.settled > 0 && math.Abs(v[t.settled-1]-lastV) <= tol {
		t.settled--
	}
	switch d := lastV - v[0]; {
	case d > tol:
		t.dir = 1
	case d < -tol:
		t.dir = -1
	}
	// The running extreme in the curve's direction; a later value short
	// of it by more than tol goes against the trend.
	if t.dir != 0 {
		best, worst := 0, 0.0
		for i, x := range v {
			if back := float64(t.dir) * (v[best] - x); back > tol && back > worst {
				t.extreme, worst = best, back
			}
			if float64(t.dir)*(x-v[best]) > 0 {
				best = i
			}
		}
	}
	return t
}

// describeCurve says how v, a column of pts, changes: "rises from 0.8535 to
// 0.9746, within 1% of its last value from t = 4 on".
func describeCurve(pts []scale.Point, v []float64, format, up, down string) string {
	tr := trendOf(v)
	n := len(v)
	num := func(i int) string { return fmt.Sprintf(format, v[i]) }
	if tr.dir == 0 {
		return "stays within 1% of " + num(n-1)
	}
	verb, extreme := up, "highest"
	if tr.dir < 0 {
		verb, extreme = down, "lowest"
	}
	s := fmt.Sprintf("%s from %s to %s", verb, num(0), num(n-1))
	if tr.extreme >= 0 {
		s += fmt.Sprintf(", not monotonically (%s %s at t = %d)", extreme, num(tr.extreme), pts[tr.extreme].Budget)
	}
	if tr.settled < n-1 {
		s += fmt.Sprintf(", within 1%% of its last value from t = %d on", pts[tr.settled].Budget)
	}
	return s
}

// wrap breaks s into lines of at most width columns at spaces.
func wrap(s string, width int) string {
	var b strings.Builder
	col := 0
	for _, w := range strings.Fields(s) {
		n := len([]rune(w))
		if col > 0 && col+1+n > width {
			b.WriteByte('\n')
			col = 0
		} else if col > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += n
	}
	b.WriteByte('\n')
	return b.String()
}
