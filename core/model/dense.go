package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
	"github.com/implicitlab/implicit/core/internal/gemm"
	"github.com/implicitlab/implicit/core/internal/vec"
)

// The deq-dense kind: one dense implicit layer,
//
//	z* = σ(W z* + U x + b),  y = C z* + c,  z⁰ = 0,
//
// with W given directly or by the monotone parametrisation. Its file has the
// metadata keys implicit.activation ("relu", "tanh" or "identity"),
// implicit.param ("direct" or "monotone") and implicit.monotone_m (m > 0,
// monotone only), and the tensors of PyTorch's nn.Linear layers (weight is
// [out, in]): encoder.weight [h, p] (U), encoder.bias [h] (b),
// decoder.weight [q, h] (C), decoder.bias [q] (c), and core.weight [h, h]
// (direct) or core.A and core.B [h, h] (monotone).
const (
	kindDense      = "deq-dense"
	metaActivation = "implicit.activation"
	metaParam      = "implicit.param"
	metaMonotone   = "implicit.monotone_m"
)

var denseKind = Kind{
	Name:   kindDense,
	Keys:   []string{metaActivation, metaParam, metaMonotone},
	Decode: decodeDense,
}

// Parametrization says how a deq-dense layer's W is stored.
type Parametrization string

const (
	// Direct stores W itself. A unique fixed point is not guaranteed; the
	// iteration converges when, for instance, ‖W‖₂ < 1 with a 1-Lipschitz σ.
	Direct Parametrization = "direct"
	// Monotone stores A and B with W = (1 − m) I − AᵀA + B − Bᵀ, so that
	// I − W ⪰ m I: the layer has exactly one fixed point for any A, B and
	// m > 0 (Winston & Kolter 2020), whatever ‖W‖₂.
	Monotone Parametrization = "monotone"
)

// Dense holds the parameters of a deq-dense model with h hidden units, p
// inputs and q outputs. Its fields mirror the model file. A Dense must not
// change while a Model built from it is in use.
type Dense struct {
	Activation Activation
	Param      Parametrization
	// Monotone is m > 0 of the monotone parametrisation.
	Monotone float64
	// W is h×h (Direct); A and B are h×h (Monotone). The unused ones are empty.
	W, A, B Matrix
	U       Matrix    // h×p, the input injection (encoder.weight)
	Bias    []float64 // b, h values (encoder.bias)
	C       Matrix    // q×h, the readout (decoder.weight)
	OutBias []float64 // c, q values (decoder.bias)

	Defaults api.Defaults
}

// Kind is "deq-dense".
func (d *Dense) Kind() string { return kindDense }

// Sizes are p inputs, h hidden units (the state) and q outputs.
func (d *Dense) Sizes() api.Sizes { return api.Sizes{In: d.U.Cols, State: d.U.Rows, Out: d.C.Rows} }

// Describe names the model: "monotone (m=0.5) relu, h=64".
func (d *Dense) Describe() string {
	h := d.U.Rows
	if d.Param == Monotone {
		return fmt.Sprintf("monotone (m=%g) %s, h=%d", d.Monotone, d.Activation, h)
	}
	return fmt.Sprintf("%s %s, h=%d", d.Param, d.Activation, h)
}

// SolverDefaults points at the file's solver settings.
func (d *Dense) SolverDefaults() *api.Defaults { return &d.Defaults }

// DefaultMethod is Peaceman-Rachford for a monotone layer, which converges
// however large ‖W‖₂ is (Anderson usually is faster but can diverge there),
// and Anderson for a direct one.
func (d *Dense) DefaultMethod() api.Method {
	if d.Param == Monotone {
		return &api.PeacemanRachford{}
	}
	return nil
}

// Tensors are encoder.weight, encoder.bias, decoder.weight, decoder.bias,
// then core.A and core.B (monotone) or core.weight (direct).
func (d *Dense) Tensors() []Tensor {
	ts := []Tensor{
		matrixTensor("encoder.weight", d.U), vectorTensor("encoder.bias", d.Bias),
		matrixTensor("decoder.weight", d.C), vectorTensor("decoder.bias", d.OutBias),
	}
	if d.Param == Monotone {
		return append(ts, matrixTensor("core.A", d.A), matrixTensor("core.B", d.B))
	}
	return append(ts, matrixTensor("core.weight", d.W))
}

func matrixTensor(name string, m Matrix) Tensor {
	return Tensor{Name: name, Shape: []int{m.Rows, m.Cols}, Data: m.Data}
}

func vectorTensor(name string, v []float64) Tensor {
	return Tensor{Name: name, Shape: []int{len(v)}, Data: v}
}

// Metadata holds the activation, the parametrisation and m.
func (d *Dense) Metadata() map[string]string {
	meta := map[string]string{metaActivation: string(d.Activation), metaParam: string(d.Param)}
	if d.Param == Monotone {
		meta[metaMonotone] = strconv.FormatFloat(d.Monotone, 'g', -1, 64)
	}
	return meta
}

// Zero returns a Dense of the same shapes with zero parameters.
func (d *Dense) Zero() Architecture {
	h, p, q := d.U.Rows, d.U.Cols, d.C.Rows
	g := &Dense{Activation: d.Activation, Param: d.Param, Monotone: d.Monotone,
		U: NewMatrix(h, p), Bias: make([]float64, h), C: NewMatrix(q, h), OutBias: make([]float64, q)}
	if d.Param == Monotone {
		g.A, g.B = NewMatrix(h, h), NewMatrix(h, h)
	} else {
		g.W = NewMatrix(h, h)
	}
	return g
}

// Validate checks that the parameters describe a deq-dense model: known
// activation and parametrisation, consistent shapes, finite values.
func (d *Dense) Validate() error {
	if !d.Activation.valid() {
		return modelErrorf("activation %q (want relu, tanh or identity)", d.Activation)
	}
	h, p, q := d.U.Rows, d.U.Cols, d.C.Rows
	if h <= 0 || p <= 0 || q <= 0 {
		return modelErrorf("sizes h=%d, p=%d, q=%d (all must be positive)", h, p, q)
	}
	empty := func(name string, m Matrix) error {
		if m.Rows != 0 || m.Cols != 0 || len(m.Data) != 0 {
			return modelErrorf("%s is set, but the %s parametrisation does not use it", name, d.Param)
		}
		return nil
	}
	var errs []error
	switch d.Param {
	case Direct:
		errs = append(errs, checkMatrix("W (core.weight)", d.W, h, h), empty("A (core.A)", d.A), empty("B (core.B)", d.B),
			checkMagnitude("W (core.weight)", d.W.Data))
		if d.Monotone != 0 {
			errs = append(errs, modelErrorf("monotone m=%v is set for a direct model", d.Monotone))
		}
	case Monotone:
		errs = append(errs, checkMatrix("A (core.A)", d.A, h, h), checkMatrix("B (core.B)", d.B, h, h), empty("W (core.weight)", d.W))
		// |(AᵀA)ᵢⱼ| ≤ ‖A‖²_F, so these bounds on m, A and B bound W's
		// entries by 3·maxWeight + 1, whose squares summed over h² ≤ 2²⁴
		// entries stay finite: the splittings' norms of I − W do not
		// overflow.
		if !(d.Monotone > 0 && d.Monotone < maxWeight) {
			errs = append(errs, modelErrorf("monotone m=%v (want m > 0, below %g)", d.Monotone, maxWeight))
		}
		if s := vec.Dot(d.A.Data, d.A.Data); len(d.A.Data) == h*h && !(s < maxWeight) {
			errs = append(errs, modelErrorf("A (core.A) is too large: ‖A‖²_F = %v (at most %g, so that W = (1 − m) I − AᵀA + B − Bᵀ and its norms stay finite)", s, maxWeight))
		}
		errs = append(errs, checkMagnitude("B (core.B)", d.B.Data))
	default:
		return modelErrorf("parametrisation %q (want direct or monotone)", d.Param)
	}
	errs = append(errs,
		checkMatrix("U (encoder.weight)", d.U, h, p),
		checkValues("b (encoder.bias)", d.Bias, h),
		checkMatrix("C (decoder.weight)", d.C, q, h),
		checkValues("c (decoder.bias)", d.OutBias, q),
		validateDefaults(d.Defaults),
	)
	return firstError(errs...)
}

// maxWeight bounds a deq-dense layer's weights (and ‖A‖²_F): far beyond any
// trained model's, and low enough that the norms the solvers take of W
// cannot overflow.
const maxWeight = 1e100

// checkMagnitude checks that every value of v is below maxWeight in
// magnitude.
func checkMagnitude(name string, v []float64) error {
	for i, x := range v {
		if !(math.Abs(x) < maxWeight) {
			return modelErrorf("%s is too large: %v at index %d (at most %g, so that the solvers' norms of W stay finite)", name, x, i, maxWeight)
		}
	}
	return nil
}

// EffectiveW returns the h×h matrix W of the layer: W itself, or
// (1 − m) I − AᵀA + B − Bᵀ for the monotone parametrisation.
func (d *Dense) EffectiveW() Matrix {
	h := d.U.Rows
	w := NewMatrix(h, h)
	if d.Param != Monotone {
		copy(w.Data, d.W.Data)
		return w
	}
	gemmTN(-1, d.A.Data, d.A.Data, h, h, h, w.Data) // −AᵀA
	b := d.B.Data
	for i := 0; i < h; i++ {
		for j := 0; j < h; j++ {
			w.Data[i*h+j] += b[i*h+j] - b[j*h+i]
		}
		w.Data[i*h+i] += 1 - d.Monotone
	}
	return w
}

// decodeDense reads a deq-dense file's metadata and tensors.
func decodeDense(ts tensors, meta map[string]string) (Architecture, error) {
	d := &Dense{Activation: Activation(meta[metaActivation]), Param: Parametrization(meta[metaParam])}
	if !d.Activation.valid() {
		return nil, modelErrorf("metadata %s=%q (want relu, tanh or identity)", metaActivation, meta[metaActivation])
	}
	switch d.Param {
	case Direct:
		if v, ok := meta[metaMonotone]; ok {
			return nil, modelErrorf("metadata %s=%q is set for a direct model", metaMonotone, v)
		}
	case Monotone:
		v, ok := meta[metaMonotone]
		if !ok {
			return nil, modelErrorf("metadata %s is missing (a monotone model needs m > 0)", metaMonotone)
		}
		m, err := strconv.ParseFloat(v, 64)
		if err != nil || !(m > 0) || math.IsInf(m, 0) {
			return nil, modelErrorf("metadata %s=%q (want a number > 0)", metaMonotone, v)
		}
		d.Monotone = m
	default:
		return nil, modelErrorf("metadata %s=%q (want direct or monotone)", metaParam, meta[metaParam])
	}
	want := []string{"encoder.weight", "encoder.bias", "decoder.weight", "decoder.bias"}
	if d.Param == Monotone {
		want = append(want, "core.A", "core.B")
	} else {
		want = append(want, "core.weight")
	}
	if err := ts.expect(fmt.Sprintf("a %s %s model", d.Param, kindDense), want); err != nil {
		return nil, err
	}
	h, q, err := linearSizes(ts)
	if err != nil {
		return nil, err
	}
	why := fmt.Sprintf("h=%d from encoder.weight %v, q=%d from decoder.weight", h, ts["encoder.weight"].Shape, q)
	for _, name := range want[4:] {
		if err := ts.shape(name, []int{h, h}, why); err != nil {
			return nil, err
		}
	}
	d.U, d.Bias, d.C, d.OutBias = ts.matrix("encoder.weight"), ts["encoder.bias"].Data, ts.matrix("decoder.weight"), ts["decoder.bias"].Data
	if d.Param == Monotone {
		d.A, d.B = ts.matrix("core.A"), ts.matrix("core.B")
	} else {
		d.W = ts.matrix("core.weight")
	}
	return d, nil
}

// linearSizes checks the shapes of the encoder and decoder nn.Linear
// tensors of a file and returns h and q: encoder.weight [h, p],
// encoder.bias [h], decoder.weight [q, h], decoder.bias [q].
func linearSizes(ts tensors) (h, q int, err error) {
	enc := ts["encoder.weight"]
	if len(enc.Shape) != 2 {
		return 0, 0, modelErrorf("tensor \"encoder.weight\" has shape %v, want [h, p]", enc.Shape)
	}
	h = enc.Shape[0]
	dec := ts["decoder.weight"]
	if len(dec.Shape) != 2 {
		return 0, 0, modelErrorf("tensor \"decoder.weight\" has shape %v, want [q, %d]", dec.Shape, h)
	}
	q = dec.Shape[0]
	why := fmt.Sprintf("h=%d from encoder.weight %v, q=%d from decoder.weight", h, enc.Shape, q)
	return h, q, firstError(ts.shape("encoder.bias", []int{h}, why), ts.shape("decoder.weight", []int{q, h}, why), ts.shape("decoder.bias", []int{q}, why))
}

// denseLayer is a deq-dense model prepared to compute.
type denseLayer struct {
	d       *Dense
	prec    api.Precision // of the packed matrices
	h, p, q int
	act     Activation
	weff    []float64 // W (h×h), as given or from the monotone parametrisation
	// z·Wᵀ, with Wᵀ packed for the kernel; the encoder x·Uᵀ + b and the
	// decoder z·Cᵀ + c.
	wt      *gemm.Packed
	encoder affine
	decoder affine
	// u·W, for the adjoint of training, packed on first use.
	wOnce sync.Once
	w     *gemm.Packed

	// The bounds of I − W, and the factored resolvents by step, computed
	// on first use: in steps by a splitting method (Splitting.Prepare*), at
	// once otherwise.
	boundsJob *job
	split     splitInfo
	mu        sync.Mutex
	resolvent map[resolventKey]*resolventJob
}

// resolventKey names a factored resolvent: its step α, and whether it is
// (I + α(I − Wᵀ))⁻¹, the adjoint's, rather than (I + α(I − W))⁻¹.
type resolventKey struct {
	alpha     float64
	transpose bool
}

// splitInfo holds the layer's monotonicity m and Lipschitz bound L of I − W,
// computed on first use by a splitting method.
type splitInfo struct {
	m, lip float64
}

// job is a computation of a layer's done once, in bounded steps when a solve
// asks (fixedpoint.Work), or to its end when its result is needed. The solves
// that share the layer share its progress.
type job struct {
	mu sync.Mutex
	// step does about units·h² multiply-adds and reports whether the job
	// is done.
	step func(units int) (done bool, err error)
	done bool
	err  error
}

// run is the job as a fixedpoint.Work: one iteration on rows samples
// multiplies rows vectors by an h×h matrix.
func (j *job) run(rows int) (bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.done {
		j.done, j.err = j.step(max(rows, 1))
		if j.err != nil {
			j.done = true
		}
		if j.done {
			j.step = nil // its state
		}
	}
	return j.done, j.err
}

// finish runs the job to its end and returns its error.
func (j *job) finish() error {
	for {
		if done, err := j.run(math.MaxInt32); done {
			return err
		}
	}
}

// work returns the job's Work, or nil if it is done.
func (j *job) work() fixedpoint.Work {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.done {
		return nil
	}
	return j.run
}

// resolventJob factors one resolvent; packed is its result.
type resolventJob struct {
	job
	packed *gemm.Packed
}

// Build packs the layer's matrices for the kernel.
func (d *Dense) Build(p api.Precision) (Layer, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	h := d.U.Rows
	l := &denseLayer{d: d, prec: p, h: h, p: d.U.Cols, q: d.C.Rows, act: d.Activation, resolvent: map[resolventKey]*resolventJob{}}
	l.weff = d.EffectiveW().Data
	l.boundsJob = &job{step: l.boundsSteps()}
	l.wt = pack(p, transposed(l.weff, h, h), h, h)
	l.encoder = newAffine(d.U, d.Bias, p)
	l.decoder = newAffine(d.C, d.OutBias, p)
	return l, nil
}

// Inject returns U x + b (n×h).
func (l *denseLayer) Inject(x []float64, n int) []float64 {
	u := make([]float64, n*l.h)
	l.encoder.forward(u, x, n)
	return u
}

// Readout sets y = C z + c.
func (l *denseLayer) Readout(y, z []float64, n int) { l.decoder.forward(y, z, n) }

// Problem is z = σ(W z + u_i), u = inj. It carries the layer's Splitting,
// so every method applies.
func (l *denseLayer) Problem(inj []float64, n int) fixedpoint.BatchProblem {
	h, act := l.h, l.act
	// A Problem is solved by one goroutine. After a relu about half of z
	// is zero, and a single row's product can skip it.
	scratch := gemm.Scratch{Sparse: act == ReLU}
	linear := func(dst, z []float64, rows []int) {
		for k, i := range rows {
			copy(dst[k*h:(k+1)*h], inj[i*h:(i+1)*h])
		}
		l.wt.MulAdd(dst, z, len(rows), &scratch)
	}
	return fixedpoint.BatchProblem{
		Dim:     h,
		Samples: n,
		F: func(dst, z []float64, rows []int) {
			linear(dst, z, rows)
			act.apply(dst)
		},
		Split: l.withPrepare(&fixedpoint.Splitting{
			Linear: linear,
			Prox:   func(v []float64, _ []int, alpha float64) { act.prox(v, alpha) },
			Resolvent: func(alpha float64) (func(dst, v []float64, rows []int), error) {
				return l.resolventFunc(alpha, false, inj)
			},
			Bounds: l.bounds,
		}, false),
	}
}

// withPrepare gives sp the layer's preparation in steps, the resolvents'
// with Wᵀ for W if transpose is set. A direct layer's monotonicity is known
// only after its bounds' steps, so a splitting method's refusal of one that
// is not monotone comes from the Solver's Steps, not from NewSolver.
func (l *denseLayer) withPrepare(sp *fixedpoint.Splitting, transpose bool) *fixedpoint.Splitting {
	sp.PrepareBounds = l.boundsJob.work
	sp.PrepareResolvent = func(alpha float64) fixedpoint.Work {
		return l.resolventJob(alpha, transpose).work()
	}
	return sp
}

// bounds returns the monotonicity m of I − W and a bound on ‖I − W‖₂,
// which I − Wᵀ shares.
func (l *denseLayer) bounds() (float64, float64, error) {
	if err := l.boundsJob.finish(); err != nil {
		return 0, 0, err
	}
	return l.split.m, l.split.lip, nil
}

// boundsSteps returns the steps of the bounds' job: the monotonicity m of
// I − W (exact for the monotone parametrisation, the smallest eigenvalue of
// its symmetric part for a direct W, by minEigen) and a bound on ‖I − W‖₂ by
// power iteration, each some rows' work a step.
func (l *denseLayer) boundsSteps() func(units int) (bool, error) {
	h := l.h
	var (
		iw  []float64 // I − W
		eig *minEigen
		pw  *powerIter
	)
	return func(units int) (bool, error) {
		if iw == nil {
			iw = make([]float64, h*h)
			for i, w := range l.weff {
				iw[i] = -w
			}
			for i := range h {
				iw[i*h+i]++
			}
			if l.d.Param == Monotone {
				l.split.m = l.d.Monotone
			} else {
				sym := make([]float64, h*h)
				for i := range h {
					for j := range h {
						sym[i*h+j] = (iw[i*h+j] + iw[j*h+i]) / 2
					}
				}
				eig = newMinEigen(sym, h)
			}
			return false, nil
		}
		if eig != nil {
			if !eig.step(l.prepOps(units) * h) {
				return false, nil
			}
			if l.split.m = eig.value(); math.IsNaN(l.split.m) {
				return true, fmt.Errorf("%w: the layer's W is not finite", api.ErrProblem)
			}
			eig = nil
			return false, nil
		}
		if pw == nil {
			pw = newPowerIter(Matrix{Rows: h, Cols: h, Data: iw}, rand.New(rand.NewPCG(1, 2)))
		}
		if !pw.step(l.prepOps(units)) {
			return false, nil
		}
		// ‖I − W‖₂ by power iteration, padded 5%, and never above the
		// guaranteed bound √(‖·‖₁‖·‖∞). Cheaper than an SVD by far (which
		// dominated a WebAssembly guest's first solve), and precise enough:
		// Peaceman-Rachford converges for any step, and forward-backward's
		// default step is half the largest safe one.
		est := 1.04 * pw.norm() // powerNorm adds 1%
		l.split.lip = math.Min(est, math.Sqrt(norm1(iw, h)*normInf(iw, h)))
		return true, nil
	}
}

// norm1 and normInf are the largest column and row sums of |a| (n×n).
func norm1(a []float64, n int) float64 {
	sums := make([]float64, n)
	for i := range n {
		for j, v := range a[i*n : (i+1)*n] {
			sums[j] += math.Abs(v)
		}
	}
	var m float64
	for _, v := range sums {
		m = max(m, v)
	}
	return m
}

func normInf(a []float64, n int) float64 {
	var m float64
	for i := range n {
		var s float64
		for _, v := range a[i*n : (i+1)*n] {
			s += math.Abs(v)
		}
		m = max(m, s)
	}
	return m
}

// powerIter is powerNorm in steps: ‖M‖₂ by 100 iterations of the power
// method on MᵀM, padded 1%, the same arithmetic, a row's product at a time.
type powerIter struct {
	m     Matrix
	v, mv []float64
	s     float64
	k     int // iterations done
	phase int // of iteration k: 0 normalise v, 1 mv = M v, 2 v = Mᵀ mv
	i     int // the next row of phase 1 or 2
	zero  bool
}

func newPowerIter(m Matrix, rng *rand.Rand) *powerIter {
	v := make([]float64, m.Cols)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return &powerIter{m: m, v: v, mv: make([]float64, m.Rows)}
}

// step does up to ops products of a row of M with a vector and reports
// whether every iteration has run.
func (p *powerIter) step(ops int) bool {
	m, v, mv := p.m, p.v, p.mv
	row := func(i int) []float64 { return m.Data[i*m.Cols : (i+1)*m.Cols] }
	for ops > 0 && p.k < 100 {
		switch p.phase {
		case 0:
			nv := math.Sqrt(vec.Dot(v, v))
			if nv == 0 {
				p.zero, p.k = true, 100
				return true
			}
			for i := range v {
				v[i] /= nv
			}
			p.phase, p.i = 1, 0
		case 1:
			for ; p.i < len(mv) && ops > 0; p.i, ops = p.i+1, ops-1 {
				mv[p.i] = vec.Dot(row(p.i), v)
			}
			if p.i == len(mv) {
				clear(v)
				p.phase, p.i = 2, 0
			}
		case 2:
			for ; p.i < len(mv) && ops > 0; p.i, ops = p.i+1, ops-1 {
				vec.Axpy(mv[p.i], row(p.i), v)
			}
			if p.i == len(mv) {
				p.s = math.Sqrt(math.Sqrt(vec.Dot(v, v)))
				p.k, p.phase = p.k+1, 0
			}
		}
	}
	return p.k >= 100
}

// norm is the estimate, once step has run every iteration.
func (p *powerIter) norm() float64 {
	if p.zero {
		return 0
	}
	return 1.01 * p.s
}

// prepShare is the share of an iteration's work a step of a preparation
// does: a unit, an iteration of one sample, is h products of a row with a
// vector of h, and a step does h/prepShare of them a unit. The scalar loops
// of a preparation run slower than the kernels of an iteration, in
// WebAssembly above all.
const prepShare = 4

// prepOps is the row products a preparation step does for units.
func (l *denseLayer) prepOps(units int) int {
	return max(1, min(units, math.MaxInt32/l.h)*l.h/prepShare)
}

// resolventJob returns the job that factors (I + α(I − W))⁻¹, or with Wᵀ
// for W if transpose is set, kept by step.
func (l *denseLayer) resolventJob(alpha float64, transpose bool) *resolventJob {
	key := resolventKey{alpha, transpose}
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.resolvent[key]
	if !ok {
		r = &resolventJob{}
		r.step = l.resolventSteps(alpha, transpose, &r.packed)
		if len(l.resolvent) > 8 {
			clear(l.resolvent) // a few step sizes are in use at a time
		}
		l.resolvent[key] = r
	}
	return r
}

// resolventSteps returns the steps of a resolvent's job: forming
// I + α(I − W) = (1 + α) I − α W, inverting it by Gauss-Jordan elimination
// with partial pivoting, some rows a step, and packing the inverse for the
// kernel into *packed.
func (l *denseLayer) resolventSteps(alpha float64, transpose bool, packed **gemm.Packed) func(units int) (bool, error) {
	h := l.h
	var (
		gj    *gaussJordan
		r     []float64
		stage int // after the elimination: undo the swaps, transpose, pack
	)
	return func(units int) (bool, error) {
		if gj == nil {
			a := make([]float64, h*h)
			for i, w := range l.weff {
				a[i] = -alpha * w
			}
			for i := 0; i < h; i++ {
				a[i*h+i] += 1 + alpha
			}
			gj = &gaussJordan{a: a, n: h, i: -1, perm: make([]int, h)}
			return false, nil
		}
		if !gj.step(l.prepOps(units)) {
			return false, nil
		}
		if gj.singular {
			return true, fmt.Errorf("%w: I + α(I − W) is singular for α=%v", api.ErrProblem, alpha)
		}
		// Each stage is a pass over h² values and a step of its own.
		switch stage {
		case 0:
			gj.unswap()
			r = gj.a
		case 1:
			// Rows are multiplied on the right: by the inverse's
			// transpose, and for the adjoint, whose inverse is that
			// transpose, by the inverse.
			if !transpose {
				r = transposed(r, h, h)
			}
		case 2:
			*packed = pack(l.prec, r, h, h)
			return true, nil
		}
		stage++
		return false, nil
	}
}

// gaussJordan inverts the n×n row-major matrix a in place, a row's update
// at a time.
type gaussJordan struct {
	a        []float64
	n, k     int   // k columns eliminated
	i        int   // the next row to update for column k, or -1 before its pivot
	perm     []int // the row swapped with row k at step k
	singular bool
}

// step does up to rows row updates (n multiply-adds each; choosing a pivot
// counts as one) and reports whether every column is eliminated (or a is
// singular); unswap then makes a its inverse.
func (g *gaussJordan) step(rows int) bool {
	n, a := g.n, g.a
	for rows > 0 && g.k < n && !g.singular {
		k := g.k
		rk := a[k*n : (k+1)*n]
		if g.i < 0 {
			p, best := k, math.Abs(a[k*n+k])
			for i := k + 1; i < n; i++ {
				if v := math.Abs(a[i*n+k]); v > best {
					p, best = i, v
				}
			}
			if !(best > 0) || math.IsInf(best, 0) {
				g.singular = true
				break
			}
			g.perm[k] = p
			if p != k {
				rp := a[p*n : (p+1)*n]
				for j := range rk {
					rk[j], rp[j] = rp[j], rk[j]
				}
			}
			inv := 1 / rk[k]
			rk[k] = 1
			for j := range rk {
				rk[j] *= inv
			}
			g.i, rows = 0, rows-1
		}
		for ; g.i < n && rows > 0; g.i++ {
			if g.i == k {
				continue
			}
			ri := a[g.i*n : (g.i+1)*n]
			if f := ri[k]; f != 0 {
				ri[k] = 0
				vec.Axpy(-f, rk, ri)
			}
			rows--
		}
		if g.i == n {
			g.k, g.i = k+1, -1
		}
	}
	return g.k == n || g.singular
}

// unswap finishes the inverse once every column is eliminated: the row
// swaps, undone on its columns, last first, a row at a time.
func (g *gaussJordan) unswap() {
	n := g.n
	for i := 0; i < n; i++ {
		row := g.a[i*n : (i+1)*n]
		for k := n - 1; k >= 0; k-- {
			if p := g.perm[k]; p != k {
				row[k], row[p] = row[p], row[k]
			}
		}
	}
}

// resolventFunc returns dst = (I + α(I − W))⁻¹ (v + α u_i) for each row,
// or with Wᵀ for W if transpose is set; the matrix is factored once per α
// and kept.
func (l *denseLayer) resolventFunc(alpha float64, transpose bool, inj []float64) (func(dst, v []float64, rows []int), error) {
	if err := l.boundsJob.finish(); err != nil {
		return nil, err
	}
	r := l.resolventJob(alpha, transpose)
	if err := r.finish(); err != nil {
		return nil, err
	}
	rt := r.packed
	h := l.h
	var (
		tmp     []float64
		scratch gemm.Scratch
	)
	return func(dst, v []float64, rows []int) {
		n := len(rows)
		if cap(tmp) < n*h {
			tmp = make([]float64, n*h)
		}
		t := tmp[:n*h]
		for k, i := range rows {
			tk, vk, uk := t[k*h:(k+1)*h], v[k*h:(k+1)*h], inj[i*h:(i+1)*h]
			for j := range tk {
				tk[j] = vk[j] + alpha*uk[j]
			}
		}
		clear(dst[:n*h])
		rt.MulAdd(dst, t, n, &scratch)
	}, nil
}

// packedW returns W itself packed for the kernel (rows times W), built on
// first use: only training needs it.
func (l *denseLayer) packedW() *gemm.Packed {
	l.wOnce.Do(func() {
		l.w = pack(l.prec, l.weff, l.h, l.h)
	})
	return l.w
}

// denseBackward holds a batch's fixed points z*, inputs x and
// D = σ'(W z* + U x + b).
type denseBackward struct {
	shallowBackward
	l *denseLayer
}

func (l *denseLayer) Backward(x, inj, z []float64, n int) Backward {
	d := make([]float64, n*l.h)
	if l.act != Identity {
		// σ(pre) is f(z*), which is z* itself up to the solve's tolerance;
		// recomputing the pre-activation keeps the derivative exact at the
		// point used.
		l.Problem(inj, n).Split.Linear(d, z, seq(n))
	}
	l.act.derivative(d, d)
	return &denseBackward{shallowBackward{encoder: &l.encoder, decoder: &l.decoder, x: x, z: z, n: n, deriv: d}, l}
}

// Adjoint is the adjoint fixed point u = J_f(z*)ᵀ u + gz, with J_f = D W,
// written for v = D u: v = D (Wᵀ v + gz), solved row by row as
// v ← D ⊙ (v W + gz), a vector-Jacobian product, never a dense Jacobian.
//
// In this form the adjoint of a monotone layer is itself a monotone
// equilibrium problem, so the splittings apply to it: I − Wᵀ has the same
// monotonicity and norm as I − W, and v ↦ D ⊙ v is the proximal operator of
// φ(v) = ½ Σ (1/dᵢ − 1) vᵢ² (plus the constraint vᵢ = 0 where dᵢ = 0), as
// 0 ≤ dᵢ ≤ 1 for relu, tanh and identity. Its scaled form,
// prox_{αφ}(v)ᵢ = vᵢ dᵢ / (dᵢ + α(1 − dᵢ)), is what the splitting steps need.
func (b *denseBackward) Adjoint(gz []float64) fixedpoint.BatchProblem {
	l, h, deriv := b.l, b.l.h, b.deriv
	w := l.packedW()
	var scratch gemm.Scratch
	linear := func(dst, v []float64, rows []int) {
		for k, i := range rows {
			copy(dst[k*h:(k+1)*h], gz[i*h:(i+1)*h])
		}
		w.MulAdd(dst, v, len(rows), &scratch)
	}
	prox := func(v []float64, rows []int, alpha float64) {
		for k, i := range rows {
			vk, dk := v[k*h:(k+1)*h], deriv[i*h:(i+1)*h]
			for j, d := range dk {
				if alpha == 1 {
					vk[j] *= d
				} else {
					vk[j] *= d / (d + alpha*(1-d))
				}
			}
		}
	}
	return fixedpoint.BatchProblem{
		Dim:     h,
		Samples: len(gz) / h,
		F: func(dst, v []float64, rows []int) {
			linear(dst, v, rows)
			prox(dst, rows, 1)
		},
		Split: l.withPrepare(&fixedpoint.Splitting{
			Linear: linear,
			Prox:   prox,
			Resolvent: func(alpha float64) (func(dst, v []float64, rows []int), error) {
				return l.resolventFunc(alpha, true, gz)
			},
			Bounds: l.bounds,
		}, true),
	}
}

// StateVJP sets dst = J_f(z)ᵀ u = Wᵀ (D ⊙ u), row by row (D ⊙ u) W.
func (b *denseBackward) StateVJP(dst, u []float64) {
	v := b.JacobianFree(u)
	clear(dst[:len(v)])
	var scratch gemm.Scratch
	b.l.packedW().MulAdd(dst, v, b.n, &scratch)
}

// Params adds ∂U = vᵀ x, ∂b = Σ v and ∂W = vᵀ z*, or for the monotone
// parametrisation W = (1 − m) I − AᵀA + B − Bᵀ, ∂A = −A (G + Gᵀ) and
// ∂B = G − Gᵀ with G = ∂W.
func (b *denseBackward) Params(grad Architecture, v []float64) {
	g, l, n, h := grad.(*Dense), b.l, b.n, b.l.h
	b.encoderGrad(grad, v)
	if l.d.Param != Monotone {
		gemmTN(1, v, b.z, n, h, h, g.W.Data) // ∂W = vᵀ z*
		return
	}
	gw := NewMatrix(h, h)
	gemmTN(1, v, b.z, n, h, h, gw.Data)
	sym := NewMatrix(h, h)
	for i := 0; i < h; i++ {
		for j := 0; j < h; j++ {
			sym.Data[i*h+j] = gw.Data[i*h+j] + gw.Data[j*h+i]
			g.B.Data[i*h+j] += gw.Data[i*h+j] - gw.Data[j*h+i]
		}
	}
	blas64.Gemm(blas.NoTrans, blas.NoTrans, -1,
		blas64.General{Rows: h, Cols: h, Stride: h, Data: l.d.A.Data},
		blas64.General{Rows: h, Cols: h, Stride: h, Data: sym.Data},
		1, blas64.General{Rows: h, Cols: h, Stride: h, Data: g.A.Data})
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
