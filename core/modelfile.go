package core

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/implicitlab/implicit/core/internal/safetensors"
	"github.com/implicitlab/implicit/internal/atomicfile"
)

// A model file is one safetensors file. Its "__metadata__" (all strings)
// says what it holds:
//
//	implicit.format      "1"
//	implicit.kind        "deq-dense"
//	implicit.activation  "relu" | "tanh" | "identity"
//	implicit.param       "direct" | "monotone"
//	implicit.monotone_m  m, a decimal number (monotone only)
//	implicit.solver      optional default solver (a MethodByName name)
//	implicit.tol         optional default relative tolerance
//	implicit.max_iter    optional default iteration limit
//
// Its tensors are named and shaped as PyTorch's nn.Linear stores them
// (weight is [out, in]): encoder.weight [h, p] (U), encoder.bias [h] (b),
// decoder.weight [q, h] (C), decoder.bias [q] (c), and core.weight [h, h]
// (direct) or core.A and core.B [h, h] (monotone). F32 and F64 tensors are
// read; files are written as F64 unless asked otherwise.
const (
	metaFormat     = "implicit.format"
	metaKind       = "implicit.kind"
	metaActivation = "implicit.activation"
	metaParam      = "implicit.param"
	metaMonotone   = "implicit.monotone_m"
	metaSolver     = "implicit.solver"
	metaTol        = "implicit.tol"
	metaMaxIter    = "implicit.max_iter"

	formatVersion = "1"
	kindDense     = "deq-dense"
)

// DType is the element type of a model file's tensors.
type DType = safetensors.DType

// The element types model files are written in.
const (
	F32 = safetensors.F32
	F64 = safetensors.F64
)

// DecodeDense reads a deq-dense model from the bytes of a model file and
// validates it. Every error wraps ErrModel and names the problem.
func DecodeDense(b []byte) (*Dense, error) {
	f, err := safetensors.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModel, err)
	}
	return denseFromFile(f)
}

// denseFromFile reads the model a decoded model file holds.
func denseFromFile(f *safetensors.File) (*Dense, error) {
	d, err := denseMetadata(f.Metadata)
	if err != nil {
		return nil, err
	}
	tensors := make(map[string]safetensors.Tensor, len(f.Tensors))
	for _, t := range f.Tensors {
		tensors[t.Name] = t
	}
	want := []string{"encoder.weight", "encoder.bias", "decoder.weight", "decoder.bias"}
	if d.Param == Monotone {
		want = append(want, "core.A", "core.B")
	} else {
		want = append(want, "core.weight")
	}
	for _, name := range want {
		if _, ok := tensors[name]; !ok {
			return nil, modelErrorf("tensor %q is missing (a %s %s model has %s)", name, d.Param, kindDense, strings.Join(want, ", "))
		}
	}
	for _, t := range f.Tensors {
		if !slices.Contains(want, t.Name) {
			return nil, modelErrorf("unexpected tensor %q (a %s %s model has %s)", t.Name, d.Param, kindDense, strings.Join(want, ", "))
		}
	}

	enc := tensors["encoder.weight"]
	if len(enc.Shape) != 2 {
		return nil, modelErrorf("tensor \"encoder.weight\" has shape %v, want [h, p]", enc.Shape)
	}
	h := enc.Shape[0]
	dec := tensors["decoder.weight"]
	if len(dec.Shape) != 2 {
		return nil, modelErrorf("tensor \"decoder.weight\" has shape %v, want [q, %d]", dec.Shape, h)
	}
	q := dec.Shape[0]
	shapes := map[string][]int{
		"encoder.bias": {h}, "decoder.weight": {q, h}, "decoder.bias": {q},
		"core.weight": {h, h}, "core.A": {h, h}, "core.B": {h, h},
	}
	for _, name := range want {
		if s, ok := shapes[name]; ok && !slices.Equal(tensors[name].Shape, s) {
			return nil, modelErrorf("tensor %q has shape %v, want %v (h=%d from encoder.weight %v, q=%d from decoder.weight)", name, tensors[name].Shape, s, h, enc.Shape, q)
		}
	}
	matrix := func(name string) Matrix {
		t := tensors[name]
		return Matrix{Rows: t.Shape[0], Cols: t.Shape[1], Data: t.Data}
	}
	d.U, d.Bias = matrix("encoder.weight"), tensors["encoder.bias"].Data
	d.C, d.OutBias = matrix("decoder.weight"), tensors["decoder.bias"].Data
	if d.Param == Monotone {
		d.A, d.B = matrix("core.A"), matrix("core.B")
	} else {
		d.W = matrix("core.weight")
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// denseMetadata reads the model's kind, activation, parametrisation and
// solver defaults from the file's metadata.
func denseMetadata(meta map[string]string) (*Dense, error) {
	if meta == nil || meta[metaFormat] == "" {
		return nil, modelErrorf("metadata %q is missing: not an implicit model file (see the README for the format)", metaFormat)
	}
	if v := meta[metaFormat]; v != formatVersion {
		return nil, modelErrorf("metadata %s=%q: this build reads format %s", metaFormat, v, formatVersion)
	}
	if v := meta[metaKind]; v != kindDense {
		return nil, modelErrorf("metadata %s=%q (want %q)", metaKind, v, kindDense)
	}
	for k := range meta {
		if strings.HasPrefix(k, "implicit.") && !slices.Contains([]string{metaFormat, metaKind, metaActivation, metaParam, metaMonotone, metaSolver, metaTol, metaMaxIter}, k) {
			return nil, modelErrorf("unknown metadata key %q", k)
		}
	}
	d := &Dense{Activation: Activation(meta[metaActivation]), Param: Parametrization(meta[metaParam])}
	switch d.Activation {
	case ReLU, Tanh, Identity:
	default:
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
	if v, ok := meta[metaSolver]; ok {
		if _, err := MethodByName(v); err != nil {
			return nil, modelErrorf("metadata %s=%q is not a solver (want picard, anderson, broyden, forward-backward or peaceman-rachford)", metaSolver, v)
		}
		d.Defaults.Solver = v
	}
	if v, ok := meta[metaTol]; ok {
		tol, err := strconv.ParseFloat(v, 64)
		if err != nil || !(tol > 0) || math.IsInf(tol, 0) {
			return nil, modelErrorf("metadata %s=%q (want a number > 0)", metaTol, v)
		}
		d.Defaults.Tol = tol
	}
	if v, ok := meta[metaMaxIter]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, modelErrorf("metadata %s=%q (want a whole number > 0)", metaMaxIter, v)
		}
		d.Defaults.MaxIter = n
	}
	return d, nil
}

// ReadDenseFile reads and validates a deq-dense model file.
func ReadDenseFile(path string) (*Dense, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d, err := DecodeDense(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Encode returns the model as the bytes of a model file with tensors of the
// given type. It validates the model first.
func (d *Dense) Encode(dtype DType) ([]byte, error) {
	f, err := d.file()
	if err != nil {
		return nil, err
	}
	b, err := safetensors.Encode(f, dtype)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModel, err)
	}
	return b, nil
}

// file returns the model's metadata and tensors, validated, as a model
// file holds them. The tensors share d's memory.
func (d *Dense) file() (*safetensors.File, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	meta := map[string]string{
		metaFormat:     formatVersion,
		metaKind:       kindDense,
		metaActivation: string(d.Activation),
		metaParam:      string(d.Param),
	}
	if d.Param == Monotone {
		meta[metaMonotone] = strconv.FormatFloat(d.Monotone, 'g', -1, 64)
	}
	if d.Defaults.Solver != "" {
		meta[metaSolver] = d.Defaults.Solver
	}
	if d.Defaults.Tol != 0 {
		meta[metaTol] = strconv.FormatFloat(d.Defaults.Tol, 'g', -1, 64)
	}
	if d.Defaults.MaxIter != 0 {
		meta[metaMaxIter] = strconv.Itoa(d.Defaults.MaxIter)
	}
	matrix := func(name string, m Matrix) safetensors.Tensor {
		return safetensors.Tensor{Name: name, Shape: []int{m.Rows, m.Cols}, Data: m.Data}
	}
	vector := func(name string, v []float64) safetensors.Tensor {
		return safetensors.Tensor{Name: name, Shape: []int{len(v)}, Data: v}
	}
	tensors := []safetensors.Tensor{
		matrix("encoder.weight", d.U), vector("encoder.bias", d.Bias),
		matrix("decoder.weight", d.C), vector("decoder.bias", d.OutBias),
	}
	if d.Param == Monotone {
		tensors = append(tensors, matrix("core.A", d.A), matrix("core.B", d.B))
	} else {
		tensors = append(tensors, matrix("core.weight", d.W))
	}
	return &safetensors.File{Metadata: meta, Tensors: tensors}, nil
}

// WriteFile saves the model as a model file with F64 tensors. The write is
// atomic: a reader sees the old file or the new one, never a mix, and a
// failed write leaves the old file as it was.
func (d *Dense) WriteFile(path string) error {
	b, err := d.Encode(F64)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o644)
}
