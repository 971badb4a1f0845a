package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
)

// The fno-deq kind: the implicit Fourier neural operator of Marwah et al.
// (FNO-DEQ, "Deep Equilibrium Based Neural Operators for Steady-State
// PDEs", 2023), the model of the scientific-computing case of Liu, Ding,
// Osher, Yin (arXiv:2510.03638); and fno, its explicit counterpart, the
// same layers run once without weight tying across iterations (an FNO of
// exactly as many parameters). For an input field x (c_in channels on an
// h×w periodic grid):
//
//	x̃  = fc([x, g_x, g_y])                          (a Linear on each pixel, g the grid coordinates)
//	G(z) = L_{L−1} ∘ … ∘ L_0 (z),  L_j(z) = gelu(mlp_j(conv_j(z)) + w_j(z) + x̃)
//	z* = G(z*),  z⁰ = 0                              (fno-deq)
//	z_L = L'_{L−1} ∘ … ∘ L'_0 (x̃),  L'_j(z) = gelu(mlp_j(conv_j(z)) + w_j(z))   (fno)
//	y  = q(mlp(conv(z)) + w0(z))                     (z = z* or z_L)
//
// conv is a spectral convolution (SpectralConv2d: rfft2, the lowest
// k1×k2 modes of both row corners multiplied by learned complex c×c
// matrices, irfft2; fnonet.go), w a 1×1 convolution, mlp and q two 1×1
// convolutions with a GELU between (MLP2d: mlp1, gelu, mlp2), gelu exact
// (erf), g_x = linspace(0, 1, h) down the rows and g_y = linspace(0, 1, w)
// along them; the grid is periodic and not padded. The layers come three to
// a block, as the FNO-DEQ code's BasicBlock has them.
//
// The metadata keys are implicit.height (h) and implicit.width (w); the
// tensors are the state_dict of the FNO-DEQ code's FNO2dDEQ (and FNO2d for
// fno) with padding 0, add_mlp, without normalisation, except that each
// complex weight is stored as real/imag pairs in a last dimension of 2
// (torch.view_as_real; safetensors has no complex type): with c channels
// (fc.weight's rows), c_in inputs, k1×k2 modes, m the projection's width and
// q outputs,
//
//	fc.weight [c, c_in+2], fc.bias [c]
//	conv.weights1, conv.weights2 [c, c, k1, k2, 2]
//	mlp.mlp1.weight [c, c, 1, 1], .bias [c]; mlp.mlp2.weight [c, c, 1, 1], .bias [c]
//	w0.weight [c, c, 1, 1], w0.bias [c]
//	deq_block.deq_block.B.convJ.weights1, .weights2 [c, c, k1, k2, 2]     (J = 0, 1, 2; B = 0…blocks−1)
//	deq_block.deq_block.B.mlpJ.mlp1.*, .mlpJ.mlp2.* as mlp; deq_block.deq_block.B.wJ.* as w0
//	q.mlp1.weight [m, c, 1, 1], .bias [m]; q.mlp2.weight [q, m, 1, 1], .bias [q]
//
// (weights1 multiplies the rows 0…k1−1, weights2 the rows h−k1…h−1; 2·k1 ≤ h
// and k2 ≤ (w+1)/2, so that no mode is kept twice and no Nyquist column,
// which irfft2 reads as real, is kept). An input row is the c_in·h·w values
// of x.flatten(1) (channels first, x of shape [n, c_in, h, w]), an output
// row the q·h·w of y.flatten(1); the state is c·h·w values channels last.
// fno-deq's default solver is Anderson, as the FNO-DEQ code's.
const (
	kindFNO         = "fno-deq"
	kindFNOExplicit = "fno"

	// fnoBlockLayers is the number of Fourier layers a block holds.
	fnoBlockLayers = 3
	// maxFNOBlocks bounds the blocks a file may hold.
	maxFNOBlocks = 1 << 10
)

var fnoKeys = []string{metaHeight, metaWidth}

var (
	fnoKind         = Kind{Name: kindFNO, Keys: fnoKeys, Decode: decodeFNO(false)}
	fnoExplicitKind = Kind{Name: kindFNOExplicit, Keys: fnoKeys, Explicit: true, Decode: decodeFNO(true)}
)

// SpectralConv is a SpectralConv2d's weights, [c, c, k1, k2, 2] each
// (real and imaginary parts last).
type SpectralConv struct {
	Weights1, Weights2 []float64
}

// FourierLayer is one Fourier layer: the spectral convolution, the MLP after
// it and the 1×1 skip convolution (W).
type FourierLayer struct {
	Conv SpectralConv
	MLP  MLP2
	W    Linear
}

// FNO holds the parameters of an fno-deq model (Explicit false) or of an
// fno one. Its Linear matrices are the 1×1 convolutions' weights as out×in
// matrices. An FNO must not change while a Model built from it is in use.
type FNO struct {
	Explicit       bool
	Height, Width  int // the grid, h×w
	Modes1, Modes2 int // k1, k2
	Lift           Linear
	// Layers are the cell's (or the explicit stack's) Fourier layers, three
	// to a block.
	Layers []FourierLayer
	// Decoder is conv, mlp and w0; Proj is q.
	Decoder  FourierLayer
	Proj     MLP2
	Defaults api.Defaults
}

// Kind is "fno-deq" or "fno".
func (f *FNO) Kind() string {
	if f.Explicit {
		return kindFNOExplicit
	}
	return kindFNO
}

// Channels is the width c of the lifted fields.
func (f *FNO) Channels() int { return f.Lift.W.Rows }

// InChannels is c_in; OutChannels q.
func (f *FNO) InChannels() int  { return f.Lift.W.Cols - 2 }
func (f *FNO) OutChannels() int { return f.Proj.L2.W.Rows }

// Sizes: c_in·h·w inputs, a state of c·h·w, q·h·w outputs.
func (f *FNO) Sizes() api.Sizes {
	hw := f.Height * f.Width
	return api.Sizes{In: f.InChannels() * hw, State: f.Channels() * hw, Out: f.OutChannels() * hw}
}

// Describe names the model: "implicit FNO, width 16, 3 Fourier layers, modes 8×8, 32×32 grid, 2→1 channels".
func (f *FNO) Describe() string {
	what := "implicit FNO"
	if f.Explicit {
		what = "explicit FNO"
	}
	return fmt.Sprintf("%s, width %d, %d Fourier layers, modes %d×%d, %d×%d grid, %d→%d channels",
		what, f.Channels(), len(f.Layers), f.Modes1, f.Modes2, f.Height, f.Width, f.InChannels(), f.OutChannels())
}

// SolverDefaults points at the file's solver settings.
func (f *FNO) SolverDefaults() *api.Defaults { return &f.Defaults }

// DefaultMethod is Anderson.
func (f *FNO) DefaultMethod() api.Method { return nil }

// Metadata holds h and w.
func (f *FNO) Metadata() map[string]string {
	return map[string]string{metaHeight: strconv.Itoa(f.Height), metaWidth: strconv.Itoa(f.Width)}
}

func conv1x1Tensors(ts []Tensor, name string, l Linear) []Tensor {
	return append(ts, Tensor{Name: name + ".weight", Shape: []int{l.W.Rows, l.W.Cols, 1, 1}, Data: l.W.Data}, vectorTensor(name+".bias", l.B))
}

func (f *FNO) spectralTensors(ts []Tensor, name string, s SpectralConv) []Tensor {
	c := f.Channels()
	shape := []int{c, c, f.Modes1, f.Modes2, 2}
	return append(ts, Tensor{Name: name + ".weights1", Shape: shape, Data: s.Weights1}, Tensor{Name: name + ".weights2", Shape: slices.Clone(shape), Data: s.Weights2})
}

func mlp2dTensors(ts []Tensor, name string, m MLP2) []Tensor {
	return conv1x1Tensors(conv1x1Tensors(ts, name+".mlp1", m.L1), name+".mlp2", m.L2)
}

// Tensors are the state_dict's, in the module's order.
func (f *FNO) Tensors() []Tensor {
	ts := linearTensors(nil, "fc", f.Lift)
	ts = f.spectralTensors(ts, "conv", f.Decoder.Conv)
	ts = mlp2dTensors(ts, "mlp", f.Decoder.MLP)
	ts = conv1x1Tensors(ts, "w0", f.Decoder.W)
	for b := 0; b*fnoBlockLayers < len(f.Layers); b++ {
		block := fmt.Sprintf("deq_block.deq_block.%d.", b)
		layers := f.Layers[b*fnoBlockLayers : min(len(f.Layers), (b+1)*fnoBlockLayers)]
		for j, l := range layers {
			ts = f.spectralTensors(ts, block+"conv"+strconv.Itoa(j), l.Conv)
		}
		for j, l := range layers {
			ts = mlp2dTensors(ts, block+"mlp"+strconv.Itoa(j), l.MLP)
		}
		for j, l := range layers {
			ts = conv1x1Tensors(ts, block+"w"+strconv.Itoa(j), l.W)
		}
	}
	return mlp2dTensors(ts, "q", f.Proj)
}

// FNOConfig describes an fno-deq (or fno) model to initialise.
type FNOConfig struct {
	Explicit            bool
	InChannels, Out     int // c_in, q
	Height, Width       int // the grid
	Channels            int // c
	Modes1, Modes2      int // k1, k2
	Blocks              int // blocks of three Fourier layers; 0 means 1
	ProjWidth           int // the projection's width m; 0 means 4c
	SpectralScale, Gain float64
}

// fnoShapes lists every tensor's name and shape, in the order of Tensors.
func fnoShapes(cfg FNOConfig) (names []string, shapes [][]int) {
	c, m := cfg.Channels, cfg.ProjWidth
	add := func(name string, shape ...int) { names, shapes = append(names, name), append(shapes, shape) }
	spec := func(name string) {
		add(name+".weights1", c, c, cfg.Modes1, cfg.Modes2, 2)
		add(name+".weights2", c, c, cfg.Modes1, cfg.Modes2, 2)
	}
	pw := func(name string, out, in int) { add(name+".weight", out, in, 1, 1); add(name+".bias", out) }
	mlp := func(name string, out, mid, in int) { pw(name+".mlp1", mid, in); pw(name+".mlp2", out, mid) }
	add("fc.weight", c, cfg.InChannels+2)
	add("fc.bias", c)
	spec("conv")
	mlp("mlp", c, c, c)
	pw("w0", c, c)
	for b := 0; b < cfg.Blocks; b++ {
		block := fmt.Sprintf("deq_block.deq_block.%d.", b)
		for j := 0; j < fnoBlockLayers; j++ {
			spec(block + "conv" + strconv.Itoa(j))
		}
		for j := 0; j < fnoBlockLayers; j++ {
			mlp(block+"mlp"+strconv.Itoa(j), c, c, c)
		}
		for j := 0; j < fnoBlockLayers; j++ {
			pw(block+"w"+strconv.Itoa(j), c, c)
		}
	}
	mlp("q", cfg.Out, m, c)
	return names, shapes
}

func (f *FNO) config() FNOConfig {
	return FNOConfig{Explicit: f.Explicit, InChannels: f.InChannels(), Out: f.OutChannels(), Height: f.Height, Width: f.Width,
		Channels: f.Channels(), Modes1: f.Modes1, Modes2: f.Modes2, Blocks: (len(f.Layers) + fnoBlockLayers - 1) / fnoBlockLayers, ProjWidth: f.Proj.L1.W.Rows}
}

// FNOParams is the parameter count of a model of the configuration.
func FNOParams(cfg FNOConfig) int {
	cfg = cfg.defaults()
	_, shapes := fnoShapes(cfg)
	n := 0
	for _, s := range shapes {
		n += size(s)
	}
	return n
}

func size(shape []int) int {
	n := 1
	for _, v := range shape {
		n *= v
	}
	return n
}

func (cfg FNOConfig) defaults() FNOConfig {
	if cfg.Blocks == 0 {
		cfg.Blocks = 1
	}
	if cfg.ProjWidth == 0 {
		cfg.ProjWidth = 4 * cfg.Channels
	}
	return cfg
}

// newFNOShaped returns a zero model of the configuration; its tensors, in
// the order of Tensors, are what fill writes.
func newFNOShaped(cfg FNOConfig) *FNO {
	c, m := cfg.Channels, cfg.ProjWidth
	lin := func(out, in int) Linear { return Linear{W: NewMatrix(out, in), B: make([]float64, out)} }
	spec := func() SpectralConv {
		n := c * c * cfg.Modes1 * cfg.Modes2 * 2
		return SpectralConv{Weights1: make([]float64, n), Weights2: make([]float64, n)}
	}
	layer := func() FourierLayer { return FourierLayer{Conv: spec(), MLP: MLP2{lin(c, c), lin(c, c)}, W: lin(c, c)} }
	f := &FNO{Explicit: cfg.Explicit, Height: cfg.Height, Width: cfg.Width, Modes1: cfg.Modes1, Modes2: cfg.Modes2,
		Lift: lin(c, cfg.InChannels+2), Decoder: layer(), Proj: MLP2{lin(m, c), lin(cfg.Out, m)}}
	for range cfg.Blocks * fnoBlockLayers {
		f.Layers = append(f.Layers, layer())
	}
	return f
}

// Zero returns an FNO of the same kind and shapes with every tensor zero.
func (f *FNO) Zero() Architecture {
	z := newFNOShaped(f.config())
	z.Layers = z.Layers[:len(f.Layers)]
	return z
}

// NewFNO returns a model drawn from rng as PyTorch initialises the FNO-DEQ
// code's modules: each 1×1 convolution and Linear uniform on ±1/√fan_in
// (weights and biases), times Gain (0 means 1), each spectral weight's real
// and imaginary parts uniform on [0, SpectralScale) (0 means 1/c², the
// code's scale).
func NewFNO(cfg FNOConfig, rng *rand.Rand) (*FNO, error) {
	cfg = cfg.defaults()
	if cfg.Channels < 1 || cfg.InChannels < 1 || cfg.Out < 1 || cfg.ProjWidth < 1 || cfg.Blocks < 1 || cfg.Blocks > maxFNOBlocks {
		return nil, modelErrorf("fno sizes: %d channels, %d inputs, %d outputs, projection width %d, %d blocks (all must be positive)", cfg.Channels, cfg.InChannels, cfg.Out, cfg.ProjWidth, cfg.Blocks)
	}
	scale, gain := cfg.SpectralScale, cfg.Gain
	if scale == 0 {
		scale = 1 / float64(cfg.Channels*cfg.Channels)
	}
	if gain == 0 {
		gain = 1
	}
	f := newFNOShaped(cfg)
	if err := f.sizeError(); err != nil {
		return nil, err
	}
	ts := f.Tensors()
	for k := 0; k < len(ts); k++ {
		t := ts[k]
		switch len(t.Shape) {
		case 5:
			for i := range t.Data {
				t.Data[i] = scale * rng.Float64()
			}
		case 2, 4: // a weight, and the bias after it
			bound := gain / math.Sqrt(float64(t.Shape[1]))
			for i := range t.Data {
				t.Data[i] = bound * (2*rng.Float64() - 1)
			}
			for i := range ts[k+1].Data {
				ts[k+1].Data[i] = bound * (2*rng.Float64() - 1)
			}
			k++
		}
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("initialising: %w", err)
	}
	return f, nil
}

// sizeError checks the grid and the modes.
func (f *FNO) sizeError() error {
	h, w, k1, k2 := f.Height, f.Width, f.Modes1, f.Modes2
	switch {
	case h < 1 || w < 1 || h > maxConvSide || w > maxConvSide:
		return modelErrorf("a grid of %d×%d (%s and %s from 1 to %d)", h, w, metaHeight, metaWidth, maxConvSide)
	case f.Channels() < 1 || f.Channels() > maxConvState/(h*w):
		return modelErrorf("%d channels on a %d×%d grid (at most %d values a sample)", f.Channels(), h, w, maxConvState)
	case k1 < 1 || 2*k1 > h:
		return modelErrorf("modes1 = %d (the weights' third dimension) on a grid of %d rows: want 1 ≤ modes1 ≤ %d, so that the two corners of %d rows do not overlap", k1, h, h/2, k1)
	case k2 < 1 || k2 > (w+1)/2:
		return modelErrorf("modes2 = %d (the weights' fourth dimension) on a grid of %d columns: want 1 ≤ modes2 ≤ %d (below the Nyquist column)", k2, w, (w+1)/2)
	case len(f.Layers) == 0 || len(f.Layers)%fnoBlockLayers != 0:
		return modelErrorf("%d Fourier layers (want blocks of %d)", len(f.Layers), fnoBlockLayers)
	}
	return nil
}

// Validate checks the sizes, every tensor's shape against them and that
// every value is finite.
func (f *FNO) Validate() error {
	if f.Lift.W.Cols < 3 || f.OutChannels() < 1 || f.Proj.L1.W.Rows < 1 {
		return modelErrorf("fc.weight is %d×%d and q.mlp2.weight has %d rows (want c_in + 2 ≥ 3 columns, q ≥ 1)", f.Lift.W.Rows, f.Lift.W.Cols, f.OutChannels())
	}
	if err := f.sizeError(); err != nil {
		return err
	}
	names, shapes := fnoShapes(f.config())
	ts := f.Tensors()
	if len(ts) != len(names) {
		return modelErrorf("an %s model of %d layers has %d tensors, this one %d", f.Kind(), len(f.Layers), len(names), len(ts))
	}
	for k, t := range ts {
		if t.Name != names[k] {
			return modelErrorf("tensor %q where %q belongs", t.Name, names[k])
		}
		if !slices.Equal(t.Shape, shapes[k]) {
			return modelErrorf("tensor %q has shape %v, want %v", t.Name, t.Shape, shapes[k])
		}
		if err := checkValues(t.Name, t.Data, size(shapes[k])); err != nil {
			return err
		}
		if err := checkMagnitude(t.Name, t.Data); err != nil {
			return err
		}
	}
	return validateDefaults(f.Defaults)
}

func decodeFNO(explicit bool) func(ts tensors, meta map[string]string) (Architecture, error) {
	return func(ts tensors, meta map[string]string) (Architecture, error) {
		what := "an " + kindFNO + " model"
		if explicit {
			what = "an " + kindFNOExplicit + " model"
		}
		cfg := FNOConfig{Explicit: explicit}
		for _, k := range []struct {
			key string
			v   *int
		}{{metaHeight, &cfg.Height}, {metaWidth, &cfg.Width}} {
			s, ok := meta[k.key]
			if !ok {
				return nil, modelErrorf("metadata %s is missing (%s has %s and %s)", k.key, what, metaHeight, metaWidth)
			}
			v, err := strconv.Atoi(s)
			if err != nil || v < 1 || v > maxConvSide {
				return nil, modelErrorf("metadata %s=%q (want a whole number from 1 to %d)", k.key, s, maxConvSide)
			}
			*k.v = v
		}
		// The sizes come from fc, conv, and q's two layers.
		for _, s := range []struct {
			name string
			dims int
			want string
		}{{"fc.weight", 2, "[c, c_in+2]"}, {"conv.weights1", 5, "[c, c, modes1, modes2, 2]"}, {"q.mlp1.weight", 4, "[m, c, 1, 1]"}, {"q.mlp2.weight", 4, "[q, m, 1, 1]"}} {
			t, ok := ts[s.name]
			if !ok {
				return nil, modelErrorf("tensor %q is missing (%s has it)", s.name, what)
			}
			if len(t.Shape) != s.dims || slices.ContainsFunc(t.Shape, func(v int) bool { return v < 1 || v > maxConvState }) {
				return nil, modelErrorf("tensor %q has shape %v, want %s", s.name, t.Shape, s.want)
			}
		}
		lift, spec := ts["fc.weight"].Shape, ts["conv.weights1"].Shape
		cfg.Channels, cfg.InChannels = lift[0], lift[1]-2
		cfg.Modes1, cfg.Modes2 = spec[2], spec[3]
		cfg.ProjWidth, cfg.Out = ts["q.mlp1.weight"].Shape[0], ts["q.mlp2.weight"].Shape[0]
		if cfg.InChannels < 1 {
			return nil, modelErrorf("tensor \"fc.weight\" has shape %v, want [c, c_in+2] with c_in ≥ 1 (the input's channels and the two grid coordinates)", lift)
		}
		for ; cfg.Blocks < maxFNOBlocks; cfg.Blocks++ {
			if _, ok := ts[fmt.Sprintf("deq_block.deq_block.%d.conv0.weights1", cfg.Blocks)]; !ok {
				break
			}
		}
		if cfg.Blocks == 0 {
			return nil, modelErrorf("tensor \"deq_block.deq_block.0.conv0.weights1\" is missing (%s has at least one block of %d Fourier layers)", what, fnoBlockLayers)
		}
		names, shapes := fnoShapes(cfg)
		if err := ts.expect(what, names); err != nil {
			return nil, err
		}
		why := fmt.Sprintf("c = %d, c_in = %d from fc.weight, modes %d×%d from conv.weights1, m = %d, q = %d from q", cfg.Channels, cfg.InChannels, cfg.Modes1, cfg.Modes2, cfg.ProjWidth, cfg.Out)
		for k, name := range names {
			if err := ts.shape(name, shapes[k], why); err != nil {
				return nil, err
			}
		}
		f := newFNOShaped(cfg)
		if err := f.sizeError(); err != nil {
			return nil, err
		}
		for _, t := range f.Tensors() {
			copy(t.Data, ts[t.Name].Data)
		}
		return f, nil
	}
}

// fnoLayer is an FNO prepared to compute.
type fnoLayer struct {
	f                 *FNO
	hw, c, state      int
	lift              pointwise
	layers            []fourierLayer
	decoder           fourierLayer
	proj1, proj2      pointwise
	grid              []float64 // hw×2: g_x, g_y of each pixel
	inChannels, outCh int
}

// Build packs the layers for the kernel and the DFT plan.
func (f *FNO) Build(p api.Precision) (Layer, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	c, h, w := f.Channels(), f.Height, f.Width
	plan := newDFTPlan(h, w, f.Modes1, f.Modes2, p)
	build := func(fl FourierLayer, act bool) fourierLayer {
		return fourierLayer{spec: newSpectralConv(plan, c, fl.Conv.Weights1, fl.Conv.Weights2, p),
			mlp1: newPointwise(fl.MLP.L1, p), mlp2: newPointwise(fl.MLP.L2, p), w: newPointwise(fl.W, p), act: act}
	}
	l := &fnoLayer{f: f, hw: h * w, c: c, state: c * h * w, lift: newPointwise(f.Lift, p),
		decoder: build(f.Decoder, false), proj1: newPointwise(f.Proj.L1, p), proj2: newPointwise(f.Proj.L2, p),
		inChannels: f.InChannels(), outCh: f.OutChannels()}
	for _, fl := range f.Layers {
		l.layers = append(l.layers, build(fl, true))
	}
	l.grid = make([]float64, 2*h*w)
	coord := func(i, n int) float64 {
		if n == 1 {
			return 0
		}
		return float64(i) / float64(n-1)
	}
	for m := 0; m < h; m++ {
		for n := 0; n < w; n++ {
			l.grid[2*(m*w+n)], l.grid[2*(m*w+n)+1] = coord(m, h), coord(n, w)
		}
	}
	return l, nil
}

// liftInputs returns the lift's input rows of the n samples x: a row a
// pixel, its c_in channels and its two coordinates.
func (l *fnoLayer) liftInputs(x []float64, n int) []float64 {
	cin, hw := l.inChannels, l.hw
	k := cin + 2
	in := make([]float64, n*hw*k)
	for s := 0; s < n; s++ {
		for p := 0; p < hw; p++ {
			row := in[(s*hw+p)*k : (s*hw+p+1)*k]
			for ch := 0; ch < cin; ch++ {
				row[ch] = x[(s*cin+ch)*hw+p]
			}
			row[cin], row[cin+1] = l.grid[2*p], l.grid[2*p+1]
		}
	}
	return in
}

// Inject returns x̃ = fc([x, grid]) (n×hw×c).
func (l *fnoLayer) Inject(x []float64, n int) []float64 {
	inj := make([]float64, n*l.state)
	l.lift.forward(inj, l.liftInputs(x, n), n*l.hw)
	return inj
}

// fnoScratch is one caller's buffers for the stack of layers.
type fnoScratch struct {
	layer      fourierScratch
	a, b, injr []float64
}

// run sets dst to the stack of layers from z (fno-deq, each layer adding
// the injection of the samples rows) or from the injection itself (fno),
// keeping the tapes if tapes is not nil.
func (l *fnoLayer) run(dst, z, inj []float64, rows []int, s *fnoScratch, tapes []fourierTape) {
	m, size := len(rows), len(rows)*l.state
	s.injr = gatherRows(s.injr, inj, rows, l.state)
	s.a, s.b = grow(s.a, size), grow(s.b, size)
	in := z
	var add []float64
	if l.f.Explicit {
		in = s.injr
	} else {
		add = s.injr
	}
	for k := range l.layers {
		out := s.a
		if k == len(l.layers)-1 {
			out = dst
		} else if k%2 == 1 {
			out = s.b
		}
		var tape *fourierTape
		if tapes != nil {
			tape = &tapes[k]
		}
		l.layers[k].forward(out, in, add, m, l.hw, &s.layer, tape)
		in = out
	}
}

// Problem is z = G(z) for fno-deq; for fno the constant map z = z_L.
func (l *fnoLayer) Problem(inj []float64, n int) fixedpoint.BatchProblem {
	var s fnoScratch // a Problem is solved by one goroutine
	return fixedpoint.BatchProblem{Dim: l.state, Samples: n, Constant: l.f.Explicit, F: func(dst, z []float64, rows []int) {
		l.run(dst, z, inj, rows, &s, nil)
	}}
}

// decode returns the projection's output (n×hw×q, channels last) for the
// states z, keeping the intermediates if tape is not nil: the decoder's
// tape, and the projection's input and hidden pre-activation.
func (l *fnoLayer) decode(z []float64, n int, s *fourierScratch, tape *fnoReadTape) []float64 {
	rows := n * l.hw
	d := make([]float64, n*l.state)
	var dt *fourierTape
	if tape != nil {
		dt = &tape.dec
	}
	l.decoder.forward(d, z, nil, n, l.hw, s, dt)
	mid := l.proj1.w.Rows
	a := make([]float64, rows*mid)
	l.proj1.forward(a, d, rows)
	hid := make([]float64, rows*mid)
	geluTo(hid, a)
	y := make([]float64, rows*l.outCh)
	l.proj2.forward(y, hid, rows)
	if tape != nil {
		tape.d, tape.a, tape.hid = d, a, hid
	}
	return y
}

// fnoReadTape is the readout's intermediates.
type fnoReadTape struct {
	dec       fourierTape
	d, a, hid []float64
}

// Readout sets y = q(mlp(conv(z)) + w0(z)), channels first.
func (l *fnoLayer) Readout(y, z []float64, n int) {
	var s fourierScratch
	yl := l.decode(z, n, &s, nil)
	toChannelsFirst(y, yl, n, l.outCh, l.hw)
}

// fnoBackward holds a batch's inputs, its fixed points (fno: z_L) and the
// layers' tapes there.
type fnoBackward struct {
	l       *fnoLayer
	x, z    []float64
	n       int
	tapes   []fourierTape
	s       fnoScratch
	u, a, b []float64
}

func (l *fnoLayer) Backward(x, inj, z []float64, n int) Backward {
	b := &fnoBackward{l: l, x: x, z: z, n: n, tapes: make([]fourierTape, len(l.layers))}
	l.run(make([]float64, n*l.state), z, inj, seq(n), &b.s, b.tapes)
	return b
}

// Readout adds the decoder's and the projection's gradients and returns
// ∂L/∂z.
func (b *fnoBackward) Readout(grad Architecture, gy []float64) []float64 {
	l, g := b.l, grad.(*FNO)
	rows := b.n * l.hw
	var tape fnoReadTape
	l.decode(b.z, b.n, &b.s.layer, &tape)
	gyl := make([]float64, rows*l.outCh)
	toChannelsLast(gyl, gy, b.n, l.outCh, l.hw)
	l.proj2.paramGrad(g.Proj.L2.W.Data, g.Proj.L2.B, gyl, tape.hid, rows)
	gh := make([]float64, len(tape.a))
	l.proj2.backwardData(gh, gyl, rows, &b.s.layer.gemm)
	for i, a := range tape.a {
		gh[i] *= geluGrad(a)
	}
	l.proj1.paramGrad(g.Proj.L1.W.Data, g.Proj.L1.B, gh, tape.d, rows)
	gd := make([]float64, b.n*l.state)
	l.proj1.backwardData(gd, gh, rows, &b.s.layer.gemm)
	gz := make([]float64, b.n*l.state)
	l.decoder.vjp(gz, gd, b.n, l.hw, &tape.dec, &b.s.layer, &fourierGrads{layer: &g.Decoder})
	return gz
}

// vjp sets dst = J_G(z)ᵀ u for the whole batch through the tapes (fno-deq),
// adding the parameters' gradients to g and the injection's to ginj if g
// is not nil; for fno, J is with respect to z₀ = x̃.
func (b *fnoBackward) vjp(dst, u []float64, g *FNO, ginj []float64) {
	l := b.l
	size := b.n * l.state
	b.a, b.b = grow(b.a, size), grow(b.b, size)
	cur := u[:size]
	for k := len(l.layers) - 1; k >= 0; k-- {
		out := b.a
		if k == 0 {
			out = dst
		} else if (len(l.layers)-1-k)%2 == 1 {
			out = b.b
		}
		var gr *fourierGrads
		if g != nil {
			gr = &fourierGrads{layer: &g.Layers[k]}
			if !l.f.Explicit {
				gr.inj = ginj
			}
		}
		l.layers[k].vjp(out, cur, b.n, l.hw, &b.tapes[k], &b.s.layer, gr)
		cur = out
	}
}

// expand returns u's rows placed in a batch of all n samples, zero
// elsewhere.
func (b *fnoBackward) expand(u []float64, rows []int) []float64 {
	ch := b.l.state
	b.u = grow(b.u, b.n*ch)
	if len(rows) < b.n {
		clear(b.u)
	}
	for k, i := range rows {
		copy(b.u[i*ch:(i+1)*ch], u[k*ch:(k+1)*ch])
	}
	return b.u
}

// Adjoint is u = J_G(z*)ᵀ u + gz (fno-deq), the batch's product with zeros
// for the samples that have converged; for fno the constant u = gz.
func (b *fnoBackward) Adjoint(gz []float64) fixedpoint.BatchProblem {
	ch := b.l.state
	if b.l.f.Explicit {
		return fixedpoint.BatchProblem{Dim: ch, Samples: b.n, Constant: true, F: func(dst, _ []float64, rows []int) {
			gatherRows(dst[:0], gz, rows, ch)
		}}
	}
	full := make([]float64, b.n*ch)
	return fixedpoint.BatchProblem{Dim: ch, Samples: b.n, F: func(dst, u []float64, rows []int) {
		b.vjp(full, b.expand(u, rows), nil, nil)
		for k, i := range rows {
			d := dst[k*ch : (k+1)*ch]
			copy(d, full[i*ch:(i+1)*ch])
			addTo(d, gz[i*ch:(i+1)*ch])
		}
	}}
}

// StateVJP sets dst = J_G(z)ᵀ u (zero for fno, whose map does not read z).
func (b *fnoBackward) StateVJP(dst, u []float64) {
	if b.l.f.Explicit {
		clear(dst[:len(u)])
		return
	}
	b.vjp(dst, u, nil, nil)
}

// JacobianFree returns u = gz.
func (b *fnoBackward) JacobianFree(gz []float64) []float64 { return gz }

// Params adds the gradients of the layers' parameters and of fc for the
// adjoint u: back through the layers, gathering ∂L/∂x̃ (every fno-deq layer
// reads x̃; fno's first reads it as z₀), then through fc.
func (b *fnoBackward) Params(grad Architecture, u []float64) {
	g, l := grad.(*FNO), b.l
	size := b.n * l.state
	ginj := make([]float64, size)
	dz := make([]float64, size)
	b.vjp(dz, u, g, ginj)
	if l.f.Explicit {
		ginj = dz
	}
	rows := b.n * l.hw
	l.lift.paramGrad(g.Lift.W.Data, g.Lift.B, ginj, l.liftInputs(b.x, b.n), rows)
}
