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
