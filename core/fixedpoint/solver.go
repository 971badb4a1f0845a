package fixedpoint

import (
	"context"
	"fmt"
	"math"

	"github.com/implicitlab/implicit/api"
)

// iterator advances every active sample of a solve by one iteration.
type iterator interface {
	iterate(sv *Solver)
}

// start prepares the per-sample state of a solve by method m.
func start(m api.Method, sv *Solver) (iterator, error) {
	switch m := m.(type) {
	case *api.Picard:
		return startPicard(m)
	case *api.Anderson:
		return startAnderson(m, sv)
	case *api.Broyden:
		return startBroyden(m, sv)
	case *api.ForwardBackward:
		return startForwardBackward(m, sv)
	case *api.PeacemanRachford:
		return startPeacemanRachford(m, sv)
	}
	return nil, fmt.Errorf("%w: method %T is not one of the api's", api.ErrProblem, m)
}

// Solver runs a batch solve in steps, so that a caller can bound the work of
// each call: a WebAssembly host that cancels between chunks, a progress
// display. Solve and SolveBatch run one to the end.
type Solver struct {
	p      BatchProblem
	set    api.Settings
	n, dim int
	it     iterator
	prep   *preparing // the method's preparation, before it has an iterator

	z      []float64 // n×dim: each sample's current iterate
	out    []float64 // n×dim: f at each sample's last evaluated iterate
	minRes []float64 // smallest residual of each sample, for the divergence test
	active []int     // samples still iterating
	zc, fc []float64 // compact work buffers: the active samples' z and f(z)

	samples []api.Sample
	iter    int
	stopErr error // why Step stopped the solve early: ctx's or the Recorder's error
	// budget: a tolerance is negative, so no sample converges and each
	// runs exactly MaxIter iterations (unless it fails).
	budget bool
	// the largest residuals of the current iteration, for the Recorder
	iterRes, iterRel float64
	err              error
}

// NewSolver checks p and s and prepares a solve of n samples.
func NewSolver(p BatchProblem, n int, s api.Settings) (*Solver, error) {
	s = s.WithDefaults()
	switch {
	case p.Dim <= 0:
		return nil, fmt.Errorf("%w: dimension %d (want > 0)", api.ErrProblem, p.Dim)
	case p.F == nil:
		return nil, fmt.Errorf("%w: F is nil", api.ErrProblem)
	case n < 0:
		return nil, fmt.Errorf("%w: batch size %d", api.ErrProblem, n)
	case p.Samples != 0 && n != p.Samples:
		return nil, fmt.Errorf("%w: a solve of %d samples for a problem of %d", api.ErrProblem, n, p.Samples)
	case s.MaxIter < 0:
		return nil, fmt.Errorf("%w: MaxIter %d (want > 0)", api.ErrProblem, s.MaxIter)
	case math.IsNaN(s.AbsTol) || math.IsNaN(s.RelTol):
		return nil, fmt.Errorf("%w: tolerance is NaN", api.ErrProblem)
	case math.IsInf(s.AbsTol, 0) || math.IsInf(s.RelTol, 0):
		// Every residual meets an infinite tolerance: "converged" would
		// mean nothing.
		return nil, fmt.Errorf("%w: tolerance is infinite (absolute %v, relative %v)", api.ErrProblem, s.AbsTol, s.RelTol)
	case s.Init != nil && len(s.Init) != n*p.Dim:
		return nil, fmt.Errorf("%w: initial guess has %d values, want %d (%d samples × dimension %d)", api.ErrProblem, len(s.Init), n*p.Dim, n, p.Dim)
	}
	if n > math.MaxInt/p.Dim/4 {
		return nil, fmt.Errorf("%w: batch of %d samples of dimension %d is too large", api.ErrProblem, n, p.Dim)
	}
	sv := &Solver{
		p: p, set: s, n: n, dim: p.Dim,
		z:       make([]float64, n*p.Dim),
		out:     make([]float64, n*p.Dim),
		minRes:  make([]float64, n),
		active:  make([]int, n),
		zc:      make([]float64, n*p.Dim),
		fc:      make([]float64, n*p.Dim),
		samples: make([]api.Sample, n),
		budget:  s.AbsTol < 0 || s.RelTol < 0,
	}
	if s.Init != nil {
		copy(sv.z, s.Init)
	}
	if !s.NoTrace {
		// Room for the first iterations' residuals, in two slabs, saves
		// every sample a run of small appends.
		tc := min(s.MaxIter, 32)
		abs, rel := make([]float64, 0, n*tc), make([]float64, 0, n*tc)
		for i := range sv.samples {
			sv.samples[i].Trace = abs[i*tc : i*tc : (i+1)*tc]
			sv.samples[i].RelTrace = rel[i*tc : i*tc : (i+1)*tc]
		}
	}
	for i := range sv.active {
		sv.active[i] = i
		sv.minRes[i] = math.Inf(1)
	}
	if p.Constant {
		sv.it = constantIter{}
		return sv, nil
	}
	it, err := start(s.Method, sv)
	if err != nil {
		return nil, err
	}
	if sv.prep == nil {
		sv.it = it
	}
	return sv, nil
}

// preparing is a method's preparation (Splitting.PrepareBounds, ...): its
// stages in order, each giving its Work when the previous one is done, and
// the start of the method's iterations after them.
type preparing struct {
	stages []func() (Work, error)
	work   Work
	start  func() (iterator, error)
}

// prepared returns start's iterator if the stages have no work left to do;
// otherwise the Solver's Steps do it first, and start runs after it.
func (sv *Solver) prepared(stages []func() (Work, error), start func() (iterator, error)) (iterator, error) {
	sv.prep = &preparing{stages: stages, start: start}
	if err := sv.advance(); err != nil {
		return nil, err
	}
	return sv.it, nil
}

// advance moves the preparation on to a stage with work to do, or starts
// the method when none is left.
func (sv *Solver) advance() error {
	p := sv.prep
	for p.work == nil {
		if len(p.stages) == 0 {
			it, err := p.start()
			if err != nil {
				return err
			}
			sv.it, sv.prep = it, nil
			return nil
		}
		w, err := p.stages[0]()
		if err != nil {
			return err
		}
		p.stages, p.work = p.stages[1:], w
	}
	return nil
}

// prepare does one step of the preparation, sized for the active samples.
func (sv *Solver) prepare() error {
	done, err := sv.prep.work(len(sv.active))
	if err != nil {
		return err
	}
	if done {
		sv.prep.work = nil
		return sv.advance()
	}
	return nil
}

// Done reports whether every sample has finished.
func (sv *Solver) Done() bool { return len(sv.active) == 0 }

// Err returns the first sample failure (a *api.SolveError), or nil.
func (sv *Solver) Err() error { return sv.err }

// Step runs at most maxIters iterations, fewer if every sample finishes. It
// returns ctx.Err() if ctx is done before an iteration (the remaining samples
// are then Canceled), and the Recorder's error if it returns one. A sample's
// divergence is not a Step error: see Err.
func (sv *Solver) Step(ctx context.Context, maxIters int) error {
	for k := 0; k < maxIters && len(sv.active) > 0; k++ {
		if err := ctx.Err(); err != nil {
			sv.stopAll(api.Canceled)
			sv.stopErr = err
			return err
		}
		if sv.prep != nil { // a step of the preparation, not an iteration
			if err := sv.prepare(); err != nil {
				sv.stopAll(api.Canceled)
				sv.stopErr = err
				return err
			}
			continue
		}
		sv.iter++
		sv.iterRes, sv.iterRel = 0, 0
		evaluated := len(sv.active)
		sv.it.iterate(sv)
		sv.compact()
		if sv.set.Recorder != nil {
			err := sv.set.Recorder.Record(api.Iterate{Iteration: sv.iter, Active: evaluated, Residual: sv.iterRes, RelResidual: sv.iterRel})
			if err != nil {
				sv.stopAll(api.Canceled)
				sv.stopErr = err
				return err
			}
		}
	}
	return nil
}

// Run steps until every sample has finished and returns the Result, with
// the error that stopped a Step early (now or before) or, failing that, Err.
func (sv *Solver) Run(ctx context.Context) (*api.Result, error) {
	for !sv.Done() {
		if err := sv.Step(ctx, math.MaxInt); err != nil {
			return sv.Result(), err
		}
	}
	if sv.stopErr != nil {
		return sv.Result(), sv.stopErr
	}
	return sv.Result(), sv.Err()
}

// stopAll ends every active sample with status st, its output the map's
// value at its last evaluated iterate (or the iterate, if none was).
func (sv *Solver) stopAll(st api.Status) {
	for _, i := range sv.active {
		sv.samples[i].Status = st
		if sv.samples[i].Iterations == 0 {
			copy(sv.row(sv.out, i), sv.row(sv.z, i))
		}
	}
	sv.active = sv.active[:0]
}

// Result summarises the solve so far. Its Z and slices are the Solver's own.
func (sv *Solver) Result() *api.Result {
	r := &api.Result{Z: sv.out, Samples: sv.samples, Status: api.Converged}
	if sv.n == 0 {
		return r
	}
	for i := range sv.samples {
		s := &sv.samples[i]
		if s.Status.Worse(r.Status) {
			r.Status = s.Status
		}
		r.Iterations = max(r.Iterations, s.Iterations)
		r.FuncEvals += s.FuncEvals
		r.Residual = max(r.Residual, s.Residual)
		r.RelResidual = max(r.RelResidual, s.RelResidual)
	}
	return r
}

// row returns sample i's vector in an n×dim buffer.
func (sv *Solver) row(buf []float64, i int) []float64 {
	return buf[i*sv.dim : (i+1)*sv.dim : (i+1)*sv.dim]
}

// gather copies the active samples' iterates into zc and returns it.
func (sv *Solver) gather() []float64 {
	zc := sv.zc[:len(sv.active)*sv.dim]
	for k, i := range sv.active {
		copy(zc[k*sv.dim:(k+1)*sv.dim], sv.row(sv.z, i))
	}
	return zc
}

// compact drops the samples that finished in this iteration.
func (sv *Solver) compact() {
	a := sv.active[:0]
	for _, i := range sv.active {
		if sv.samples[i].Status == api.Running {
			a = append(a, i)
		}
	}
	sv.active = a
}

// check records sample i's iteration at iterate z with map value fz, and
// reports whether the sample finished (converged, failed or out of
// iterations). fz becomes the sample's output.
func (sv *Solver) check(i int, z, fz []float64) (finished bool) {
	res, fn := residualNorms(z, fz)
	rel := res / math.Max(fn, math.SmallestNonzeroFloat64)
	if fn == 0 && res == 0 {
		rel = 0
	}
	return sv.record(i, fz, res, fn, rel)
}

// record is check with the residual's norms computed.
func (sv *Solver) record(i int, fz []float64, res, fn, rel float64) (finished bool) {
	s := &sv.samples[i]
	s.Iterations++
	s.FuncEvals++
	s.Residual, s.RelResidual = res, rel
	if !sv.set.NoTrace {
		s.Trace = append(s.Trace, res)
		s.RelTrace = append(s.RelTrace, rel)
	}
	sv.iterRes = max(sv.iterRes, res)
	sv.iterRel = max(sv.iterRel, rel)
	copy(sv.row(sv.out, i), fz)

	switch {
	case math.IsNaN(res) || math.IsInf(res, 0) || math.IsInf(fn, 0):
		return sv.fail(i, api.NonFinite, api.ErrNonFinite)
	case !sv.budget && res <= sv.set.AbsTol+sv.set.RelTol*fn:
		s.Status = api.Converged
		return true
	case sv.set.DivergenceRatio > 0 && res > sv.set.DivergenceRatio*sv.minRes[i]:
		return sv.fail(i, api.Diverged, api.ErrDiverged)
	case s.Iterations >= sv.set.MaxIter:
		s.Status = api.IterationLimit
		return true
	}
	sv.minRes[i] = math.Min(sv.minRes[i], res)
	return false
}

func (sv *Solver) fail(i int, st api.Status, err error) bool {
	s := &sv.samples[i]
	s.Status = st
	if sv.err == nil {
		sv.err = &api.SolveError{Sample: i, Iteration: s.Iterations, Residual: s.Residual, Err: err}
	}
	return true
}

// iterateMap is one iteration of a method that only evaluates the map: F on
// every active sample, then update sets the next iterate of each sample that
// has not finished. k is the sample's row in the compact buffers.
func (sv *Solver) iterateMap(update func(k, i int, z, fz, next []float64)) {
	zc := sv.gather()
	fc := sv.fc[:len(zc)]
	sv.p.F(fc, zc, sv.active)
	d := sv.dim
	for k, i := range sv.active {
		z, fz := zc[k*d:(k+1)*d], fc[k*d:(k+1)*d]
		if !sv.check(i, z, fz) {
			update(k, i, z, fz, sv.row(sv.z, i))
		}
	}
}

// constantIter solves a Constant problem: one evaluation of F is the fixed
// point (its residual f(f(z)) − f(z) is exactly zero), unless it is not
// finite.
type constantIter struct{}

func (constantIter) iterate(sv *Solver) {
	zc := sv.gather()
	fc := sv.fc[:len(zc)]
	sv.p.F(fc, zc, sv.active)
	d := sv.dim
	for k, i := range sv.active {
		fz := fc[k*d : (k+1)*d]
		_, fn := residualNorms(fz, fz)
		res := 0.0
		if math.IsNaN(fn) || math.IsInf(fn, 0) {
			res = fn
		}
		sv.record(i, fz, res, fn, 0)
		// At the fixed point, whatever the tolerance or the budget.
		if s := &sv.samples[i]; s.Status == api.Running || s.Status == api.IterationLimit {
			s.Status = api.Converged
		}
	}
}

// residualNorms returns ‖fz − z‖ and ‖fz‖. Sums of squares overflow for
// values above about 1e154, so those are recomputed with scaling: the norms
// are +Inf only if they overflow themselves, and NaN if a value is.
func residualNorms(z, fz []float64) (res, fn float64) {
	var rr, ff float64
	z = z[:len(fz)]
	for j, f := range fz {
		d := f - z[j]
		rr += d * d
		ff += f * f
	}
	if !math.IsInf(rr, 0) && !math.IsInf(ff, 0) {
		return math.Sqrt(rr), math.Sqrt(ff)
	}
	var top float64
	for j, f := range fz {
		top = math.Max(top, math.Max(math.Abs(f), math.Abs(f-z[j])))
	}
	if math.IsInf(top, 0) || math.IsNaN(top) {
		return top, top
	}
	rr, ff = 0, 0
	for j, f := range fz {
		d, g := (f-z[j])/top, f/top
		rr += d * d
		ff += g * g
	}
	return top * math.Sqrt(rr), top * math.Sqrt(ff)
}
