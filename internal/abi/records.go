package abi

import (
	"fmt"
	"math"
	"slices"

	"github.com/implicitlab/implicit/api"
)

// MethodDefault is the method of a Settings record that names none (the
// model's default); the others are numbered by their place in the method
// table, api.Methods, from 1.
const MethodDefault = 0

// methodID returns the Settings record's number for m, and whether m is a
// method of the table.
func methodID(m api.Method) (int, bool) {
	for k, info := range api.Methods() {
		if m.String() == info.Name {
			return k + 1, true
		}
	}
	return 0, false
}

// SettingsSize is the size of a Settings record:
//
//	 0 method            i64  MethodDefault, or 1 + the method's place in api.Methods
//	 8 max_iter          i64  api.Settings.MaxIter
//	16 abs_tol           f64
//	24 rel_tol           f64
//	32 divergence_ratio  f64
//	40 memory            i64  Anderson.Memory, Broyden.Memory
//	48 damping           f64  Picard.Damping
//	56 reg               f64  Anderson.Reg
//	64 mixing            f64  Anderson.Mixing
//	72 alpha             f64  ForwardBackward.Alpha, PeacemanRachford.Alpha
//	80 flags             i64  bit 0: NoTrace; bit 1: Precision float32, bit 2: float64 (neither: the model's own); the other bits must be zero
//
// A method's parameter fields that the method does not have must be zero.
// Init travels as its own buffer (ExportStart); a Recorder stays with the
// host, which sees every iteration through ExportProgress.
const SettingsSize = 88

// The flags of a Settings record: api.Settings.NoTrace, and
// api.Settings.Precision (at most one of the two; neither is the model's
// own).
const (
	FlagNoTrace = 1 << iota
	FlagFloat32
	FlagFloat64
)

// PutSettings writes s to b (SettingsSize bytes). Init and Recorder are not
// part of the record.
func PutSettings(b []byte, s api.Settings) error {
	b = b[:SettingsSize]
	clear(b)
	id := MethodDefault
	if s.Method != nil {
		var ok bool
		if id, ok = methodID(s.Method); !ok {
			return fmt.Errorf("%w: method %T(%v) cannot cross the WebAssembly boundary", api.ErrProblem, s.Method, s.Method)
		}
	}
	switch m := s.Method.(type) {
	case *api.Picard:
		if m == nil {
			return fmt.Errorf("%w: a nil *api.Picard", api.ErrProblem)
		}
		putFloat(b, 48, m.Damping)
	case *api.Anderson:
		if m == nil {
			return fmt.Errorf("%w: a nil *api.Anderson", api.ErrProblem)
		}
		putInt(b, 40, m.Memory)
		putFloat(b, 56, m.Reg)
		putFloat(b, 64, m.Mixing)
	case *api.Broyden:
		if m == nil {
			return fmt.Errorf("%w: a nil *api.Broyden", api.ErrProblem)
		}
		putInt(b, 40, m.Memory)
	case *api.ForwardBackward:
		if m == nil {
			return fmt.Errorf("%w: a nil *api.ForwardBackward", api.ErrProblem)
		}
		putFloat(b, 72, m.Alpha)
	case *api.PeacemanRachford:
		if m == nil {
			return fmt.Errorf("%w: a nil *api.PeacemanRachford", api.ErrProblem)
		}
		putFloat(b, 72, m.Alpha)
	}
	putInt(b, 0, id)
	putInt(b, 8, s.MaxIter)
	putFloat(b, 16, s.AbsTol)
	putFloat(b, 24, s.RelTol)
	putFloat(b, 32, s.DivergenceRatio)
	flags := 0
	if s.NoTrace {
		flags |= FlagNoTrace
	}
	switch s.Precision {
	case api.Float32:
		flags |= FlagFloat32
	case api.Float64:
		flags |= FlagFloat64
	case api.PrecisionModel:
	default:
		return s.Precision.Check()
	}
	putInt(b, 80, flags)
	return nil
}

// DecodeSettings reads a Settings record.
func DecodeSettings(b []byte) (api.Settings, error) {
	var s api.Settings
	if len(b) < SettingsSize {
		return s, fmt.Errorf("%w: settings record of %d bytes, want %d", ErrArgument, len(b), SettingsSize)
	}
	id := getInt(b, 0)
	s.MaxIter = getInt(b, 8)
	s.AbsTol, s.RelTol, s.DivergenceRatio = getFloat(b, 16), getFloat(b, 24), getFloat(b, 32)
	mem := getInt(b, 40)
	damping, reg, mixing, alpha := getFloat(b, 48), getFloat(b, 56), getFloat(b, 64), getFloat(b, 72)
	flags := getInt(b, 80)
	if flags&^(FlagNoTrace|FlagFloat32|FlagFloat64) != 0 {
		return s, fmt.Errorf("%w: settings record has unknown flags %#x", api.ErrProblem, flags)
	}
	s.NoTrace = flags&FlagNoTrace != 0
	switch flags & (FlagFloat32 | FlagFloat64) {
	case FlagFloat32:
		s.Precision = api.Float32
	case FlagFloat64:
		s.Precision = api.Float64
	case FlagFloat32 | FlagFloat64:
		return s, fmt.Errorf("%w: settings record asks for float32 and float64 at once", api.ErrProblem)
	}
	var used []string // the parameter fields this method has
	if id != MethodDefault {
		methods := api.Methods()
		if id < 1 || id > len(methods) {
			return s, fmt.Errorf("%w: settings record names method %d (want 0 to %d)", api.ErrProblem, id, len(methods))
		}
		s.Method = methods[id-1].New()
	}
	switch m := s.Method.(type) {
	case *api.Picard:
		m.Damping, used = damping, []string{"damping"}
	case *api.Anderson:
		m.Memory, m.Reg, m.Mixing, used = mem, reg, mixing, []string{"memory", "reg", "mixing"}
	case *api.Broyden:
		m.Memory, used = mem, []string{"memory"}
	case *api.ForwardBackward:
		m.Alpha, used = alpha, []string{"alpha"}
	case *api.PeacemanRachford:
		m.Alpha, used = alpha, []string{"alpha"}
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"memory", mem != 0}, {"damping", damping != 0}, {"reg", reg != 0}, {"mixing", mixing != 0}, {"alpha", alpha != 0}} {
		if f.set && !slices.Contains(used, f.name) {
			return s, fmt.Errorf("%w: settings record sets %s, which method %d does not have", api.ErrProblem, f.name, id)
		}
	}
	return s, nil
}

// A Result record holds a run's outcome (api.Output and the run's
// *api.SolveError, if any). It starts with a header,
//
//	 0 n              i64  samples
//	 8 state          i64  the state's dimension (h for deq-dense)
//	16 q              i64  outputs
//	24 status         i64  api.Status of the batch
//	32 iterations     i64  api.Stats of the batch
//	40 func_evals     i64
//	48 residual       f64
//	56 rel_residual   f64
//	64 err_code       i64  0, CodeDiverged or CodeNonFinite: the run's SolveError
//	72 err_sample     i64
//	80 err_iteration  i64
//	88 err_residual   f64
//	96 trace_total    i64  the sum of the samples' trace lengths
//
// then n sample records of SampleSize bytes (status, iterations, func_evals
// as i64, residual, rel_residual as f64, trace_len as i64), then Z (n×state
// f64), Y (n×q f64), and each sample's Trace followed by its RelTrace
// (trace_len f64 each).
const (
	ResultHeaderSize = 104
	SampleSize       = 48
)

// EncodeResult returns the Result record of an output; serr is the run's
// solve error (nil, or a *api.SolveError).
func EncodeResult(out *api.Output, n, h, q int, serr error) []byte {
	r := out.Result
	total := 0
	for _, s := range r.Samples {
		total += len(s.Trace)
	}
	b := make([]byte, ResultHeaderSize+n*SampleSize+8*(n*h+n*q)+16*total)
	putInt(b, 0, n)
	putInt(b, 8, h)
	putInt(b, 16, q)
	putInt(b, 24, int(r.Status))
	putInt(b, 32, r.Iterations)
	putInt(b, 40, r.FuncEvals)
	putFloat(b, 48, r.Residual)
	putFloat(b, 56, r.RelResidual)
	if se, ok := serr.(*api.SolveError); ok {
		putInt(b, 64, int(CodeOf(se.Err)))
		putInt(b, 72, se.Sample)
		putInt(b, 80, se.Iteration)
		putFloat(b, 88, se.Residual)
	}
	putInt(b, 96, total)
	off := ResultHeaderSize
	for _, s := range r.Samples {
		putInt(b, off, int(s.Status))
		putInt(b, off+8, s.Iterations)
		putInt(b, off+16, s.FuncEvals)
		putFloat(b, off+24, s.Residual)
		putFloat(b, off+32, s.RelResidual)
		putInt(b, off+40, len(s.Trace))
		off += SampleSize
	}
	for _, v := range [][]float64{out.Z[:n*h], out.Y[:n*q]} {
		PutFloats(b[off:], v)
		off += 8 * len(v)
	}
	for _, s := range r.Samples {
		PutFloats(b[off:], s.Trace)
		off += 8 * len(s.Trace)
		PutFloats(b[off:], s.RelTrace[:len(s.Trace)])
		off += 8 * len(s.Trace)
	}
	return b
}

// DecodeResult reads a Result record. It returns the output with the run's
// solve error (a *api.SolveError wrapping api.ErrDiverged or
// api.ErrNonFinite) or nil, as model.Model.Infer does; for a malformed
// record, nil and an error wrapping ErrArgument.
func DecodeResult(b []byte) (*api.Output, error) {
	bad := func(format string, args ...any) (*api.Output, error) {
		return nil, fmt.Errorf("%w: result record: %s", ErrArgument, fmt.Sprintf(format, args...))
	}
	if len(b) < ResultHeaderSize {
		return bad("%d bytes, shorter than its header", len(b))
	}
	n, h, q, total := getInt(b, 0), getInt(b, 8), getInt(b, 16), getInt(b, 96)
	const lim = math.MaxInt32
	if n < 0 || h <= 0 || q <= 0 || total < 0 || n > lim || h > lim || q > lim || total > lim {
		return bad("sizes n=%d h=%d q=%d traces=%d", n, h, q, total)
	}
	if want := uint64(ResultHeaderSize) + uint64(n)*SampleSize + 8*(uint64(n)*uint64(h)+uint64(n)*uint64(q)) + 16*uint64(total); uint64(len(b)) != want {
		return bad("%d bytes, want %d for n=%d h=%d q=%d traces=%d", len(b), want, n, h, q, total)
	}
	r := &api.Result{
		Status: api.Status(getInt(b, 24)),
		Stats: api.Stats{
			Iterations: getInt(b, 32), FuncEvals: getInt(b, 40),
			Residual: getFloat(b, 48), RelResidual: getFloat(b, 56),
		},
		Samples: make([]api.Sample, n),
	}
	var serr error
	if c := Code(getInt(b, 64)); c != OK {
		if c != CodeDiverged && c != CodeNonFinite {
			return bad("solve error code %d", c)
		}
		serr = &api.SolveError{Sample: getInt(b, 72), Iteration: getInt(b, 80), Residual: getFloat(b, 88), Err: Sentinel(c)}
	}
	off, sum := ResultHeaderSize, 0
	lens := make([]int, n)
	for i := range r.Samples {
		s := &r.Samples[i]
		s.Status = api.Status(getInt(b, off))
		s.Iterations, s.FuncEvals = getInt(b, off+8), getInt(b, off+16)
		s.Residual, s.RelResidual = getFloat(b, off+24), getFloat(b, off+32)
		lens[i] = getInt(b, off+40)
		if lens[i] < 0 || lens[i] > total-sum {
			return bad("sample %d has a trace of %d, more than the %d left", i, lens[i], total-sum)
		}
		sum += lens[i]
		off += SampleSize
	}
	if sum != total {
		return bad("traces add up to %d, header says %d", sum, total)
	}
	floats := func(k int) []float64 {
		v := Floats(b[off : off+8*k])
		off += 8 * k
		return v
	}
	r.Z = floats(n * h)
	y := floats(n * q)
	for i := range r.Samples {
		if lens[i] > 0 {
			r.Samples[i].Trace = floats(lens[i])
			r.Samples[i].RelTrace = floats(lens[i])
		}
	}
	return &api.Output{Y: y, Z: r.Z, Result: r}, serr
}
