package pretrained

import (
	"bytes"
	"testing"

	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/internal/models"
)

// The public bytes are the embedded files, and both load.
func TestModelsLoad(t *testing.T) {
	for name, c := range map[string]struct{ got, want []byte }{
		"digits":      {Digits(), models.DigitsFile()},
		"digits-conv": {DigitsConv(), models.DigitsConvFile()},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s: not the embedded file", name)
		}
		m, err := model.Load(c.got)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if info := m.Info(); info.In != 64 || info.Out != 10 {
			t.Errorf("%s: %d inputs, %d outputs", name, info.In, info.Out)
		}
	}
	// A copy: changing it leaves the next caller's alone.
	Digits()[0] ^= 1
	if !bytes.Equal(Digits(), models.DigitsFile()) {
		t.Error("Digits returns the embedded bytes themselves")
	}
}
