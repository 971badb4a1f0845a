// Package modeltest makes small random models and inputs for the engine's
// tests.
package modeltest

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/implicitlab/implicit/core/model"
)

// RandMatrix returns a rows×cols matrix of normal values times scale.
func RandMatrix(rng *rand.Rand, rows, cols int, scale float64) model.Matrix {
	m := model.NewMatrix(rows, cols)
	for i := range m.Data {
		m.Data[i] = scale * rng.NormFloat64()
	}
	return m
}

// RandVec returns n normal values times scale.
func RandVec(rng *rand.Rand, n int, scale float64) []float64 {
	return RandMatrix(rng, 1, n, scale).Data
}

// RandomDense returns a deq-dense model. A direct W is scaled to
// ‖W‖₂ = 0.7; the monotone A and B get the given scale, and m = 0.1.
func RandomDense(seed uint64, act model.Activation, param model.Parametrization, h, p, q int, scale float64) *model.Dense {
	rng := rand.New(rand.NewPCG(seed, 3))
	d := &model.Dense{
		Activation: act, Param: param,
		U: RandMatrix(rng, h, p, 1/math.Sqrt(float64(p))), Bias: RandVec(rng, h, 0.1),
		C: RandMatrix(rng, q, h, 1/math.Sqrt(float64(h))), OutBias: RandVec(rng, q, 0.1),
	}
	if param == model.Monotone {
		d.Monotone = 0.1
		d.A = RandMatrix(rng, h, h, scale/math.Sqrt(float64(h)))
		d.B = RandMatrix(rng, h, h, scale/math.Sqrt(float64(h)))
		return d
	}
	d.W = RandMatrix(rng, h, h, 1)
	s := SpectralNorm(d.W)
	for i := range d.W.Data {
		d.W.Data[i] *= 0.7 / s
	}
	return d
}

// RandomMLP returns an mlp model.
func RandomMLP(seed uint64, act model.Activation, h, p, q int) *model.MLP {
	rng := rand.New(rand.NewPCG(seed, 3))
	return &model.MLP{
		Activation: act,
		U:          RandMatrix(rng, h, p, 1/math.Sqrt(float64(p))), Bias: RandVec(rng, h, 0.1),
		C: RandMatrix(rng, q, h, 1/math.Sqrt(float64(h))), OutBias: RandVec(rng, q, 0.1),
	}
}

// SpectralNorm returns ‖m‖₂.
func SpectralNorm(m model.Matrix) float64 {
	var svd mat.SVD
	svd.Factorize(mat.NewDense(m.Rows, m.Cols, m.Data), mat.SVDNone)
	return svd.Values(nil)[0]
}

// RandomInputs returns n samples of p normal features.
func RandomInputs(seed uint64, n, p int) []float64 {
	return RandVec(rand.New(rand.NewPCG(seed, 4)), n*p, 1)
}

// MaxAbsDiff returns max |a_i − b_i|.
func MaxAbsDiff(a, b []float64) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// RandomConv returns a deq-conv model of c_in channels, h×w images, C and I
// channels, G groups, pool P and q outputs, with every tensor random (the
// normalisations' γ, β and running statistics too, so that tests exercise
// them) and the cell's convolutions of standard deviation cellStd.
func RandomConv(seed uint64, cin, h, w, c, i, g, p, q int, cellStd float64) *model.Conv {
	rng := rand.New(rand.NewPCG(seed, 5))
	m, err := model.NewConv(model.ConvConfig{InChannels: cin, Height: h, Width: w, Channels: c, Inner: i, Groups: g, Pool: p, Out: q, CellStd: cellStd}, rng)
	if err != nil {
		panic(err)
	}
	jitter := func(v []float64, centre, scale float64) {
		for k := range v {
			v[k] = centre + scale*rng.NormFloat64()
		}
	}
	for _, n := range []*model.Norm{&m.Cell.Norm1, &m.Cell.Norm2, &m.Cell.Norm3} {
		jitter(n.Weight, 1, 0.2)
		jitter(n.Bias, 0, 0.2)
	}
	for _, b := range []*model.BatchNorm{&m.StemNorm, &m.HeadNorm} {
		jitter(b.Weight, 1, 0.2)
		jitter(b.Bias, 0, 0.2)
		jitter(b.RunningMean, 0, 0.3)
		for k := range b.RunningVar {
			b.RunningVar[k] = 0.5 + rng.Float64()
		}
		b.NumBatchesTracked = 17
	}
	return m
}

// RandomCNN returns a cnn model of depth cells, each as RandomConv's.
func RandomCNN(seed uint64, depth, cin, h, w, c, i, g, p, q int, cellStd float64) *model.CNN {
	cnn := &model.CNN{ConvFrame: RandomConv(seed, cin, h, w, c, i, g, p, q, cellStd).ConvFrame}
	for l := range depth {
		cnn.Cells = append(cnn.Cells, RandomConv(seed+uint64(l)+1, cin, h, w, c, i, g, p, q, cellStd).Cell)
	}
	return cnn
}
