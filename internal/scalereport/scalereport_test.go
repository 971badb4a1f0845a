package scalereport

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/core/scale"
)

func TestWriteTable(t *testing.T) {
	pts := []scale.Point{{Budget: 1, Accuracy: 0.5, Loss: 1.25, MeanResidual: 1, MaxResidual: 2, Lipschitz: 3}}
	var b bytes.Buffer
	if err := WriteTable(&b, pts, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "accuracy") || !strings.Contains(b.String(), "0.5000") {
		t.Errorf("classifier table:\n%s", b.String())
	}
	pts[0].Accuracy = math.NaN()
	b.Reset()
	if err := WriteTable(&b, pts, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "accuracy") || !strings.Contains(b.String(), "1.250e+00") {
		t.Errorf("regression table:\n%s", b.String())
	}
}

func TestWritePNG(t *testing.T) {
	for name, pts := range map[string][]scale.Point{
		"regression": {{Budget: 1, Accuracy: math.NaN(), Loss: 1, Lipschitz: 1}, {Budget: 2, Accuracy: math.NaN(), Loss: 0.5, Lipschitz: 2}},
		"classifier": {{Budget: 1, Accuracy: 0.5, Loss: 1, Lipschitz: 2}, {Budget: 4, Accuracy: 0.9, Loss: 0.2, Lipschitz: 1}},
		"one budget": {{Budget: 1, Accuracy: math.NaN(), Loss: 1, Lipschitz: 1}},
	} {
		path := filepath.Join(t.TempDir(), "scale.png")
		if err := WritePNG(path, "t", pts); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := os.ReadFile(path)
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Fatalf("%s: not a PNG: %v", name, err)
		}
	}
}

// Accuracy, loss and L_t have a panel and a y axis each, with enough
// labelled ticks to read the differences that matter; no label has a
// literal underscore for a subscript.
func TestPlotPanels(t *testing.T) {
	pts := []scale.Point{
		{Budget: 1, Accuracy: 0.8535, Loss: 0.3773, Lipschitz: 5.227}, {Budget: 4, Accuracy: 0.9775, Loss: 0.1011, Lipschitz: 7.890},
		{Budget: 16, Accuracy: 0.9746, Loss: 0.0850, Lipschitz: 9.832}, {Budget: 64, Accuracy: 0.9746, Loss: 0.0849, Lipschitz: 9.820},
	}
	panels, err := newPanels("title", pts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"hold-out accuracy", "hold-out loss", "Lipschitz number L(t)"}
	if len(panels) != len(want) {
		t.Fatalf("%d panels, want %d", len(panels), len(want))
	}
	for i, p := range panels {
		if p.Y.Label.Text != want[i] || strings.Contains(p.Y.Label.Text+p.X.Label.Text+p.Title.Text, "_") {
			t.Errorf("panel %d: labels %q, %q", i, p.Y.Label.Text, p.X.Label.Text)
		}
		p.Y.Min, p.Y.Max = math.Inf(1), math.Inf(-1)
		for _, pt := range pts {
			v := []float64{pt.Accuracy, pt.Loss, pt.Lipschitz}[i]
			p.Y.Min, p.Y.Max = math.Min(p.Y.Min, v), math.Max(p.Y.Max, v)
		}
		labelled := 0
		for _, tk := range p.Y.Tick.Marker.Ticks(p.Y.Min, p.Y.Max) {
			if tk.Label != "" {
				labelled++
			}
		}
		if labelled < 4 || labelled > 9 {
			t.Errorf("%s: %d labelled ticks over [%v, %v]", want[i], labelled, p.Y.Min, p.Y.Max)
		}
	}
	pts[0].Accuracy = math.NaN()
	if panels, err := newPanels("title", pts); err != nil || len(panels) != 2 {
		t.Errorf("regression: %d panels, %v", len(panels), err)
	}
}

func TestReadableTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{0.8535, 0.9775, "0.86 0.88 0.90 0.92 0.94 0.96"},
		{5.227, 9.832, "6 7 8 9"},
		{0.0849, 0.3773, "0.10 0.15 0.20 0.25 0.30 0.35"},
		{2, 2, "1.98 1.99 2.00 2.01 2.02"},
	} {
		var got []string
		for _, tk := range (readableTicks{}).Ticks(c.lo, c.hi) {
			got = append(got, tk.Label)
		}
		if s := strings.Join(got, " "); s != c.want {
			t.Errorf("[%v, %v]: %s, want %s", c.lo, c.hi, s, c.want)
		}
	}
}
