package model

import (
	"context"
	"fmt"
	"sync"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
)

// Model runs a model of any kind: it solves each sample's fixed point with
// the kind's map and reads out the result. It is safe for concurrent use.
type Model struct {
	arch  Architecture
	own   api.Precision // Float32 or Float64
	layer Layer         // in own
	info  api.Info

	mu    sync.Mutex
	other Layer // in the other precision, built when a solve first asks for it
}

// New validates a and prepares it for inference, its matrix products in
// float64. a must not change while the Model is in use.
func New(a Architecture) (*Model, error) { return NewInPrecision(a, api.Float64) }

// NewInPrecision is New with the model's own precision p, api.Float32 or
// api.Float64: what its solves compute in when their Settings name none.
func NewInPrecision(a Architecture, p api.Precision) (*Model, error) {
	if p != api.Float32 && p != api.Float64 {
		return nil, fmt.Errorf("%w: a model's own precision %q (want float32 or float64)", api.ErrProblem, string(p))
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	kind, ok := kindOf(a.Kind())
	if !ok {
		return nil, modelErrorf("kind %q is not registered (this build knows %v)", a.Kind(), Kinds())
	}
	layer, err := a.Build(p)
	if err != nil {
		return nil, err
	}
	m := &Model{arch: a, own: p, layer: layer}
	m.info = api.Info{
		Kind: a.Kind(), Description: a.Describe(), Sizes: a.Sizes(), Params: paramCount(a),
		Defaults: *a.SolverDefaults(), Explicit: kind.Explicit, Precision: p,
	}
	s, err := m.Settings(api.Settings{})
	if err != nil {
		return nil, err
	}
	m.info.Method = s.WithDefaults().Method.String()
	return m, nil
}

// Load decodes a model file (see Decode) and prepares its model, in the
// precision the file stores: api.Float32 if its floating-point tensors are
// all F32, else api.Float64.
func Load(file []byte) (*Model, error) {
	a, p, err := decodeWithPrecision(file)
	if err != nil {
		return nil, err
	}
	return NewInPrecision(a, p)
}

// Precision is the model's own precision, which a solve whose Settings name
// none computes in.
func (m *Model) Precision() api.Precision { return m.own }

// layerIn returns the layer whose matrix products are in p (the model's own
// for api.PrecisionModel), building it on first use.
func (m *Model) layerIn(p api.Precision) (Layer, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if p == api.PrecisionModel || p == m.own {
		return m.layer, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.other == nil {
		l, err := m.arch.Build(p)
		if err != nil {
			return nil, err
		}
		m.other = l
	}
	return m.other, nil
}

// Architecture returns the model's parameters.
func (m *Model) Architecture() Architecture { return m.arch }

// Layer returns the model's prepared maps, in its own precision.
func (m *Model) Layer() Layer { return m.layer }

// Info describes the model.
func (m *Model) Info() api.Info { return m.info }

// Settings returns s completed with the model's own defaults (its file's
// solver, tolerance and iteration limit, then the kind's default solver)
// where s leaves them unset.
func (m *Model) Settings(s api.Settings) (api.Settings, error) {
	def := *m.arch.SolverDefaults()
	switch {
	case s.Method != nil:
	case def.Solver != "":
		meth, err := api.MethodByName(def.Solver)
		if err != nil {
			return s, err
		}
		s.Method = meth
	default:
		s.Method = m.arch.DefaultMethod()
	}
	if s.MaxIter == 0 {
		s.MaxIter = def.MaxIter
	}
	if s.AbsTol == 0 && s.RelTol == 0 && def.Tol > 0 {
		s.RelTol = def.Tol
	}
	return s, nil
}

// Infer runs the model on n = len(x)/In samples, x row-major, solving each
// sample's fixed point with s completed by the model's defaults (see
// Settings). Errors are those of fixedpoint.SolveBatch; the Output holds
// what was computed so far when the solve fails.
//
// A batch is spread over s.Workers goroutines (GOMAXPROCS by default), each
// solving a part of consecutive samples. Every sample is computed as it
// would be alone, so the Output, its statistics and the error are those of
// a one-goroutine solve, bit for bit.
func (m *Model) Infer(ctx context.Context, x []float64, s api.Settings) (*api.Output, error) {
	n, err := m.samples(x)
	if err != nil {
		return nil, err
	}
	parts, err := s.Parts(n)
	if err != nil {
		return nil, err
	}
	if parts == 1 || (s.Init != nil && len(s.Init) != n*m.info.State) {
		return m.inferPart(ctx, x, s) // one part, or a bad Init the solver names
	}
	return api.InferInParts(x, s, m.info.In, m.info.State, parts, func(x []float64, s api.Settings) (*api.Output, error) {
		return m.inferPart(ctx, x, s)
	})
}

// inferPart solves the samples x on the caller's goroutine.
func (m *Model) inferPart(ctx context.Context, x []float64, s api.Settings) (*api.Output, error) {
	sv, err := m.NewSolver(x, s)
	if err != nil {
		return nil, err
	}
	res, err := sv.Run(ctx)
	y, rerr := m.ReadoutIn(res.Z, s.Precision)
	if err == nil {
		err = rerr
	}
	return &api.Output{Y: y, Z: res.Z, Result: res}, err
}

// NewSolver prepares a solve of the samples x (n×In, row-major) that can
// run in bounded steps, with s completed by the model's defaults; Readout
// turns its Result's Z into outputs.
func (m *Model) NewSolver(x []float64, s api.Settings) (*fixedpoint.Solver, error) {
	n, err := m.samples(x)
	if err != nil {
		return nil, err
	}
	s, err = m.Settings(s)
	if err != nil {
		return nil, err
	}
	l, err := m.layerIn(s.Precision)
	if err != nil {
		return nil, err
	}
	return fixedpoint.NewSolver(l.Problem(l.Inject(x, n), n), n, s)
}

// samples returns the number of samples in x.
func (m *Model) samples(x []float64) (int, error) {
	p := m.info.In
	if len(x)%p != 0 {
		return 0, fmt.Errorf("%w: %d input values are not a whole number of samples of %d features", api.ErrProblem, len(x), p)
	}
	return len(x) / p, nil
}

// Problem returns the fixed-point problem of the samples x (row-major, In
// features each), with the kind's Splitting where it has one.
func (m *Model) Problem(x []float64) (fixedpoint.BatchProblem, error) {
	n, err := m.samples(x)
	if err != nil {
		return fixedpoint.BatchProblem{}, err
	}
	return m.layer.Problem(m.layer.Inject(x, n), n), nil
}

// Readout returns the outputs y = h(z) of the states z (n×State,
// row-major), in the model's own precision.
func (m *Model) Readout(z []float64) ([]float64, error) { return m.ReadoutIn(z, api.PrecisionModel) }

// ReadoutIn is Readout in precision p, that of the solve that found z.
func (m *Model) ReadoutIn(z []float64, p api.Precision) ([]float64, error) {
	l, err := m.layerIn(p)
	if err != nil {
		return nil, err
	}
	h, q := m.info.State, m.info.Out
	if len(z)%h != 0 {
		return nil, fmt.Errorf("%w: %d values are not a whole number of states of %d", api.ErrProblem, len(z), h)
	}
	n := len(z) / h
	y := make([]float64, n*q)
	l.Readout(y, z, n)
	return y, nil
}
