package scalereport

import (
	"math"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/core/scale"
)

// Every claim of the summary follows the numbers: a falling L_t is said to
// fall, a curve that has not settled is not said to, and the paper's
// prediction is quoted only when L_t grows.
func TestSummaryFollowsTheNumbers(t *testing.T) {
	pt := func(b int, acc, loss, lip float64) scale.Point {
		return scale.Point{Budget: b, Accuracy: acc, Loss: loss, Lipschitz: lip}
	}
	for _, c := range []struct {
		name      string
		pts       []scale.Point
		want, not []string
	}{
		{"grows and settles", []scale.Point{pt(1, 0.8, 0.4, 5), pt(2, 0.9, 0.2, 8), pt(4, 0.95, 0.1, 9.8), pt(8, 0.95, 0.1, 9.82)},
			[]string{"From t = 1 to 8 iterations: accuracy rises from 0.8000 to 0.9500, within 1% of its last value from t = 4 on", "the loss falls from 0.4000 to 0.1000",
				"grows from 5.000 to 9.820, within 1% of its last value from t = 4 on", "what the paper predicts"},
			[]string{"not monotonically"}},
		{"two budgets", []scale.Point{pt(1, 0.8, 0.4, 5), pt(2, 0.9, 0.2, 8)},
			[]string{"grows from 5.000 to 8.000.", "what the paper predicts"}, []string{"within 1%"}},
		{"falls", []scale.Point{pt(1, math.NaN(), 2, 2.07), pt(8, math.NaN(), 0.5, 1.2), pt(64, math.NaN(), 0.4, 0.97)},
			[]string{"the loss falls from 2.000e+00 to 4.000e-01", "L_t = max ‖y_t(x+δ) − y_t(x)‖/‖δ‖ falls from 2.070 to 0.970", "here it falls"},
			[]string{"accuracy", "grows", "what the paper predicts"}},
		{"not monotone", []scale.Point{pt(1, 0.5, 1, 8), pt(2, 0.5, 1, 12), pt(4, 0.5, 1, 10)},
			[]string{"accuracy stays within 1% of 0.5000", "grows from 8.000 to 10.000, not monotonically (highest 12.000 at t = 2)"}, nil},
		{"steady", []scale.Point{pt(1, 0.5, 1, 3), pt(2, 0.5, 1, 3.01)},
			[]string{"stays within 1% of 3.010."}, []string{"paper"}},
	} {
		s := Summary(c.pts)
		flat := strings.Join(strings.Fields(s), " ")
		for _, w := range c.want {
			if !strings.Contains(flat, w) {
				t.Errorf("%s: lacks %q:\n%s", c.name, w, s)
			}
		}
		for _, w := range c.not {
			if strings.Contains(flat, w) {
				t.Errorf("%s: says %q:\n%s", c.name, w, s)
			}
		}
		for _, line := range strings.Split(s, "\n") {
			if n := len([]rune(line)); n > 80 {
				t.Errorf("%s: a line of %d columns", c.name, n)
			}
		}
	}
	if s := Summary([]scale.Point{pt(1, 0.5, 1, 3)}); !strings.Contains(s, "nothing to compare") {
		t.Errorf("one budget: %s", s)
	}
}
