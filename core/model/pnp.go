package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/implicitlab/implicit/api"
)

// The pnp kinds: plug-and-play image reconstruction with a learned
// convolutional denoiser, the image-reconstruction model of Liu, Ding, Osher,
// Yin (arXiv:2510.03638, §5). The observation x = A y + noise of a grey image
// y (H×W pixels) is restored by the fixed point of
//
//	pgd: G(y, x) = H_θ(y − γ Aᵀ(A y − x))
//	hqs: G(y, x) = H_θ((AᵀA + β I)⁻¹ (Aᵀ x + β y))
//
// y* = G(y*, x), read out as it is (the state is the image). A is the known
// blur: correlation with the kernel k (kh×kw, both odd, centred), as
// PyTorch's conv2d computes it, on the image extended by half-sample
// symmetric reflection (… c b a | a b c …) or periodically. The resolvent of
// hqs is computed by the FFT: exactly for periodic boundaries, and for
// symmetric ones on the image's symmetric extension (2H×2W), which is exact
// when k is symmetric under each axis's flip (a Gaussian, a horizontal or
// vertical motion blur): the file must hold such a kernel.
//
// The denoiser H_θ is a small DnCNN-style residual network, H_θ(v) =
// v − D(v), D = conv_{L−1} ∘ relu ∘ … ∘ relu ∘ conv_0, every convolution
// 3×3 with padding 1 and a bias, conv_0 1 → C channels, conv_{L−1} C → 1,
// the others C → C. pnp-explicit is the same denoiser applied once to the
// observation, y = H_θ(x): the explicit baseline, with the same parameters
// (less γ, β).
//
// Metadata keys (pnp): implicit.splitting (pgd or hqs), implicit.boundary
// (symmetric or periodic), implicit.height and implicit.width (H, W),
// implicit.depth (L ≥ 2), implicit.noise (σ of the observation's noise, the
// level the model was trained for; informative). pnp-explicit has
// implicit.height, implicit.width, implicit.depth and implicit.noise.
// Tensors, as the PyTorch module's (scripts/torch/pnp.py) state_dict:
//
//	denoiser.{2l}.weight [out, in, 3, 3], denoiser.{2l}.bias [out]   (l = 0…L−1, an nn.Sequential with ReLUs between)
//	kernel [kh, kw]   (pnp; a buffer, not trained)
//	gamma []          (pnp with pgd; γ, trained)
//	beta []           (pnp with hqs; β > 0, trained)
//
// An input row, a state and an output are the H·W pixels, row by row. The
// model file fixes H and W; Resize gives the same model for images of
// another size, sharing its tensors (convolution is translation-invariant).
const (
	kindPnP         = "pnp"
	kindPnPExplicit = "pnp-explicit"
	metaSplitting   = "implicit.splitting"
	metaBoundary    = "implicit.boundary"
	metaNoise       = "implicit.noise"

	// SplittingPGD and SplittingHQS are the values of implicit.splitting.
	SplittingPGD = "pgd"
	SplittingHQS = "hqs"
	// BoundarySymmetric and BoundaryPeriodic are the values of
	// implicit.boundary.
	BoundarySymmetric = "symmetric"
	BoundaryPeriodic  = "periodic"

	maxPnPKernel = 129 // a kernel's side
)

var (
	pnpKeys         = []string{metaSplitting, metaBoundary, metaHeight, metaWidth, metaDepth, metaNoise}
	pnpExplicitKeys = []string{metaHeight, metaWidth, metaDepth, metaNoise}

	pnpKind = Kind{Name: kindPnP, Keys: pnpKeys,
		Decode: func(t tensors, m map[string]string) (Architecture, error) { return decodePnP(t, m, false) }}
	pnpExplicitKind = Kind{Name: kindPnPExplicit, Keys: pnpExplicitKeys, Explicit: true,
		Decode: func(t tensors, m map[string]string) (Architecture, error) { return decodePnP(t, m, true) }}
)

// PnP holds the parameters of a pnp or pnp-explicit model. Channels (C) and
// the depth follow from Denoiser.
type PnP struct {
	Explicit bool
	// Splitting and Boundary: pgd or hqs, symmetric or periodic (pnp only).
	Splitting, Boundary string
	Height, Width       int
	Noise               float64
	Kernel              Matrix    // the blur k, kh×kw (pnp only)
	Gamma, Beta         []float64 // γ (pgd) or β (hqs): one value (pnp only)
	Denoiser            []Conv2d  // the L convolutions of D
	Defaults            api.Defaults
}

// Channels is C, the denoiser's width.
func (p *PnP) Channels() int { return len(p.Denoiser[0].Bias) }

// Kind is "pnp" or "pnp-explicit".
func (p *PnP) Kind() string {
	if p.Explicit {
		return kindPnPExplicit
	}
	return kindPnP
}

// Sizes are H·W pixels in, as the state and out.
func (p *PnP) Sizes() api.Sizes {
	hw := p.Height * p.Width
	return api.Sizes{In: hw, State: hw, Out: hw}
}

// Describe names the model: "hqs, symmetric 9×9 blur, denoiser L=5 C=16, 40×40 images".
func (p *PnP) Describe() string {
	den := fmt.Sprintf("denoiser L=%d C=%d, %d×%d images", len(p.Denoiser), p.Channels(), p.Height, p.Width)
	if p.Explicit {
		return "explicit, " + den
	}
	return fmt.Sprintf("%s, %s %d×%d blur, %s", p.Splitting, p.Boundary, p.Kernel.Rows, p.Kernel.Cols, den)
}

// SolverDefaults points at the file's solver settings.
func (p *PnP) SolverDefaults() *api.Defaults { return &p.Defaults }

// DefaultMethod is Anderson.
func (p *PnP) DefaultMethod() api.Method { return nil }

// Metadata holds the kind's keys.
func (p *PnP) Metadata() map[string]string {
	m := map[string]string{metaHeight: strconv.Itoa(p.Height), metaWidth: strconv.Itoa(p.Width),
		metaDepth: strconv.Itoa(len(p.Denoiser)), metaNoise: strconv.FormatFloat(p.Noise, 'g', -1, 64)}
	if !p.Explicit {
		m[metaSplitting], m[metaBoundary] = p.Splitting, p.Boundary
	}
	return m
}

func pnpLayerName(l int) string { return "denoiser." + strconv.Itoa(2*l) }

// pnpLayerSizes are conv_l's input and output channels for depth L, width C.
func pnpLayerSizes(l, depth, c int) (in, out int) {
	in, out = c, c
	if l == 0 {
		in = 1
	}
	if l == depth-1 {
		out = 1
	}
	return in, out
}

// Tensors are the denoiser's, then kernel, gamma and beta.
func (p *PnP) Tensors() []Tensor {
	var ts []Tensor
	c := p.Channels()
	for l, cv := range p.Denoiser {
		in, out := pnpLayerSizes(l, len(p.Denoiser), c)
		ts = append(ts, Tensor{Name: pnpLayerName(l) + ".weight", Shape: kernelShape(out, in), Data: cv.Weight}, vectorTensor(pnpLayerName(l)+".bias", cv.Bias))
	}
	if p.Explicit {
		return ts
	}
	ts = append(ts, Tensor{Name: "kernel", Shape: []int{p.Kernel.Rows, p.Kernel.Cols}, Data: p.Kernel.Data, Fixed: true})
	if p.Splitting == SplittingHQS {
		return append(ts, Tensor{Name: "beta", Shape: []int{}, Data: p.Beta})
	}
	return append(ts, Tensor{Name: "gamma", Shape: []int{}, Data: p.Gamma})
}

// Zero returns a PnP of the same sizes with every tensor zero.
func (p *PnP) Zero() Architecture {
	z := *p
	z.Defaults = api.Defaults{}
	z.Denoiser = make([]Conv2d, len(p.Denoiser))
	for l, cv := range p.Denoiser {
		z.Denoiser[l] = Conv2d{Weight: zeros(cv.Weight), Bias: zeros(cv.Bias)}
	}
	if !p.Explicit {
		z.Kernel = NewMatrix(p.Kernel.Rows, p.Kernel.Cols)
		if p.Gamma != nil {
			z.Gamma = zeros(p.Gamma)
		}
		if p.Beta != nil {
			z.Beta = zeros(p.Beta)
		}
	}
	return &z
}

// Resize returns the model a for images of h×w pixels: the same operator
// and denoiser (its tensors shared, not copied), only the sizes differ. The
// pnp kinds are convolutional throughout, so one trained model restores
// images of any size; the other kinds' parameters depend on their sizes
// and cannot be resized (an error).
func Resize(a Architecture, h, w int) (Architecture, error) {
	p, ok := a.(*PnP)
	if !ok {
		return nil, modelErrorf("a %s model cannot be resized (its parameters depend on its sizes; the pnp kinds' do not)", a.Kind())
	}
	r := *p
	r.Height, r.Width = h, w
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// sizeError checks the sizes alone.
func (p *PnP) sizeError() error {
	h, w := p.Height, p.Width
	switch {
	case h <= 0 || w <= 0:
		return modelErrorf("images of %d×%d pixels (%s and %s must be positive)", h, w, metaHeight, metaWidth)
	case h > maxConvSide || w > maxConvSide:
		return modelErrorf("images of %d×%d pixels (at most %d a side)", h, w, maxConvSide)
	case len(p.Denoiser) < 2 || len(p.Denoiser) > maxDepth:
		return modelErrorf("%s=%d (want 2 to %d convolutions)", metaDepth, len(p.Denoiser), maxDepth)
	case len(p.Denoiser[0].Bias) < 1 || len(p.Denoiser[0].Bias) > maxConvState/(h*w):
		return modelErrorf("a denoiser of %d channels on %d×%d pixels (at most %d values a layer)", len(p.Denoiser[0].Bias), h, w, maxConvState)
	}
	return nil
}

// Validate checks the sizes, every shape and value: finite tensors, a
// normalised-or-not but finite kernel of odd sides, β > 0, the keys' values,
// and for hqs with symmetric boundaries a kernel symmetric under each flip.
func (p *PnP) Validate() error {
	if err := p.sizeError(); err != nil {
		return err
	}
	c := p.Channels()
	for l, cv := range p.Denoiser {
		in, out := pnpLayerSizes(l, len(p.Denoiser), c)
		name := pnpLayerName(l)
		if err := firstError(checkValues(name+".weight", cv.Weight, out*in*9), checkValues(name+".bias", cv.Bias, out)); err != nil {
			return err
		}
	}
	if !(p.Noise >= 0) || math.IsInf(p.Noise, 0) {
		return modelErrorf("%s=%v (want a finite σ ≥ 0)", metaNoise, p.Noise)
	}
	if err := validateDefaults(p.Defaults); err != nil {
		return err
	}
	if p.Explicit {
		if p.Kernel.Data != nil || p.Gamma != nil || p.Beta != nil || p.Splitting != "" || p.Boundary != "" {
			return modelErrorf("a %s model has no operator (kernel, gamma, beta, %s, %s)", kindPnPExplicit, metaSplitting, metaBoundary)
		}
		return nil
	}
	kh, kw := p.Kernel.Rows, p.Kernel.Cols
	switch {
	case p.Splitting != SplittingPGD && p.Splitting != SplittingHQS:
		return modelErrorf("%s=%q (want %s or %s)", metaSplitting, p.Splitting, SplittingPGD, SplittingHQS)
	case p.Boundary != BoundarySymmetric && p.Boundary != BoundaryPeriodic:
		return modelErrorf("%s=%q (want %s or %s)", metaBoundary, p.Boundary, BoundarySymmetric, BoundaryPeriodic)
	case kh < 1 || kw < 1 || kh%2 == 0 || kw%2 == 0 || kh > maxPnPKernel || kw > maxPnPKernel:
		return modelErrorf("tensor \"kernel\" is %d×%d (want odd sides from 1 to %d: a centred blur)", kh, kw, maxPnPKernel)
	}
	if err := checkMatrix("kernel", p.Kernel, kh, kw); err != nil {
		return err
	}
	if p.Splitting == SplittingPGD {
		if p.Beta != nil {
			return modelErrorf("tensor \"beta\" is for %s=%s; a %s model has none", metaSplitting, SplittingHQS, SplittingPGD)
		}
		return checkValues("gamma", p.Gamma, 1)
	}
	if p.Gamma != nil {
		return modelErrorf("tensor \"gamma\" is for %s=%s; a %s model has none", metaSplitting, SplittingPGD, SplittingHQS)
	}
	if err := checkValues("beta", p.Beta, 1); err != nil {
		return err
	}
	if !(p.Beta[0] > 0) {
		return modelErrorf("tensor \"beta\" is %v (β must be > 0: the resolvent (AᵀA + βI)⁻¹)", p.Beta[0])
	}
	if p.Boundary == BoundarySymmetric {
		k := p.Kernel
		var scale float64
		for _, v := range k.Data {
			scale = math.Max(scale, math.Abs(v))
		}
		for i := range kh {
			for j := range kw {
				v := k.Data[i*kw+j]
				if math.Abs(v-k.Data[(kh-1-i)*kw+j]) > 1e-12*scale || math.Abs(v-k.Data[i*kw+kw-1-j]) > 1e-12*scale {
					return modelErrorf("tensor \"kernel\" is not symmetric under each axis's flip (at %d,%d): %s with %s=%s needs such a kernel (or %s=%s)",
						i, j, SplittingHQS, metaBoundary, BoundarySymmetric, metaBoundary, BoundaryPeriodic)
				}
			}
		}
	}
	return nil
}

func decodePnP(ts tensors, meta map[string]string, explicit bool) (Architecture, error) {
	kind := kindPnP
	if explicit {
		kind = kindPnPExplicit
	}
	p := &PnP{Explicit: explicit}
	ints := []struct {
		key string
		dst *int
	}{{metaHeight, &p.Height}, {metaWidth, &p.Width}}
	var depth int
	ints = append(ints, struct {
		key string
		dst *int
	}{metaDepth, &depth})
	for _, k := range ints {
		v, ok := meta[k.key]
		if !ok {
			return nil, modelErrorf("metadata %s is missing (a %s model has %s)", k.key, kind, strings.Join(keysOf(explicit), ", "))
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > maxConvState {
			return nil, modelErrorf("metadata %s=%q (want a whole number from 1 to %d)", k.key, v, maxConvState)
		}
		*k.dst = n
	}
	if depth < 2 || depth > maxDepth {
		return nil, modelErrorf("metadata %s=%d (want 2 to %d convolutions)", metaDepth, depth, maxDepth)
	}
	v, ok := meta[metaNoise]
	if !ok {
		return nil, modelErrorf("metadata %s is missing (a %s model has %s)", metaNoise, kind, strings.Join(keysOf(explicit), ", "))
	}
	noise, err := strconv.ParseFloat(v, 64)
	if err != nil || !(noise >= 0) || math.IsInf(noise, 0) {
		return nil, modelErrorf("metadata %s=%q (want a finite σ ≥ 0)", metaNoise, v)
	}
	p.Noise = noise
	var want []string
	for l := range depth {
		want = append(want, pnpLayerName(l)+".weight", pnpLayerName(l)+".bias")
	}
	if !explicit {
		for _, k := range []struct {
			key  string
			dst  *string
			vals []string
		}{{metaSplitting, &p.Splitting, []string{SplittingPGD, SplittingHQS}}, {metaBoundary, &p.Boundary, []string{BoundarySymmetric, BoundaryPeriodic}}} {
			v, ok := meta[k.key]
			if !ok {
				return nil, modelErrorf("metadata %s is missing (a %s model has %s)", k.key, kind, strings.Join(keysOf(explicit), ", "))
			}
			if !slices.Contains(k.vals, v) {
				return nil, modelErrorf("metadata %s=%q (want %s)", k.key, v, strings.Join(k.vals, " or "))
			}
			*k.dst = v
		}
		if p.Splitting == SplittingHQS {
			want = append(want, "kernel", "beta")
		} else {
			want = append(want, "kernel", "gamma")
		}
	}
	what := fmt.Sprintf("a %s model of depth %d", kind, depth)
	if !explicit {
		what = fmt.Sprintf("a %s %s model of depth %d", p.Splitting, kind, depth)
	}
	if err := ts.expect(what, want); err != nil {
		return nil, err
	}
	first := ts["denoiser.0.weight"].Shape
	if len(first) != 4 || first[1] != 1 || first[2] != 3 || first[3] != 3 || first[0] < 1 {
		return nil, modelErrorf("tensor \"denoiser.0.weight\" has shape %v, want [C, 1, 3, 3] (a 3×3 convolution of the grey image)", first)
	}
	c := first[0]
	why := fmt.Sprintf("C=%d from denoiser.0.weight, %s=%d", c, metaDepth, depth)
	p.Denoiser = make([]Conv2d, depth)
	for l := range depth {
		in, out := pnpLayerSizes(l, depth, c)
		name := pnpLayerName(l)
		if err := firstError(ts.shape(name+".weight", kernelShape(out, in), why), ts.shape(name+".bias", []int{out}, why)); err != nil {
			return nil, err
		}
		p.Denoiser[l] = Conv2d{Weight: ts[name+".weight"].Data, Bias: ts[name+".bias"].Data}
	}
	if explicit {
		return p, nil
	}
	k := ts["kernel"].Shape
	if len(k) != 2 {
		return nil, modelErrorf("tensor \"kernel\" has shape %v, want [kh, kw] (the blur)", k)
	}
	p.Kernel = ts.matrix("kernel")
	for _, name := range []string{"gamma", "beta"} {
		if t, ok := ts[name]; ok {
			if len(t.Data) != 1 || len(t.Shape) > 1 {
				return nil, modelErrorf("tensor %q has shape %v, want [] (a scalar)", name, t.Shape)
			}
		}
	}
	if p.Splitting == SplittingHQS {
		p.Beta = ts["beta"].Data
	} else {
		p.Gamma = ts["gamma"].Data
	}
	return p, nil
}

func keysOf(explicit bool) []string {
	if explicit {
		return pnpExplicitKeys
	}
	return pnpKeys
}

// PnPConfig describes a pnp model to initialise.
type PnPConfig struct {
	Explicit            bool
	Splitting, Boundary string // pnp only
	Height, Width       int
	Noise               float64
	Kernel              Matrix // pnp only
	Depth, Channels     int    // L and C of the denoiser
	// Gamma and Beta are the initial γ (pgd) and β (hqs); 0 means 1 and 0.1.
	Gamma, Beta float64
}

// NewPnP returns a pnp (or pnp-explicit) model whose denoiser is drawn from
// rng as PyTorch's nn.Conv2d initialises (uniform on ±1/√fan_in, fan_in =
// 9·in), its last convolution scaled by 0.1 so that H_θ starts near the
// identity.
func NewPnP(cfg PnPConfig, rng *rand.Rand) (*PnP, error) {
	if cfg.Depth < 2 || cfg.Depth > maxDepth || cfg.Channels < 1 {
		return nil, modelErrorf("a denoiser of depth %d and %d channels (want depth 2 to %d, channels ≥ 1)", cfg.Depth, cfg.Channels, maxDepth)
	}
	p := &PnP{Explicit: cfg.Explicit, Height: cfg.Height, Width: cfg.Width, Noise: cfg.Noise, Denoiser: make([]Conv2d, cfg.Depth)}
	for l := range p.Denoiser {
		in, out := pnpLayerSizes(l, cfg.Depth, cfg.Channels)
		w, b := uniformMatrix(rng, out, in*9, in*9).Data, uniformMatrix(rng, 1, out, in*9).Data
		if l == cfg.Depth-1 {
			for i := range w {
				w[i] *= 0.1
			}
			clear(b)
		}
		p.Denoiser[l] = Conv2d{Weight: w, Bias: b}
	}
	if !cfg.Explicit {
		p.Splitting, p.Boundary = cfg.Splitting, cfg.Boundary
		p.Kernel = Matrix{Rows: cfg.Kernel.Rows, Cols: cfg.Kernel.Cols, Data: slices.Clone(cfg.Kernel.Data)}
		g, b := cfg.Gamma, cfg.Beta
		if g == 0 {
			g = 1
		}
		if b == 0 {
			b = 0.1
		}
		if p.Splitting == SplittingHQS {
			p.Beta = []float64{b}
		} else {
			p.Gamma = []float64{g}
		}
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("initialising: %w", err)
	}
	return p, nil
}

// Blur returns A x, the model's blur of the image x (H×W values, row by
// row): what the model assumes the observations are, less their noise.
func (p *PnP) Blur(x []float64) ([]float64, error) { return p.operator(x, false) }

// BlurAdjoint returns Aᵀ y for an image y of H×W values.
func (p *PnP) BlurAdjoint(y []float64) ([]float64, error) { return p.operator(y, true) }

func (p *PnP) operator(x []float64, adjoint bool) ([]float64, error) {
	if p.Explicit {
		return nil, fmt.Errorf("%w: a %s model has no blur", api.ErrProblem, kindPnPExplicit)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(x) != p.Height*p.Width {
		return nil, fmt.Errorf("%w: %d values are not an image of %d×%d pixels", api.ErrProblem, len(x), p.Height, p.Width)
	}
	op, out := newBlurOp(p.Kernel, p.Boundary, p.Height, p.Width), make([]float64, len(x))
	if adjoint {
		op.adjoint(out, x)
	} else {
		op.apply(out, x)
	}
	return out, nil
}
