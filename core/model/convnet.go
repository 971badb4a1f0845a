package model

import (
	"fmt"
	"math"
	"strconv"

	"github.com/implicitlab/implicit/api"
)

// What the convolutional kinds (deq-conv, and cnn, its explicit
// counterpart) share: the frame around their cells (a stem convolution and
// BatchNorm in front, a BatchNorm, average pooling and a linear head behind)
// and the cell itself, the Deep Implicit Layers tutorial's ResNet block,
//
//	cell(z, x̃) = norm3(relu(z + norm2(x̃ + conv2(norm1(relu(conv1(z))))))),
//
// every convolution 3×3, stride 1, padding 1, norm1..3 GroupNorm(G, ·), the
// BatchNorms in eval mode, ε = 1e-5. Images are c_in×H×W (an input row is
// x.flatten(1), channels first); states are C·H·W values channels last.

// Metadata keys of the convolutional kinds.
const (
	metaInChannels = "implicit.in_channels"
	metaHeight     = "implicit.height"
	metaWidth      = "implicit.width"
	metaGroups     = "implicit.groups"
	metaPool       = "implicit.pool"
)

var frameKeys = []string{metaInChannels, metaHeight, metaWidth, metaGroups, metaPool}

// Bounds on a convolutional model's sizes: an image side, and the state of
// one sample (C·H·W values).
const (
	maxConvSide  = 1 << 12
	maxConvState = 1 << 24
)

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
// nn.BatchNorm2d, used in eval mode.
type BatchNorm struct {
	Weight, Bias            []float64
	RunningMean, RunningVar []float64
	// NumBatchesTracked is PyTorch's count of training batches, kept so
	// that a file written here loads into the module strictly; it is not
	// used.
	NumBatchesTracked float64
}

// Cell holds the parameters of one cell: conv1 [I, C, 3, 3] and conv2
// [C, I, 3, 3] without bias, norm1 over I channels, norm2 and norm3 over C.
type Cell struct {
	Conv1, Conv2        Conv2d
	Norm1, Norm2, Norm3 Norm
}

// ConvFrame holds what a convolutional model has around its cells, and its
// sizes: c_in, H, W of an input image, C channels, I inner channels, G
// groups, the pool P and, from the head's rows, q outputs.
type ConvFrame struct {
	InChannels, Height, Width int
	Channels, Inner           int
	Groups, Pool              int

	Stem     Conv2d
	StemNorm BatchNorm
	HeadNorm BatchNorm
	Head     Matrix    // q×(C·(H/P)·(W/P))
	HeadBias []float64 // q

	Defaults api.Defaults
}

// Sizes are c_in·H·W inputs, a state of C·H·W and q outputs.
func (f *ConvFrame) Sizes() api.Sizes {
	hw := f.Height * f.Width
	return api.Sizes{In: f.InChannels * hw, State: f.Channels * hw, Out: f.Head.Rows}
}

// SolverDefaults points at the file's solver settings.
func (f *ConvFrame) SolverDefaults() *api.Defaults { return &f.Defaults }

func (f *ConvFrame) describe() string {
	return fmt.Sprintf("C=%d, I=%d, G=%d, %d×%d×%d images, pool %d", f.Channels, f.Inner, f.Groups, f.Height, f.Width, f.InChannels, f.Pool)
}

func (f *ConvFrame) metadata() map[string]string {
	return map[string]string{
		metaInChannels: strconv.Itoa(f.InChannels), metaHeight: strconv.Itoa(f.Height), metaWidth: strconv.Itoa(f.Width),
		metaGroups: strconv.Itoa(f.Groups), metaPool: strconv.Itoa(f.Pool),
	}
}

func kernelShape(out, in int) []int { return []int{out, in, 3, 3} }

// stemTensors and headTensors are the frame's state_dict entries, before
// and after the cells'.
func (f *ConvFrame) stemTensors() []Tensor {
	ts := []Tensor{{Name: "stem.weight", Shape: kernelShape(f.Channels, f.InChannels), Data: f.Stem.Weight}, vectorTensor("stem.bias", f.Stem.Bias)}
	return append(ts, f.StemNorm.tensors("stem_norm")...)
}

func (f *ConvFrame) headTensors() []Tensor {
	return append(f.HeadNorm.tensors("head_norm"), matrixTensor("head.weight", f.Head), vectorTensor("head.bias", f.HeadBias))
}

// tensors lists a cell's state_dict entries under prefix ("cell.").
func (c *Cell) tensors(prefix string, ch, inner int) []Tensor {
	return []Tensor{
		{Name: prefix + "conv1.weight", Shape: kernelShape(inner, ch), Data: c.Conv1.Weight},
		vectorTensor(prefix+"norm1.weight", c.Norm1.Weight), vectorTensor(prefix+"norm1.bias", c.Norm1.Bias),
		{Name: prefix + "conv2.weight", Shape: kernelShape(ch, inner), Data: c.Conv2.Weight},
		vectorTensor(prefix+"norm2.weight", c.Norm2.Weight), vectorTensor(prefix+"norm2.bias", c.Norm2.Bias),
		vectorTensor(prefix+"norm3.weight", c.Norm3.Weight), vectorTensor(prefix+"norm3.bias", c.Norm3.Bias),
	}
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

func zeros(v []float64) []float64 { return make([]float64, len(v)) }

// zero returns a frame of the same sizes with every tensor zero.
func (f *ConvFrame) zero() ConvFrame {
	z := ConvFrame{InChannels: f.InChannels, Height: f.Height, Width: f.Width, Channels: f.Channels, Inner: f.Inner,
		Groups: f.Groups, Pool: f.Pool, Head: NewMatrix(f.Head.Rows, f.Head.Cols), HeadBias: zeros(f.HeadBias)}
	z.Stem = Conv2d{Weight: zeros(f.Stem.Weight), Bias: zeros(f.Stem.Bias)}
	z.StemNorm, z.HeadNorm = f.StemNorm.zero(), f.HeadNorm.zero()
	return z
}

func (b *BatchNorm) zero() BatchNorm {
	return BatchNorm{Weight: zeros(b.Weight), Bias: zeros(b.Bias), RunningMean: zeros(b.RunningMean), RunningVar: zeros(b.RunningVar)}
}

func (c *Cell) zero() Cell {
	z := func(n Norm) Norm { return Norm{Weight: zeros(n.Weight), Bias: zeros(n.Bias)} }
	return Cell{Conv1: Conv2d{Weight: zeros(c.Conv1.Weight)}, Conv2: Conv2d{Weight: zeros(c.Conv2.Weight)},
		Norm1: z(c.Norm1), Norm2: z(c.Norm2), Norm3: z(c.Norm3)}
}

// sizeError checks the sizes alone: positive, bounded, G dividing C and I,
// P dividing H and W.
func (f *ConvFrame) sizeError() error {
	cin, h, w, cc, ii, g, p := f.InChannels, f.Height, f.Width, f.Channels, f.Inner, f.Groups, f.Pool
	switch {
	case cin <= 0 || h <= 0 || w <= 0 || cc <= 0 || ii <= 0 || g <= 0 || p <= 0:
		return modelErrorf("convolutional sizes c_in=%d, H=%d, W=%d, C=%d, I=%d, G=%d, P=%d (all must be positive)", cin, h, w, cc, ii, g, p)
	case h > maxConvSide || w > maxConvSide:
		return modelErrorf("images of %d×%d pixels (at most %d a side)", h, w, maxConvSide)
	case cc > maxConvState/(h*w) || ii > maxConvState/(h*w) || cin > maxConvState/(h*w):
		return modelErrorf("a state of %d×%d pixels and %d, %d or %d channels is over %d values a sample", h, w, cc, ii, cin, maxConvState)
	case cc%g != 0 || ii%g != 0:
		return modelErrorf("%s=%d does not divide the channels (C=%d of stem.weight, I=%d of the cell's conv1.weight)", metaGroups, g, cc, ii)
	case h%p != 0 || w%p != 0:
		return modelErrorf("%s=%d does not divide the image's %d×%d pixels", metaPool, p, h, w)
	}
	return nil
}

// validate checks the frame's sizes, shapes and values.
func (f *ConvFrame) validate() error {
	if err := f.sizeError(); err != nil {
		return err
	}
	cc, q := f.Channels, f.Head.Rows
	if q <= 0 {
		return modelErrorf("head.weight has %d rows (want q > 0 outputs)", q)
	}
	return firstError(
		checkValues("stem.weight", f.Stem.Weight, cc*f.InChannels*9),
		checkValues("stem.bias", f.Stem.Bias, cc),
		f.StemNorm.validate("stem_norm", cc),
		f.HeadNorm.validate("head_norm", cc),
		checkMatrix("head.weight", f.Head, q, cc*(f.Height/f.Pool)*(f.Width/f.Pool)),
		checkValues("head.bias", f.HeadBias, q),
		validateDefaults(f.Defaults),
	)
}

// validate checks a cell's shapes and values against C and I.
func (c *Cell) validate(prefix string, cc, ii int) error {
	noBias := func(name string, cv Conv2d) error {
		if cv.Bias != nil {
			return modelErrorf("%s has a bias; the cell's convolutions have none (bias=False)", name)
		}
		return nil
	}
	return firstError(
		checkValues(prefix+"conv1.weight", c.Conv1.Weight, ii*cc*9), noBias(prefix+"conv1", c.Conv1),
		checkValues(prefix+"norm1.weight", c.Norm1.Weight, ii), checkValues(prefix+"norm1.bias", c.Norm1.Bias, ii),
		checkValues(prefix+"conv2.weight", c.Conv2.Weight, cc*ii*9), noBias(prefix+"conv2", c.Conv2),
		checkValues(prefix+"norm2.weight", c.Norm2.Weight, cc), checkValues(prefix+"norm2.bias", c.Norm2.Bias, cc),
		checkValues(prefix+"norm3.weight", c.Norm3.Weight, cc), checkValues(prefix+"norm3.bias", c.Norm3.Bias, cc),
	)
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

// Tensor names for decoding.
func bnNames(prefix string) []string {
	return []string{prefix + ".weight", prefix + ".bias", prefix + ".running_mean", prefix + ".running_var"}
}

func cellNames(prefix string) []string {
	return []string{prefix + "conv1.weight", prefix + "norm1.weight", prefix + "norm1.bias", prefix + "conv2.weight",
		prefix + "norm2.weight", prefix + "norm2.bias", prefix + "norm3.weight", prefix + "norm3.bias"}
}

// decodeFrame reads a convolutional file's sizes, from its metadata (c_in,
// H, W, G, P) and the shapes of stem.weight (C) and the first cell's
// conv1.weight (I), checks the shapes of the frame's tensors and the cells'
// (prefixes) and returns the frame; what names the kind ("a deq-conv
// model"), and the file must hold exactly want plus the frame's tensors.
func decodeFrame(ts tensors, meta map[string]string, what string, prefixes []string, want []string) (*ConvFrame, error) {
	f := &ConvFrame{}
	for _, k := range []struct {
		key string
		dst *int
	}{{metaInChannels, &f.InChannels}, {metaHeight, &f.Height}, {metaWidth, &f.Width}, {metaGroups, &f.Groups}, {metaPool, &f.Pool}} {
		v, ok := meta[k.key]
		if !ok {
			return nil, modelErrorf("metadata %s is missing (%s has %s, %s, %s, %s and %s)", k.key, what, metaInChannels, metaHeight, metaWidth, metaGroups, metaPool)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > maxConvState {
			return nil, modelErrorf("metadata %s=%q (want a whole number from 1 to %d)", k.key, v, maxConvState)
		}
		*k.dst = n
	}
	all := append([]string{"stem.weight", "stem.bias"}, bnNames("stem_norm")...)
	for _, p := range prefixes {
		all = append(all, cellNames(p)...)
	}
	all = append(all, want...)
	all = append(append(all, bnNames("head_norm")...), "head.weight", "head.bias")
	if err := ts.expect(what, all, "stem_norm.num_batches_tracked", "head_norm.num_batches_tracked"); err != nil {
		return nil, err
	}
	stem := ts["stem.weight"].Shape
	if len(stem) != 4 || stem[1] != f.InChannels || stem[2] != 3 || stem[3] != 3 {
		return nil, modelErrorf("tensor \"stem.weight\" has shape %v, want [C, %d, 3, 3] (%s=%d, a 3×3 convolution)", stem, f.InChannels, metaInChannels, f.InChannels)
	}
	f.Channels = stem[0]
	first := prefixes[0] + "conv1.weight"
	conv1 := ts[first].Shape
	if len(conv1) != 4 || conv1[1] != f.Channels || conv1[2] != 3 || conv1[3] != 3 {
		return nil, modelErrorf("tensor %q has shape %v, want [I, %d, 3, 3] (C=%d from stem.weight)", first, conv1, f.Channels, f.Channels)
	}
	f.Inner = conv1[0]
	if err := f.sizeError(); err != nil {
		return nil, err
	}
	head := ts["head.weight"].Shape
	feat := f.Channels * (f.Height / f.Pool) * (f.Width / f.Pool)
	if len(head) != 2 || head[1] != feat {
		return nil, modelErrorf("tensor \"head.weight\" has shape %v, want [q, %d] (C·(H/P)·(W/P) = %d·%d·%d)", head, feat, f.Channels, f.Height/f.Pool, f.Width/f.Pool)
	}
	why := fmt.Sprintf("C=%d from stem.weight, I=%d from %s, q=%d from head.weight", f.Channels, f.Inner, first, head[0])
	shapes := map[string][]int{"stem.bias": {f.Channels}, "head.bias": {head[0]},
		"stem_norm.num_batches_tracked": {}, "head_norm.num_batches_tracked": {}}
	for _, name := range append(bnNames("stem_norm"), bnNames("head_norm")...) {
		shapes[name] = []int{f.Channels}
	}
	for _, p := range prefixes {
		for name, s := range map[string][]int{"conv1.weight": kernelShape(f.Inner, f.Channels), "conv2.weight": kernelShape(f.Channels, f.Inner),
			"norm1.weight": {f.Inner}, "norm1.bias": {f.Inner}, "norm2.weight": {f.Channels}, "norm2.bias": {f.Channels},
			"norm3.weight": {f.Channels}, "norm3.bias": {f.Channels}} {
			shapes[p+name] = s
		}
	}
	for _, name := range append(all, "stem_norm.num_batches_tracked", "head_norm.num_batches_tracked") {
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
	f.Stem = Conv2d{Weight: d("stem.weight"), Bias: d("stem.bias")}
	f.StemNorm, f.HeadNorm = batchNorm("stem_norm"), batchNorm("head_norm")
	f.Head, f.HeadBias = ts.matrix("head.weight"), d("head.bias")
	return f, nil
}

// decodeCell reads the cell under prefix; decodeFrame checked its shapes.
func decodeCell(ts tensors, prefix string) Cell {
	d := func(name string) []float64 { return ts[prefix+name].Data }
	return Cell{
		Conv1: Conv2d{Weight: d("conv1.weight")}, Norm1: Norm{Weight: d("norm1.weight"), Bias: d("norm1.bias")},
		Conv2: Conv2d{Weight: d("conv2.weight")}, Norm2: Norm{Weight: d("norm2.weight"), Bias: d("norm2.bias")},
		Norm3: Norm{Weight: d("norm3.weight"), Bias: d("norm3.bias")},
	}
}

// frameLayer is the frame prepared to compute.
type frameLayer struct {
	f                  *ConvFrame
	hw, state          int // pixels, and C·hw
	stem               *conv3x3
	stemNorm, headNorm *batchNorm
	head               affine
}

func (f *ConvFrame) build(p api.Precision) frameLayer {
	hw := f.Height * f.Width
	bn := func(b BatchNorm) *batchNorm { return newBatchNorm(b.Weight, b.Bias, b.RunningMean, b.RunningVar) }
	return frameLayer{f: f, hw: hw, state: f.Channels * hw,
		stem:     newConv3x3(f.Stem.Weight, f.Stem.Bias, f.InChannels, f.Channels, f.Height, f.Width, p),
		stemNorm: bn(f.StemNorm), headNorm: bn(f.HeadNorm), head: newAffine(f.Head, f.HeadBias, p)}
}

// build prepares a cell's layers for the frame's images.
func (c *Cell) build(f *ConvFrame, p api.Precision) convCell {
	hw := f.Height * f.Width
	gn := func(n Norm, ch int) *groupNorm {
		return &groupNorm{groups: f.Groups, c: ch, hw: hw, weight: n.Weight, bias: n.Bias}
	}
	return convCell{hw: hw, c: f.Channels, inner: f.Inner,
		conv1: newConv3x3(c.Conv1.Weight, nil, f.Channels, f.Inner, f.Height, f.Width, p),
		conv2: newConv3x3(c.Conv2.Weight, nil, f.Inner, f.Channels, f.Height, f.Width, p),
		norm1: gn(c.Norm1, f.Inner), norm2: gn(c.Norm2, f.Channels), norm3: gn(c.Norm3, f.Channels)}
}

// stemInputs returns the n images x (channels first, as an input row) in
// channels-last order, and the stem's output before stem_norm.
func (l *frameLayer) stemInputs(x []float64, n int) (xl, s []float64) {
	xl = make([]float64, n*l.hw*l.f.InChannels)
	toChannelsLast(xl, x, n, l.f.InChannels, l.hw)
	s = make([]float64, n*l.state)
	l.stem.forward(s, xl, n, new(convScratch))
	return xl, s
}

// Inject returns x̃ = stem_norm(stem(x)) (n×hw×C).
func (l *frameLayer) Inject(x []float64, n int) []float64 {
	_, s := l.stemInputs(x, n)
	l.stemNorm.forward(s, s, n*l.hw)
	return s
}

// Readout sets y = head(flatten(avg_pool2d(head_norm(z), P))).
func (l *frameLayer) Readout(y, z []float64, n int) {
	l.head.forward(y, l.features(z, n), n)
}

// features returns the head's input for the states z.
func (l *frameLayer) features(z []float64, n int) []float64 {
	f := l.f
	hn := make([]float64, n*l.state)
	l.headNorm.forward(hn, z, n*l.hw)
	feat := make([]float64, n*f.Head.Cols)
	avgPoolFlatten(feat, hn, n, f.Height, f.Width, f.Channels, f.Pool)
	return feat
}

// readoutBackward adds the head's and head_norm's gradients (to g) for the
// output gradient gy at the states z, and returns ∂L/∂z.
func (l *frameLayer) readoutBackward(g *ConvFrame, gy, z []float64, n int) []float64 {
	f := l.f
	l.head.paramGrad(g.Head.Data, g.HeadBias, gy, l.features(z, n), n)
	dfeat := l.head.inputGrad(gy, n)
	dz := make([]float64, n*l.state)
	avgPoolFlattenBackward(dz, dfeat, n, f.Height, f.Width, f.Channels, f.Pool)
	l.headNorm.backward(dz, dz, z, n*l.hw, g.HeadNorm.Weight, g.HeadNorm.Bias)
	return dz
}

// stemBackward adds the gradients of stem_norm and the stem (to g) for
// ∂L/∂x̃ = dinj of the inputs x; dinj is overwritten.
func (l *frameLayer) stemBackward(g *ConvFrame, dinj, x []float64, n int, s *convScratch) {
	xl, pre := l.stemInputs(x, n)
	l.stemNorm.backward(dinj, dinj, pre, n*l.hw, g.StemNorm.Weight, g.StemNorm.Bias)
	l.stem.backwardWeight(g.Stem.Weight, g.Stem.Bias, xl, dinj, n, s)
}

// newCellGrads points at the gradient tensors of cell g, with room for
// ∂L/∂x̃ of n states of size state.
func newCellGrads(g *Cell, n, state int) *cellGrads {
	return &cellGrads{conv1: g.Conv1.Weight, conv2: g.Conv2.Weight, norm1: g.Norm1, norm2: g.Norm2, norm3: g.Norm3, inj: make([]float64, n*state)}
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
