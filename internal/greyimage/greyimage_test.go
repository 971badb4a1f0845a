package greyimage

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
	"testing"
)

// A colour PNG reads as its luma; the intensities written back read the
// same to 8 bits; oversized and broken files are refused.
func TestRoundTrip(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	img.Set(1, 0, color.RGBA{255, 255, 255, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	pix, w, h, err := Decode(b.Bytes(), 6)
	if err != nil || w != 3 || h != 2 {
		t.Fatalf("%v %d×%d", err, w, h)
	}
	if want := 0.299; math.Abs(pix[0]-want) > 0.01 || pix[1] != 1 || pix[2] != 0 {
		t.Errorf("intensities %v", pix)
	}
	out, err := Encode(pix, w, h)
	if err != nil {
		t.Fatal(err)
	}
	again, _, _, err := Decode(out, 6)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pix {
		if math.Abs(again[i]-pix[i]) > 0.5/255+1e-9 {
			t.Errorf("pixel %d: %v, then %v", i, pix[i], again[i])
		}
	}
	if _, _, _, err := Decode(b.Bytes(), 5); err == nil || !strings.Contains(err.Error(), "3×2 pixels") {
		t.Errorf("over the pixel limit: %v", err)
	}
	if _, _, _, err := Decode([]byte("GIF89a"), 100); err == nil || !strings.Contains(err.Error(), "not a PNG") {
		t.Errorf("not a PNG: %v", err)
	}
	if p := PSNR([]float64{0.5, 2}, []float64{0.5, 1}); !math.IsInf(p, 1) {
		t.Errorf("PSNR of an estimate equal once clipped: %v", p)
	}
	if Clip01(math.NaN()) != 0 || Clip01(-1) != 0 || Clip01(3) != 1 {
		t.Error("Clip01")
	}
}
