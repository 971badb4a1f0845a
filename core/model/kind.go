package model

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
	"github.com/implicitlab/implicit/core/internal/safetensors"
)

// Architecture is the parameters of one kind of model: what a model file
// holds and what training changes. *Dense and *MLP are architectures; each
// kind lives in a file of its own and is listed once, in kinds.
type Architecture interface {
	// Kind is the name a file gives in implicit.kind.
	Kind() string
	// Sizes are the model's dimensions per sample.
	Sizes() api.Sizes
	// Describe names the model briefly, e.g. "monotone (m=0.5) relu, h=64".
	Describe() string
	// Validate checks every shape and value, with an error wrapping
	// api.ErrModel that names the tensor or key at fault.
	Validate() error
	// Tensors lists the parameters, named and shaped as the file (and the
	// PyTorch module's state_dict) holds them, in a fixed order. Their Data
	// is the architecture's own memory: an optimiser that changes it
	// changes the model.
	Tensors() []Tensor
	// Metadata returns the kind's own implicit.* keys and values (not the
	// format, kind or solver keys, which every file has).
	Metadata() map[string]string
	// SolverDefaults points at the file's own solver settings.
	SolverDefaults() *api.Defaults
	// DefaultMethod is the solver used when neither the settings nor the
	// file name one; nil means Anderson.
	DefaultMethod() api.Method
	// Zero returns an architecture of the same kind and shapes with every
	// tensor zero: the layout of a gradient.
	Zero() Architecture
	// Build prepares the architecture's maps, which must not change while
	// the Layer is in use, for matrix products in precision p (api.Float32
	// or api.Float64).
	Build(p api.Precision) (Layer, error)
}

// Tensor is one named parameter tensor of an architecture.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float64
	// Fixed: training leaves it as it is (a normalisation's running
	// statistics), and it does not count as a parameter.
	Fixed bool
	// Int: the file stores it as I64, a count (a BatchNorm's
	// num_batches_tracked); it is Fixed too.
	Int bool
}

// Layer is an architecture prepared to compute: the maps a solve, the
// readout and implicit differentiation need, batched over samples. It is
// safe for concurrent use.
type Layer interface {
	// Inject returns the input injection of the n samples x (n×In): what
	// the map reads of x, computed once a solve (U x + b for deq-dense).
	Inject(x []float64, n int) []float64
	// Problem returns the fixed-point problem z = f(z, x) of the n samples
	// whose injection is inj, with its Splitting where the kind has one.
	Problem(inj []float64, n int) fixedpoint.BatchProblem
	// Readout sets y (n×Out) to h(z) for the n states z (n×State).
	Readout(y, z []float64, n int)
	// Backward returns the vector-Jacobian products at the fixed points z
	// of the n samples x, whose injection is inj.
	Backward(x, inj, z []float64, n int) Backward
}

// Backward is a layer's vector-Jacobian products at a batch's fixed points
// z*: what the implicit gradient of a loss L needs. The gradient is carried
// through the fixed point by an adjoint variable w whose form the kind
// chooses (deq-dense solves for v = σ' ⊙ u, which keeps the adjoint of a
// monotone layer monotone).
type Backward interface {
	// Readout adds the readout's parameter gradient for ∂L/∂y = gy (n×Out)
	// to grad (an architecture from Zero) and returns ∂L/∂z* (n×State).
	Readout(grad Architecture, gy []float64) []float64
	// Adjoint returns the fixed-point problem whose solution is w for
	// ∂L/∂z* = gz: u = J_f(z*)ᵀ u + gz, in the kind's variable.
	Adjoint(gz []float64) fixedpoint.BatchProblem
	// JacobianFree returns w for u = gz, one backward step through f
	// (Fung et al. 2022): the Jacobian-free gradient, and the exact one of
	// a map that does not depend on z.
	JacobianFree(gz []float64) []float64
	// Params adds to grad the gradient of the map's and the injection's
	// parameters for the adjoint variable w.
	Params(grad Architecture, w []float64)
	// StateVJP sets dst to J_f(z)ᵀ u for the batch, u and dst n×State: the
	// product that back-propagates through one step of the map, for
	// gradients through unrolled iterations.
	StateVJP(dst, u []float64)
}

// Kind is one entry of the registry: a kind's name and how to read its
// files.
type Kind struct {
	Name string
	// Keys are the kind's own implicit.* metadata keys.
	Keys []string
	// Explicit: the kind evaluates its map once, with no fixed point.
	Explicit bool
	// Decode reads an architecture from a file's tensors (by name) and
	// metadata; Decode's caller has checked the format and the common keys
	// and validates the result.
	Decode func(t tensors, meta map[string]string) (Architecture, error)
}

// kinds is the registry: adding a kind is a file of its own and a line here.
var kinds = []Kind{
	denseKind,
	mlpKind,
	convKind,
	cnnKind,
	gnnKind, gnnExplicitKind,
	pnpKind, pnpExplicitKind,
	fnoKind, fnoExplicitKind,
}

// Kinds returns the names of the kinds this build reads.
func Kinds() []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.Name
	}
	return names
}

func kindOf(name string) (*Kind, bool) {
	for i := range kinds {
		if kinds[i].Name == name {
			return &kinds[i], true
		}
	}
	return nil, false
}

// A model file is one safetensors file. Its "__metadata__" (all strings)
// says what it holds; every kind has
//
//	implicit.format      "1"
//	implicit.kind        the kind: "deq-dense", "mlp", ...
//	implicit.solver      optional default solver (an api.MethodByName name)
//	implicit.tol         optional default relative tolerance
//	implicit.max_iter    optional default iteration limit
//
// and keys of its own; its tensors are named as the kind's PyTorch module
// names them. F32 and F64 tensors are read; files are written as F64 unless
// asked otherwise. Unknown implicit.* keys are errors; other keys are left
// to other tools.
const (
	metaFormat  = "implicit.format"
	metaKind    = "implicit.kind"
	metaSolver  = "implicit.solver"
	metaTol     = "implicit.tol"
	metaMaxIter = "implicit.max_iter"

	formatVersion = "1"
)

var commonKeys = []string{metaFormat, metaKind, metaSolver, metaTol, metaMaxIter}

// DType is the element type of a model file's tensors.
type DType = safetensors.DType

// The element types model files are written in.
const (
	F32 = safetensors.F32
	F64 = safetensors.F64
)

func modelErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", api.ErrModel, fmt.Sprintf(format, args...))
}

// Decode reads a model of any registered kind from the bytes of a model
// file and validates it. Every error wraps api.ErrModel and names the
// problem.
func Decode(b []byte) (Architecture, error) {
	a, _, _, _, err := decodeFile(b, "")
	return a, err
}

// decodeWithPrecision is Decode, with the precision the file stores
// (Load's default).
func decodeWithPrecision(b []byte) (Architecture, api.Precision, error) {
	a, _, _, p, err := decodeFile(b, "")
	return a, p, err
}

// DecodeExtra is Decode for a file that holds more than a model: it returns
// the metadata keys outside implicit.* and, when prefix is not empty, the
// tensors whose names start with it, which the model does not read. A
// training state is such a file.
func DecodeExtra(b []byte, prefix string) (Architecture, map[string]string, []Tensor, error) {
	a, meta, extra, _, err := decodeFile(b, prefix)
	return a, meta, extra, err
}

// decodeFile is DecodeExtra, with the precision of the model's tensors:
// api.Float32 if every floating-point one is F32, else api.Float64.
func decodeFile(b []byte, prefix string) (Architecture, map[string]string, []Tensor, api.Precision, error) {
	f, err := safetensors.Decode(b)
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("%w: %w", api.ErrModel, err)
	}
	var extra []Tensor
	if prefix != "" {
		own := f.Tensors[:0:0]
		for _, t := range f.Tensors {
			if strings.HasPrefix(t.Name, prefix) {
				extra = append(extra, Tensor{Name: t.Name, Shape: t.Shape, Data: t.Data})
			} else {
				own = append(own, t)
			}
		}
		f.Tensors = own
	}
	a, err := fromFile(f)
	if err != nil {
		return nil, nil, nil, "", err
	}
	meta := map[string]string{}
	for k, v := range f.Metadata {
		if !strings.HasPrefix(k, "implicit.") {
			meta[k] = v
		}
	}
	return a, meta, extra, filePrecision(f.Tensors), nil
}

// filePrecision is api.Float32 if the tensors hold floats and all of them
// are F32, else api.Float64.
func filePrecision(ts []safetensors.Tensor) api.Precision {
	f32 := false
	for _, t := range ts {
		switch t.DType {
		case safetensors.F64:
			return api.Float64
		case safetensors.F32:
			f32 = true
		}
	}
	if f32 {
		return api.Float32
	}
	return api.Float64
}

// fromFile reads the model a decoded model file holds.
func fromFile(f *safetensors.File) (Architecture, error) {
	meta := f.Metadata
	if meta == nil || meta[metaFormat] == "" {
		return nil, modelErrorf("metadata %q is missing: not an implicit model file (see the README for the format)", metaFormat)
	}
	if v := meta[metaFormat]; v != formatVersion {
		return nil, modelErrorf("metadata %s=%q: this build reads format %s", metaFormat, v, formatVersion)
	}
	kind, ok := kindOf(meta[metaKind])
	if !ok {
		return nil, modelErrorf("metadata %s=%q: this build knows the kinds %s", metaKind, meta[metaKind], strings.Join(Kinds(), ", "))
	}
	for k := range meta {
		if strings.HasPrefix(k, "implicit.") && !slices.Contains(commonKeys, k) && !slices.Contains(kind.Keys, k) {
			return nil, modelErrorf("unknown metadata key %q (a %s file has %s)", k, kind.Name, strings.Join(append(slices.Clone(commonKeys), kind.Keys...), ", "))
		}
	}
	defaults, err := decodeDefaults(meta)
	if err != nil {
		return nil, err
	}
	ts := make(tensors, len(f.Tensors))
	for _, t := range f.Tensors {
		ts[t.Name] = t
	}
	a, err := kind.Decode(ts, meta)
	if err != nil {
		return nil, err
	}
	*a.SolverDefaults() = defaults
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}

// decodeDefaults reads the solver keys every kind has.
func decodeDefaults(meta map[string]string) (api.Defaults, error) {
	var d api.Defaults
	if v, ok := meta[metaSolver]; ok {
		if _, err := api.MethodByName(v); err != nil {
			return d, modelErrorf("metadata %s=%q is not a solver (want %s)", metaSolver, v, api.MethodList())
		}
		d.Solver = v
	}
	if v, ok := meta[metaTol]; ok {
		tol, err := strconv.ParseFloat(v, 64)
		if err != nil || !(tol > 0) || math.IsInf(tol, 0) {
			return d, modelErrorf("metadata %s=%q (want a number > 0)", metaTol, v)
		}
		d.Tol = tol
	}
	if v, ok := meta[metaMaxIter]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return d, modelErrorf("metadata %s=%q (want a whole number > 0)", metaMaxIter, v)
		}
		d.MaxIter = n
	}
	return d, nil
}

// validateDefaults checks solver defaults set in code rather than read.
func validateDefaults(d api.Defaults) error {
	if d.Solver != "" {
		if _, err := api.MethodByName(d.Solver); err != nil {
			return modelErrorf("default solver %q is unknown (want %s)", d.Solver, api.MethodList())
		}
	}
	if !(d.Tol >= 0) || math.IsInf(d.Tol, 0) {
		return modelErrorf("default tolerance %v (want a finite value ≥ 0)", d.Tol)
	}
	if d.MaxIter < 0 {
		return modelErrorf("default max iterations %d (want ≥ 0)", d.MaxIter)
	}
	return nil
}

// Encode returns the architecture as the bytes of a model file with tensors
// of the given type. It validates the architecture first.
func Encode(a Architecture, dtype DType) ([]byte, error) {
	return EncodeExtra(a, dtype, nil, nil)
}

// EncodeExtra is Encode with metadata keys outside implicit.* and tensors
// the model does not read, which DecodeExtra gives back.
func EncodeExtra(a Architecture, dtype DType, meta map[string]string, extra []Tensor) ([]byte, error) {
	f, err := toFile(a)
	if err != nil {
		return nil, err
	}
	for k, v := range meta {
		if strings.HasPrefix(k, "implicit.") {
			return nil, fmt.Errorf("%w: extra metadata key %q is in the model's namespace", api.ErrProblem, k)
		}
		f.Metadata[k] = v
	}
	for _, t := range extra {
		f.Tensors = append(f.Tensors, safetensors.Tensor{Name: t.Name, Shape: t.Shape, Data: t.Data})
	}
	b, err := safetensors.Encode(f, dtype)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", api.ErrModel, err)
	}
	return b, nil
}

// toFile returns the model's metadata and tensors, validated, as a model
// file holds them. The tensors share a's memory.
func toFile(a Architecture) (*safetensors.File, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	meta := map[string]string{metaFormat: formatVersion, metaKind: a.Kind()}
	for k, v := range a.Metadata() {
		meta[k] = v
	}
	d := a.SolverDefaults()
	if d.Solver != "" {
		meta[metaSolver] = d.Solver
	}
	if d.Tol != 0 {
		meta[metaTol] = strconv.FormatFloat(d.Tol, 'g', -1, 64)
	}
	if d.MaxIter != 0 {
		meta[metaMaxIter] = strconv.Itoa(d.MaxIter)
	}
	var ts []safetensors.Tensor
	for _, t := range a.Tensors() {
		st := safetensors.Tensor{Name: t.Name, Shape: t.Shape, Data: t.Data}
		if t.Int {
			st.DType = safetensors.I64
		}
		ts = append(ts, st)
	}
	return &safetensors.File{Metadata: meta, Tensors: ts}, nil
}

// tensors are a file's tensors by name, for a kind's Decode.
type tensors map[string]safetensors.Tensor

// expect checks that the file holds exactly the tensors want, for a model
// described as what ("a monotone deq-dense model"): the counts ints as I64,
// the others as floats.
func (ts tensors) expect(what string, want []string, ints ...string) error {
	want = append(slices.Clone(want), ints...)
	for _, name := range want {
		t, ok := ts[name]
		if !ok {
			return modelErrorf("tensor %q is missing (%s has %s)", name, what, strings.Join(want, ", "))
		}
		if isInt := slices.Contains(ints, name); isInt != (t.DType == safetensors.I64) {
			if isInt {
				return modelErrorf("tensor %q is %s, want I64 (a count)", name, t.DType)
			}
			return modelErrorf("tensor %q is I64, want F32 or F64", name)
		}
	}
	names := make([]string, 0, len(ts))
	for name := range ts {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !slices.Contains(want, name) {
			return modelErrorf("unexpected tensor %q (%s has %s)", name, what, strings.Join(want, ", "))
		}
	}
	return nil
}

// matrix returns a 2-D tensor as a Matrix; the shape must have been checked.
func (ts tensors) matrix(name string) Matrix {
	t := ts[name]
	return Matrix{Rows: t.Shape[0], Cols: t.Shape[1], Data: t.Data}
}

// shape checks that tensor name has the shape want; why says where want
// comes from.
func (ts tensors) shape(name string, want []int, why string) error {
	if got := ts[name].Shape; !slices.Equal(got, want) {
		return modelErrorf("tensor %q has shape %v, want %v (%s)", name, got, want, why)
	}
	return nil
}

// Matrix is a dense row-major matrix.
type Matrix struct {
	Rows, Cols int
	Data       []float64 // Rows×Cols values, row by row
}

// NewMatrix returns a zero rows×cols matrix.
func NewMatrix(rows, cols int) Matrix {
	return Matrix{Rows: rows, Cols: cols, Data: make([]float64, rows*cols)}
}

// checkMatrix checks a matrix's shape and values; name says which tensor
// it is.
func checkMatrix(name string, m Matrix, rows, cols int) error {
	if m.Rows != rows || m.Cols != cols {
		return modelErrorf("%s is %d×%d, want %d×%d", name, m.Rows, m.Cols, rows, cols)
	}
	return checkValues(name, m.Data, rows*cols)
}

// checkValues checks that v has n finite values.
func checkValues(name string, v []float64, n int) error {
	if len(v) != n {
		return modelErrorf("%s has %d values, want %d", name, len(v), n)
	}
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return modelErrorf("%s holds %v at index %d", name, x, i)
		}
	}
	return nil
}

// firstError returns the first non-nil error: one clear complaint reads
// better than a list that repeats the ErrModel prefix.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// paramCount counts an architecture's trained parameters.
func paramCount(a Architecture) int {
	n := 0
	for _, t := range a.Tensors() {
		if !t.Fixed {
			n += len(t.Data)
		}
	}
	return n
}
