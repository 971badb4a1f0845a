package model

import (
	"fmt"
	"math"
	"strconv"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
)

// The deq-conv kind: the convolutional implicit layer of the Deep Implicit
// Layers tutorial (chapter 4), the ResNet-style cell of MDEQ and of image
// DEQs. For an image x (c_in channels, H×W pixels):
//
//	x̃  = stem_norm(stem(x))
//	z* = f(z*),  f(z) = norm3(relu(z + norm2(x̃ + conv2(norm1(relu(conv1(z))))))),  z⁰ = 0
//	y  = head(flatten(avg_pool2d(head_norm(z*), P)))
//
// with every convolution 3×3, stride 1, padding 1, norm1..3 GroupNorm(G, ·)
// and stem_norm, head_norm BatchNorm2d in eval mode (their running
// statistics), ε = 1e-5 throughout. Its file has the metadata keys
// implicit.in_channels (c_in), implicit.height (H), implicit.width (W),
// implicit.groups (G) and implicit.pool (P, dividing H and W), and the
// tensors of the PyTorch module's state_dict, C channels and I inner
// channels from their shapes:
//
//	stem.weight [C, c_in, 3, 3], stem.bias [C]
//	stem_norm.weight, .bias, .running_mean, .running_var [C], .num_batches_tracked (I64 scalar)
//	cell.conv1.weight [I, C, 3, 3]; cell.norm1.weight, .bias [I]
//	cell.conv2.weight [C, I, 3, 3]; cell.norm2.weight, .bias, cell.norm3.weight, .bias [C]
//	head_norm.* as stem_norm
//	head.weight [q, C·(H/P)·(W/P)], head.bias [q]
//
// An input row is the c_in·H·W values of x.flatten(1) (channels first); the
// state z is C·H·W values channels last (pixel by pixel, each pixel's C
// channels together), the layout the convolutions run in.
const (
	kindConv       = "deq-conv"
	metaInChannels = "implicit.in_channels"
	metaHeight     = "implicit.height"
	metaWidth      = "implicit.width"
	metaGroups     = "implicit.groups"
	metaPool       = "implicit.pool"
)

// Bounds on a deq-conv model's sizes: an image side, and the state of one
// sample (C·H·W values).
const (
	maxConvSide  = 1 << 12
	maxConvState = 1 << 24
)

var convKind = Kind{
	Name:   kindConv,
	Keys:   []string{metaInChannels, metaHeight, metaWidth, metaGroups, metaPool},
	Decode: decodeConv,
}

// Conv2d holds the parameters of a PyTorch nn.Conv2d(in, out, 3,
// padding=1).
type Conv2d struct {
	Weight []float64 // [out, in, 3, 3]
	Bias   []float64 // [out]; nil for bias=False
}

// Norm holds the affine parameters of a PyTorch nn.GroupNorm.
type Norm struct {
	Weight, Bias []float64
}

// BatchNorm holds the parameters and running statistics of a PyTorch
// nn.BatchNorm2d, which deq-conv uses in eval mode.
type BatchNorm struct {
	Weight, Bias            []float64
	RunningMean, RunningVar []float64
	// NumBatchesTracked is PyTorch's count of training batches, kept so
	// that a file written here loads into the module strictly; it is not
	// used.
	NumBatchesTracked float64
}

// Conv holds the parameters of a deq-conv model. Its fields mirror the model
// file; Channels (C), Inner (I) and the head's q follow from the tensors'
// shapes. A Conv must not change while a Model built from it is in use.
type Conv struct {
	InChannels, Height, Width int // c_in, H, W of an input image
	Channels, Inner           int // C and I
	Groups, Pool              int // G and P

	Stem     Conv2d
	StemNorm BatchNorm
	Conv1    Conv2d // no bias
	Norm1    Norm
	Conv2    Conv2d // no bias
	Norm2    Norm
	Norm3    Norm
	HeadNorm BatchNorm
	Head     Matrix    // q×(C·(H/P)·(W/P))
	HeadBias []float64 // q

	Defaults api.Defaults
}

// Kind is "deq-conv".
func (c *Conv) Kind() string { return kindConv }

// Sizes are c_in·H·W inputs, a state of C·H·W and q outputs.
func (c *Conv) Sizes() api.Sizes {
	hw := c.Height * c.Width
	return api.Sizes{In: c.InChannels * hw, State: c.Channels * hw, Out: c.Head.Rows}
}

// Describe names the model: "C=16, I=32, G=4, 8×8×1 images, pool 2".
func (c *Conv) Describe() string {
	return fmt.Sprintf("C=%d, I=%d, G=%d, %d×%d×%d images, pool %d", c.Channels, c.Inner, c.Groups, c.Height, c.Width, c.InChannels, c.Pool)
}

// SolverDefaults points at the file's solver settings.
func (c *Conv) SolverDefaults() *api.Defaults { return &c.Defaults }

// DefaultMethod is Anderson.
func (c *Conv) DefaultMethod() api.Method { return nil }

// Metadata holds c_in, H, W, G and P.
func (c *Conv) Metadata() map[string]string {
	return map[string]string{
		metaInChannels: strconv.Itoa(c.InChannels), metaHeight: strconv.Itoa(c.Height), metaWidth: strconv.Itoa(c.Width),
		metaGroups: strconv.Itoa(c.Groups), metaPool: strconv.Itoa(c.Pool),
	}
}

// Tensors are the state_dict's, in the module's order.
func (c *Conv) Tensors() []Tensor {
	k := func(out, in int) []int { return []int{out, in, 3, 3} }
	cc, ii := c.Channels, c.Inner
	ts := []Tensor{
		{Name: "stem.weight", Shape: k(cc, c.InChannels), Data: c.Stem.Weight},
		vectorTensor("stem.bias", c.Stem.Bias),
	}
	ts = append(ts, c.StemNorm.tensors("stem_norm")...)
	ts = append(ts,
		Tensor{Name: "cell.conv1.weight", Shape: k(ii, cc), Data: c.Conv1.Weight},
		vectorTensor("cell.norm1.weight", c.Norm1.Weight), vectorTensor("cell.norm1.bias", c.Norm1.Bias),
		Tensor{Name: "cell.conv2.weight", Shape: k(cc, ii), Data: c.Conv2.Weight},
		vectorTensor("cell.norm2.weight", c.Norm2.Weight), vectorTensor("cell.norm2.bias", c.Norm2.Bias),
		vectorTensor("cell.norm3.weight", c.Norm3.Weight), vectorTensor("cell.norm3.bias", c.Norm3.Bias),
	)
	ts = append(ts, c.HeadNorm.tensors("head_norm")...)
	return append(ts, matrixTensor("head.weight", c.Head), vectorTensor("head.bias", c.HeadBias))
}

// tensors lists a BatchNorm2d's state_dict entries under prefix; the
// running statistics and the batch count are not trained.
func (b *BatchNorm) tensors(prefix string) []Tensor {
	rm, rv := vectorTensor(prefix+".running_mean", b.RunningMean), vectorTensor(prefix+".running_var", b.RunningVar)
	rm.Fixed, rv.Fixed = true, true
	return []Tensor{
		vectorTensor(prefix+".weight", b.Weight), vectorTensor(prefix+".bias", b.Bias), rm, rv,
		{Name: prefix + ".num_batches_tracked", Shape: []int{}, Data: []float64{b.NumBatchesTracked}, Fixed: true, Int: true},
	}
}

// Zero returns a Conv of the same sizes with every tensor zero.
func (c *Conv) Zero() Architecture {
	z := &Conv{InChannels: c.InChannels, Height: c.Height, Width: c.Width, Channels: c.Channels, Inner: c.Inner,
		Groups: c.Groups, Pool: c.Pool, Head: NewMatrix(c.Head.Rows, c.Head.Cols), HeadBias: make([]float64, len(c.HeadBias))}
	zeros := func(v []float64) []float64 { return make([]float64, len(v)) }
	z.Stem = Conv2d{Weight: zeros(c.Stem.Weight), Bias: zeros(c.Stem.Bias)}
	z.Conv1, z.Conv2 = Conv2d{Weight: zeros(c.Conv1.Weight)}, Conv2d{Weight: zeros(c.Conv2.Weight)}
	for _, p := range [][2]*Norm{{&z.Norm1, &c.Norm1}, {&z.Norm2, &c.Norm2}, {&z.Norm3, &c.Norm3}} {
		*p[0] = Norm{Weight: zeros(p[1].Weight), Bias: zeros(p[1].Bias)}
	}
	for _, p := range [][2]*BatchNorm{{&z.StemNorm, &c.StemNorm}, {&z.HeadNorm, &c.HeadNorm}} {
		*p[0] = BatchNorm{Weight: zeros(p[1].Weight), Bias: zeros(p[1].Bias), RunningMean: zeros(p[1].RunningMean), RunningVar: zeros(p[1].RunningVar)}
	}
	return z
}

// Validate checks the sizes, every shape against them, the divisibility of
// the groups and the pool, and that every value is finite (and every
// running variance ≥ 0).
func (c *Conv) Validate() error {
	if err := c.sizeError(); err != nil {
		return err
	}
	cc, ii, h, w, p := c.Channels, c.Inner, c.Height, c.Width, c.Pool
	q := c.Head.Rows
	if q <= 0 {
		return modelErrorf("head.weight has %d rows (want q > 0 outputs)", q)
	}
	feat := cc * (h / p) * (w / p)
	errs := []error{
		checkValues("stem.weight", c.Stem.Weight, cc*c.InChannels*9),
		checkValues("stem.bias", c.Stem.Bias, cc),
		c.StemNorm.validate("stem_norm", cc),
		checkValues("cell.conv1.weight", c.Conv1.Weight, ii*cc*9),
		noBias("cell.conv1", c.Conv1),
		checkValues("cell.norm1.weight", c.Norm1.Weight, ii), checkValues("cell.norm1.bias", c.Norm1.Bias, ii),
		checkValues("cell.conv2.weight", c.Conv2.Weight, cc*ii*9),
		noBias("cell.conv2", c.Conv2),
		checkValues("cell.norm2.weight", c.Norm2.Weight, cc), checkValues("cell.norm2.bias", c.Norm2.Bias, cc),
		checkValues("cell.norm3.weight", c.Norm3.Weight, cc), checkValues("cell.norm3.bias", c.Norm3.Bias, cc),
		c.HeadNorm.validate("head_norm", cc),
		checkMatrix("head.weight", c.Head, q, feat),
		checkValues("head.bias", c.HeadBias, q),
		validateDefaults(c.Defaults),
	}
	return firstError(errs...)
}

func noBias(name string, cv Conv2d) error {
	if cv.Bias != nil {
		return modelErrorf("%s has a bias; the cell's convolutions have none (bias=False)", name)
	}
	return nil
}

func (b *BatchNorm) validate(prefix string, c int) error {
	err := firstError(
		checkValues(prefix+".weight", b.Weight, c), checkValues(prefix+".bias", b.Bias, c),
		checkValues(prefix+".running_mean", b.RunningMean, c), checkValues(prefix+".running_var", b.RunningVar, c),
	)
	if err != nil {
		return err
	}
	for i, v := range b.RunningVar {
		if v < 0 {
			return modelErrorf("%s.running_var holds %v at index %d (a variance is ≥ 0)", prefix, v, i)
		}
	}
	if v := b.NumBatchesTracked; v != math.Trunc(v) || math.IsInf(v, 0) {
		return modelErrorf("%s.num_batches_tracked is %v, not a count", prefix, v)
	}
	return nil
}

// decodeConv reads a deq-conv file's metadata and tensors.
func decodeConv(ts tensors, meta map[string]string) (Architecture, error) {
	c := &Conv{}
	for _, f := range []struct {
		key string
		dst *int
	}{{metaInChannels, &c.InChannels}, {metaHeight, &c.Height}, {metaWidth, &c.Width}, {metaGroups, &c.Groups}, {metaPool, &c.Pool}} {
		v, ok := meta[f.key]
		if !ok {
			return nil, modelErrorf("metadata %s is missing (a %s model has %s, %s, %s, %s and %s)", f.key, kindConv, metaInChannels, metaHeight, metaWidth, metaGroups, metaPool)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > maxConvState {
			return nil, modelErrorf("metadata %s=%q (want a whole number from 1 to %d)", f.key, v, maxConvState)
		}
		*f.dst = n
	}
	bn := func(prefix string) []string {
		return []string{prefix + ".weight", prefix + ".bias", prefix + ".running_mean", prefix + ".running_var"}
	}
	want := []string{"stem.weight", "stem.bias"}
	want = append(want, bn("stem_norm")...)
	want = append(want, "cell.conv1.weight", "cell.norm1.weight", "cell.norm1.bias", "cell.conv2.weight",
		"cell.norm2.weight", "cell.norm2.bias", "cell.norm3.weight", "cell.norm3.bias")
	want = append(want, bn("head_norm")...)
	want = append(want, "head.weight", "head.bias")
	if err := ts.expect("a "+kindConv+" model", want, "stem_norm.num_batches_tracked", "head_norm.num_batches_tracked"); err != nil {
		return nil, err
	}
	stem := ts["stem.weight"].Shape
	if len(stem) != 4 || stem[1] != c.InChannels || stem[2] != 3 || stem[3] != 3 {
		return nil, modelErrorf("tensor \"stem.weight\" has shape %v, want [C, %d, 3, 3] (%s=%d, a 3×3 convolution)", stem, c.InChannels, metaInChannels, c.InChannels)
	}
	c.Channels = stem[0]
	conv1 := ts["cell.conv1.weight"].Shape
	if len(conv1) != 4 || conv1[1] != c.Channels || conv1[2] != 3 || conv1[3] != 3 {
		return nil, modelErrorf("tensor \"cell.conv1.weight\" has shape %v, want [I, %d, 3, 3] (C=%d from stem.weight)", conv1, c.Channels, c.Channels)
	}
	c.Inner = conv1[0]
	if err := c.sizeError(); err != nil {
		return nil, err
	}
	head := ts["head.weight"].Shape
	feat := c.Channels * (c.Height / c.Pool) * (c.Width / c.Pool)
	if len(head) != 2 || head[1] != feat {
		return nil, modelErrorf("tensor \"head.weight\" has shape %v, want [q, %d] (C·(H/P)·(W/P) = %d·%d·%d)", head, feat, c.Channels, c.Height/c.Pool, c.Width/c.Pool)
	}
	why := fmt.Sprintf("C=%d from stem.weight, I=%d from cell.conv1.weight, q=%d from head.weight", c.Channels, c.Inner, head[0])
	shapes := map[string][]int{"stem.bias": {c.Channels}, "cell.conv2.weight": {c.Channels, c.Inner, 3, 3},
		"cell.norm1.weight": {c.Inner}, "cell.norm1.bias": {c.Inner}, "head.bias": {head[0]},
		"stem_norm.num_batches_tracked": {}, "head_norm.num_batches_tracked": {}}
	for _, name := range append(bn("stem_norm"), append(bn("head_norm"), "cell.norm2.weight", "cell.norm2.bias", "cell.norm3.weight", "cell.norm3.bias")...) {
		shapes[name] = []int{c.Channels}
	}
	for _, name := range append(want, "stem_norm.num_batches_tracked", "head_norm.num_batches_tracked") {
		if s, ok := shapes[name]; ok {
			if err := ts.shape(name, s, why); err != nil {
				return nil, err
			}
		}
	}
	d := func(name string) []float64 { return ts[name].Data }
	batchNorm := func(prefix string) BatchNorm {
		return BatchNorm{Weight: d(prefix + ".weight"), Bias: d(prefix + ".bias"), RunningMean: d(prefix + ".running_mean"),
			RunningVar: d(prefix + ".running_var"), NumBatchesTracked: d(prefix + ".num_batches_tracked")[0]}
	}
	c.Stem = Conv2d{Weight: d("stem.weight"), Bias: d("stem.bias")}
	c.StemNorm = batchNorm("stem_norm")
	c.Conv1 = Conv2d{Weight: d("cell.conv1.weight")}
	c.Norm1 = Norm{Weight: d("cell.norm1.weight"), Bias: d("cell.norm1.bias")}
	c.Conv2 = Conv2d{Weight: d("cell.conv2.weight")}
	c.Norm2 = Norm{Weight: d("cell.norm2.weight"), Bias: d("cell.norm2.bias")}
	c.Norm3 = Norm{Weight: d("cell.norm3.weight"), Bias: d("cell.norm3.bias")}
	c.HeadNorm = batchNorm("head_norm")
	c.Head, c.HeadBias = ts.matrix("head.weight"), d("head.bias")
	return c, nil
}

// sizeError is Validate's complaint about the sizes alone, or nil.
func (c *Conv) sizeError() error {
	cin, h, w, cc, ii, g, p := c.InChannels, c.Height, c.Width, c.Channels, c.Inner, c.Groups, c.Pool
	switch {
	case cin <= 0 || h <= 0 || w <= 0 || cc <= 0 || ii <= 0 || g <= 0 || p <= 0:
		return modelErrorf("deq-conv sizes c_in=%d, H=%d, W=%d, C=%d, I=%d, G=%d, P=%d (all must be positive)", cin, h, w, cc, ii, g, p)
	case h > maxConvSide || w > maxConvSide:
		return modelErrorf("deq-conv images of %d×%d pixels (at most %d a side)", h, w, maxConvSide)
	case cc > maxConvState/(h*w) || ii > maxConvState/(h*w) || cin > maxConvState/(h*w):
		return modelErrorf("deq-conv state of %d×%d pixels and %d, %d or %d channels is over %d values a sample", h, w, cc, ii, cin, maxConvState)
	case cc%g != 0 || ii%g != 0:
		return modelErrorf("%s=%d does not divide the channels (C=%d of stem.weight, I=%d of cell.conv1.weight)", metaGroups, g, cc, ii)
	case h%p != 0 || w%p != 0:
		return modelErrorf("%s=%d does not divide the image's %d×%d pixels", metaPool, p, h, w)
	}
	return nil
}

// convLayer is a deq-conv model prepared to compute, on channels-last
// images.
type convLayer struct {
	c                  *Conv
	hw, state          int // pixels, and C·hw
	stem               *conv3x3
	stemNorm, headNorm *batchNorm
	cell               convCell
	head               affine
}

// convCell is f's layers.
type convCell struct {
	hw, c, inner        int
	conv1, conv2        *conv3x3
	norm1, norm2, norm3 *groupNorm
}

// cellTape keeps f's intermediates at a batch's fixed points, for the
// vector-Jacobian products: its input z, conv1(z) before the relu, norm1's
// output (conv2's input), x̃ + norm2(…) + z before the relu, and the
// normalisations' x̂ and 1/σ.
type cellTape struct {
	z, a1, n1, t   []float64
	g1, g2, g3     normTape
	inner, channel int // values a sample: I·hw and C·hw
}

// cellScratch holds f's buffers for one caller.
type cellScratch struct {
	a, b, d []float64 // I·hw, I·hw and C·hw a sample
	conv    convScratch
}

// Build packs the convolutions and the head for the kernel.
func (c *Conv) Build() (Layer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	hw := c.Height * c.Width
	gn := func(n Norm, ch int) *groupNorm {
		return &groupNorm{groups: c.Groups, c: ch, hw: hw, weight: n.Weight, bias: n.Bias}
	}
	bn := func(b BatchNorm) *batchNorm { return newBatchNorm(b.Weight, b.Bias, b.RunningMean, b.RunningVar) }
	return &convLayer{
		c: c, hw: hw, state: c.Channels * hw,
		stem:     newConv3x3(c.Stem.Weight, c.Stem.Bias, c.InChannels, c.Channels, c.Height, c.Width),
		stemNorm: bn(c.StemNorm), headNorm: bn(c.HeadNorm),
		cell: convCell{hw: hw, c: c.Channels, inner: c.Inner,
			conv1: newConv3x3(c.Conv1.Weight, nil, c.Channels, c.Inner, c.Height, c.Width),
			conv2: newConv3x3(c.Conv2.Weight, nil, c.Inner, c.Channels, c.Height, c.Width),
			norm1: gn(c.Norm1, c.Inner), norm2: gn(c.Norm2, c.Channels), norm3: gn(c.Norm3, c.Channels)},
		head: newAffine(c.Head, c.HeadBias),
	}, nil
}

// stemInputs returns the n images x (channels first, as an input row) in
// channels-last order, and the stem's output before stem_norm.
func (l *convLayer) stemInputs(x []float64, n int) (xl, s []float64) {
	xl = make([]float64, n*l.hw*l.c.InChannels)
	toChannelsLast(xl, x, n, l.c.InChannels, l.hw)
	s = make([]float64, n*l.state)
	l.stem.forward(s, xl, n, new(convScratch))
	return xl, s
}

// Inject returns x̃ = stem_norm(stem(x)) (n×hw×C).
func (l *convLayer) Inject(x []float64, n int) []float64 {
	_, s := l.stemInputs(x, n)
	l.stemNorm.forward(s, s, n*l.hw)
	return s
}

// Problem is z = f(z) for the injections inj; it has no splitting.
func (l *convLayer) Problem(inj []float64, n int) fixedpoint.BatchProblem {
	var s cellScratch // a Problem is solved by one goroutine
	return fixedpoint.BatchProblem{Dim: l.state, Samples: n, F: func(dst, z []float64, rows []int) {
		l.cell.forward(dst, z, inj, rows, &s, nil)
	}}
}

// forward sets dst = f(z) for the images rows (indexes into inj), z and dst
// holding them compacted. With a tape (rows 0…n−1) it records f's
// intermediates.
func (cl *convCell) forward(dst, z, inj []float64, rows []int, s *cellScratch, tape *cellTape) {
	m, hw := len(rows), cl.hw
	in, ch := cl.inner*hw, cl.c*hw
	s.a, s.b = grow(s.a, m*in), grow(s.b, m*in)
	a1, n1, a2 := s.a, s.b, dst[:m*ch]
	cl.conv1.forward(a1, z, m, &s.conv)
	reluTo(n1, a1)
	var g1, g2, g3 *normTape
	if tape != nil {
		tape.z, tape.a1 = append(tape.z[:0], z[:m*ch]...), append(tape.a1[:0], a1...)
		tape.inner, tape.channel = in, ch
		g1, g2, g3 = &tape.g1, &tape.g2, &tape.g3
	}
	cl.norm1.forward(n1, n1, m, g1)
	if tape != nil {
		tape.n1 = append(tape.n1[:0], n1...)
	}
	cl.conv2.forward(a2, n1, m, &s.conv)
	for k, i := range rows {
		addTo(a2[k*ch:(k+1)*ch], inj[i*ch:(i+1)*ch])
	}
	cl.norm2.forward(a2, a2, m, g2)
	addTo(a2, z[:m*ch]) // t = z + norm2(x̃ + conv2(…))
	if tape != nil {
		tape.t = append(tape.t[:0], a2...)
	}
	reluTo(a2, a2)
	cl.norm3.forward(a2, a2, m, g3)
}

func addTo(dst, v []float64) {
	for i, x := range v {
		dst[i] += x
	}
}

// cellGrads are where vjp adds the gradients of f's parameters, and of x̃.
type cellGrads struct {
	conv1, conv2        []float64
	norm1, norm2, norm3 Norm
	inj                 []float64 // ∂L/∂x̃, n×hw×C
}

// vjp sets dz (compacted as u) to J_f(z)ᵀ u for the images rows of the
// tape, and adds the gradients of the parameters to g if it is not nil.
func (cl *convCell) vjp(dz, u []float64, rows []int, tape *cellTape, s *cellScratch, g *cellGrads) {
	m := len(rows)
	in, ch := tape.inner, tape.channel
	s.d, s.a, s.b = grow(s.d, m*ch), grow(s.a, m*in), grow(s.b, m*in)
	d := s.d
	var gn3, gn2, gn1 Norm
	if g != nil {
		gn3, gn2, gn1 = g.norm3, g.norm2, g.norm1
	}
	cl.norm3.backward(d, u, rows, &tape.g3, gn3.Weight, gn3.Bias)
	reluBackwardRows(d, d, tape.t, rows, ch) // ∂L/∂t
	copy(dz[:m*ch], d)                       // t = z + …: the identity path
	cl.norm2.backward(d, d, rows, &tape.g2, gn2.Weight, gn2.Bias)
	if g != nil {
		for k, i := range rows {
			addTo(g.inj[i*ch:(i+1)*ch], d[k*ch:(k+1)*ch])
		}
		cl.conv2.backwardWeight(g.conv2, nil, gatherRows(s.b, tape.n1, rows, in), d, m, &s.conv)
	}
	dn1 := s.a
	clear(dn1)
	cl.conv2.backwardData(dn1, d, m, &s.conv)
	cl.norm1.backward(dn1, dn1, rows, &tape.g1, gn1.Weight, gn1.Bias)
	reluBackwardRows(dn1, dn1, tape.a1, rows, in) // ∂L/∂conv1(z)
	if g != nil {
		zr := make([]float64, m*ch)
		cl.conv1.backwardWeight(g.conv1, nil, gatherRows(zr, tape.z, rows, ch), dn1, m, &s.conv)
	}
	cl.conv1.backwardData(dz, dn1, m, &s.conv)
}

// gatherRows copies the rows of src (size values each) into dst, compacted,
// and returns it.
func gatherRows(dst, src []float64, rows []int, size int) []float64 {
	dst = grow(dst, len(rows)*size)
	for k, i := range rows {
		copy(dst[k*size:(k+1)*size], src[i*size:(i+1)*size])
	}
	return dst
}

// reluBackwardRows is reluBackward with the pre-activations of the images
// rows of pre (size values each).
func reluBackwardRows(dx, dy, pre []float64, rows []int, size int) {
	for k, i := range rows {
		reluBackward(dx[k*size:(k+1)*size], dy[k*size:(k+1)*size], pre[i*size:(i+1)*size])
	}
}

// Readout sets y = head(flatten(avg_pool2d(head_norm(z), P))).
func (l *convLayer) Readout(y, z []float64, n int) {
	l.head.forward(y, l.features(z, n), n)
}

// features returns the head's input for the states z.
func (l *convLayer) features(z []float64, n int) []float64 {
	c := l.c
	hn := make([]float64, n*l.state)
	l.headNorm.forward(hn, z, n*l.hw)
	feat := make([]float64, n*c.Head.Cols)
	avgPoolFlatten(feat, hn, n, c.Height, c.Width, c.Channels, c.Pool)
	return feat
}

// convBackward holds a batch's inputs, its fixed points and f's tape at
// them.
type convBackward struct {
	l     *convLayer
	x, z  []float64
	n     int
	tape  cellTape
	all   []int
	grads cellScratch
}

func (l *convLayer) Backward(x, inj, z []float64, n int) Backward {
	b := &convBackward{l: l, x: x, z: z, n: n, all: seq(n)}
	var s cellScratch
	l.cell.forward(make([]float64, n*l.state), z, inj, b.all, &s, &b.tape)
	return b
}

// Readout adds the head's and head_norm's gradients and returns ∂L/∂z*.
func (b *convBackward) Readout(grad Architecture, gy []float64) []float64 {
	g, l, c := grad.(*Conv), b.l, b.l.c
	b.l.head.paramGrad(g.Head.Data, g.HeadBias, gy, l.features(b.z, b.n), b.n)
	dfeat := b.l.head.inputGrad(gy, b.n)
	dz := make([]float64, b.n*l.state)
	avgPoolFlattenBackward(dz, dfeat, b.n, c.Height, c.Width, c.Channels, c.Pool)
	l.headNorm.backward(dz, dz, b.z, b.n*l.hw, g.HeadNorm.Weight, g.HeadNorm.Bias)
	return dz
}

// Adjoint is u = J_f(z*)ᵀ u + gz, by vector-Jacobian products through f.
func (b *convBackward) Adjoint(gz []float64) fixedpoint.BatchProblem {
	var s cellScratch
	ch := b.l.state
	return fixedpoint.BatchProblem{Dim: ch, Samples: b.n, F: func(dst, u []float64, rows []int) {
		b.l.cell.vjp(dst, u, rows, &b.tape, &s, nil)
		for k, i := range rows {
			addTo(dst[k*ch:(k+1)*ch], gz[i*ch:(i+1)*ch])
		}
	}}
}

// JacobianFree returns u = gz.
func (b *convBackward) JacobianFree(gz []float64) []float64 { return gz }

// Params adds the gradients of f's, the stem's and stem_norm's parameters
// for the adjoint u.
func (b *convBackward) Params(grad Architecture, u []float64) {
	g, l := grad.(*Conv), b.l
	cg := &cellGrads{conv1: g.Conv1.Weight, conv2: g.Conv2.Weight, norm1: g.Norm1, norm2: g.Norm2, norm3: g.Norm3,
		inj: make([]float64, b.n*l.state)}
	l.cell.vjp(make([]float64, b.n*l.state), u, b.all, &b.tape, &b.grads, cg)
	xl, s := l.stemInputs(b.x, b.n)
	l.stemNorm.backward(cg.inj, cg.inj, s, b.n*l.hw, g.StemNorm.Weight, g.StemNorm.Bias)
	l.stem.backwardWeight(g.Stem.Weight, g.Stem.Bias, xl, cg.inj, b.n, &b.grads.conv)
}
