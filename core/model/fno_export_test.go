package model

import "github.com/implicitlab/implicit/api"

// SpectralConvForTest applies a SpectralConv2d(c, c, k1, k2) with the
// weights w1, w2 to one channels-last h×w field.
func SpectralConvForTest(z, w1, w2 []float64, c, h, w, k1, k2 int) []float64 {
	sc := newSpectralConv(newDFTPlan(h, w, k1, k2, api.Float64), c, w1, w2, api.Float64)
	dst := make([]float64, len(z))
	sc.forward(dst, z, 1, new(spectralScratch), nil)
	return dst
}
