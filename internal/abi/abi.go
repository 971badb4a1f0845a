// Package abi is the binary interface of the implicit WebAssembly module
// (wasm/implicit.wasm), version 3: the names of its exports and imports, its error codes
// and the layouts of the records that cross the boundary, with their Go
// encoders and decoders. The guest (wasm/internal/guest) and the Go host
// (host) both use it; wasm/README.md describes the same interface for other
// hosts. It speaks api's types only, so that the host links no engine.
//
// Every value in guest memory is little-endian. Integers in records are 64
// bits wide and floats are IEEE 754 binary64, each at an offset that is a
// multiple of 8. The Put functions write into a buffer the caller sized (a
// record's Size constant, 8 bytes a float) and panic, like a slice
// expression, if it is shorter; the Decode functions return an error.
package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/implicitlab/implicit/api"
)

// Version is the ABI version the module reports from ExportVersion. A host
// must refuse a module whose version it does not know. Version 3 added the
// imports implicit_kernels.available and f64_muladd (ImportKernels);
// version 4 the precision flags of the Settings and Info records
// (FlagFloat32, FlagFloat64, FlagInfoFloat32) and the import f32_muladd.
const Version = 4

// ImportKernels is the module the guest imports its SIMD kernels from,
// besides WASI: available() i32, which a host answers 1 when it forwards
// f64_muladd(c, a, b, m, k, np, ldc) and f32_muladd (the same, on float32
// panels and rows of A) to the kernels' module (wasm/kernels) instantiated
// against the guest's memory, else 0 (the guest then runs its own Go
// kernels, with the same results). Version 4 added f32_muladd.
const ImportKernels = "implicit_kernels"

// The exports of the module, besides the memory ("memory") and the WASI
// reactor's "_initialize", which a host calls once before anything else.
// Each takes and returns i32 values; pointers are offsets into the memory.
// A negative result is an error code (see Code); ExportError then gives the
// message.
const (
	ExportVersion   = "implicit_abi_version"    // () → Version
	ExportAlloc     = "implicit_alloc"          // (size) → ptr, 0 if size is not in 1..MaxAlloc
	ExportFree      = "implicit_free"           // (ptr) → code
	ExportError     = "implicit_error"          // (out) → code; out ← Region of the last error message
	ExportLoad      = "implicit_model_load"     // (ptr, len) → model handle ≥ 1, or code
	ExportInfo      = "implicit_model_info"     // (model, out) → code; out ← Region of the Info record
	ExportSettings  = "implicit_model_settings" // (model, in, out) → code; out ← in completed by the model's defaults
	ExportFreeModel = "implicit_model_free"     // (model) → code
	ExportStart     = "implicit_run_start"      // (model, x, xlen, settings, init, initlen) → run handle ≥ 1, or code
	ExportStep      = "implicit_run_step"       // (run, maxSteps) → 1 if samples still run, 0 when done, or code; a step is an iteration or a piece of the method's preparation
	ExportProgress  = "implicit_run_progress"   // (run, out) → code; out ← Progress of the last iteration
	ExportCancel    = "implicit_run_cancel"     // (run) → code; stops the run, its running samples become canceled
	ExportResult    = "implicit_run_result"     // (run, out) → code; out ← Region of the Result record
	ExportFreeRun   = "implicit_run_free"       // (run) → code
)

// MaxAlloc is the largest buffer ExportAlloc hands out, 1 GiB.
const MaxAlloc = 1 << 30

// Code is an ABI error code. Zero and positive results are not errors.
type Code int32

const (
	OK Code = 0
	// CodeModel: the model bytes or parameters are invalid (api.ErrModel).
	CodeModel Code = -1
	// CodeProblem: the inputs or the settings are invalid (api.ErrProblem).
	CodeProblem Code = -2
	// CodeDiverged and CodeNonFinite describe a failed sample in a Result
	// record (api.ErrDiverged, api.ErrNonFinite); no call returns them.
	CodeDiverged  Code = -3
	CodeNonFinite Code = -4
	// CodeHandle: the model or run handle is unknown or already freed.
	CodeHandle Code = -5
	// CodeArgument: a pointer, length or size is out of range.
	CodeArgument Code = -6
	// CodeInternal: the guest recovered from a panic (a bug).
	CodeInternal Code = -7
)

// Errors for the codes that have no core sentinel.
var (
	ErrHandle   = errors.New("implicit wasm: unknown or freed handle")
	ErrArgument = errors.New("implicit wasm: argument out of range")
	ErrInternal = errors.New("implicit wasm: internal error in the guest")
)

var sentinels = []struct {
	code Code
	err  error
}{
	{CodeModel, api.ErrModel},
	{CodeProblem, api.ErrProblem},
	{CodeDiverged, api.ErrDiverged},
	{CodeNonFinite, api.ErrNonFinite},
	{CodeHandle, ErrHandle},
	{CodeArgument, ErrArgument},
	{CodeInternal, ErrInternal},
}

// CodeOf returns the code for err: the code of the first sentinel err wraps,
// else CodeInternal. It returns OK for nil.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.code
		}
	}
	return CodeInternal
}

// Sentinel returns the error a code stands for, or nil for a code ≥ 0.
func Sentinel(c Code) error {
	if c >= 0 {
		return nil
	}
	for _, s := range sentinels {
		if s.code == c {
			return s.err
		}
	}
	return fmt.Errorf("%w: unknown error code %d", ErrInternal, c)
}

// Error is an error that crossed the boundary: the guest's message, testable
// with errors.Is against the code's sentinel (api.ErrModel, ...).
type Error struct {
	Code    Code
	Message string // as the guest's error printed it
}

// NewError returns the error for a code and a message from the guest.
func NewError(c Code, msg string) *Error { return &Error{Code: c, Message: msg} }

func (e *Error) Error() string {
	if e.Message == "" {
		return Sentinel(e.Code).Error()
	}
	return e.Message
}

// Unwrap returns the code's sentinel.
func (e *Error) Unwrap() error { return Sentinel(e.Code) }

// Region is a byte range of guest memory that the guest owns, written by
// ExportError and ExportResult: ptr at offset 0, length at 8.
type Region struct{ Ptr, Len uint32 }

// RegionSize is the size of a Region record; the out buffers of the exports
// need at most OutSize bytes.
const (
	RegionSize = 16
	OutSize    = SettingsSize
)

// PutRegion writes r to b.
func PutRegion(b []byte, r Region) {
	binary.LittleEndian.PutUint64(b[0:], uint64(r.Ptr))
	binary.LittleEndian.PutUint64(b[8:], uint64(r.Len))
}

// DecodeRegion reads a Region record.
func DecodeRegion(b []byte) (Region, error) {
	if len(b) < RegionSize {
		return Region{}, fmt.Errorf("%w: region record of %d bytes", ErrArgument, len(b))
	}
	p, n := binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])
	if p > math.MaxUint32 || n > math.MaxUint32 {
		return Region{}, fmt.Errorf("%w: region %d+%d", ErrArgument, p, n)
	}
	return Region{uint32(p), uint32(n)}, nil
}

// An Info record describes a loaded model (api.Info):
//
//	 0 in           i64
//	 8 state        i64
//	16 out          i64
//	24 params       i64
//	32 max_iter     i64  the file's default iteration limit, 0 if none
//	40 tol          f64  the file's default relative tolerance, 0 if none
//	48 flags        i64  bit 0: explicit
//	56 kind_len     i64  then the lengths of the strings that follow, UTF-8
//	64 desc_len     i64
//	72 method_len   i64  the solver used when the settings name none
//	80 solver_len   i64  the file's default solver, 0 if none
//	88 kind, description, method, solver
const InfoHeaderSize = 88

// The flags of an Info record: api.Info.Explicit, and api.Info.Precision
// float32 (else float64).
const (
	FlagExplicit = 1 << iota
	FlagInfoFloat32
)

// maxInfoString bounds each string of an Info record.
const maxInfoString = 1 << 16

// EncodeInfo returns the Info record of i.
func EncodeInfo(i api.Info) []byte {
	strs := []string{i.Kind, i.Description, i.Method, i.Defaults.Solver}
	for k, s := range strs {
		if len(s) > maxInfoString {
			strs[k] = s[:maxInfoString]
		}
	}
	size := InfoHeaderSize
	for _, s := range strs {
		size += len(s)
	}
	b := make([]byte, InfoHeaderSize, size)
	putInt(b, 0, i.In)
	putInt(b, 8, i.State)
	putInt(b, 16, i.Out)
	putInt(b, 24, i.Params)
	putInt(b, 32, i.Defaults.MaxIter)
	putFloat(b, 40, i.Defaults.Tol)
	flags := 0
	if i.Explicit {
		flags |= FlagExplicit
	}
	if i.Precision == api.Float32 {
		flags |= FlagInfoFloat32
	}
	putInt(b, 48, flags)
	for k, s := range strs {
		putInt(b, 56+8*k, len(s))
		b = append(b, s...)
	}
	return b
}

// DecodeInfo reads an Info record.
func DecodeInfo(b []byte) (api.Info, error) {
	var i api.Info
	bad := func(format string, args ...any) (api.Info, error) {
		return api.Info{}, fmt.Errorf("%w: info record: %s", ErrArgument, fmt.Sprintf(format, args...))
	}
	if len(b) < InfoHeaderSize {
		return bad("%d bytes, shorter than its header", len(b))
	}
	i.In, i.State, i.Out, i.Params = getInt(b, 0), getInt(b, 8), getInt(b, 16), getInt(b, 24)
	i.Defaults.MaxIter, i.Defaults.Tol = getInt(b, 32), getFloat(b, 40)
	flags := getInt(b, 48)
	if flags&^(FlagExplicit|FlagInfoFloat32) != 0 {
		return bad("unknown flags %#x", flags)
	}
	i.Explicit = flags&FlagExplicit != 0
	i.Precision = api.Float64
	if flags&FlagInfoFloat32 != 0 {
		i.Precision = api.Float32
	}
	if i.In <= 0 || i.State <= 0 || i.Out <= 0 || i.Params < 0 || i.Defaults.MaxIter < 0 {
		return bad("sizes in=%d state=%d out=%d params=%d max_iter=%d", i.In, i.State, i.Out, i.Params, i.Defaults.MaxIter)
	}
	off := InfoHeaderSize
	var strs [4]string
	for k := range strs {
		n := getInt(b, 56+8*k)
		if n < 0 || n > maxInfoString || n > len(b)-off {
			return bad("string %d of %d bytes at %d in %d bytes", k, n, off, len(b))
		}
		strs[k] = string(b[off : off+n])
		off += n
	}
	if off != len(b) {
		return bad("%d bytes, want %d", len(b), off)
	}
	i.Kind, i.Description, i.Method, i.Defaults.Solver = strs[0], strs[1], strs[2], strs[3]
	return i, nil
}

// Progress is what the last iteration of a run did, api.Iterate's fields:
// iteration, active, residual, relative residual at offsets 0, 8, 16, 24.
// Iteration is 0 before the first iteration.
type Progress = api.Iterate

// ProgressSize is the size of a Progress record.
const ProgressSize = 32

// PutProgress writes p to b.
func PutProgress(b []byte, p Progress) {
	putInt(b, 0, p.Iteration)
	putInt(b, 8, p.Active)
	putFloat(b, 16, p.Residual)
	putFloat(b, 24, p.RelResidual)
}

// DecodeProgress reads a Progress record.
func DecodeProgress(b []byte) (Progress, error) {
	if len(b) < ProgressSize {
		return Progress{}, fmt.Errorf("%w: progress record of %d bytes", ErrArgument, len(b))
	}
	return Progress{Iteration: getInt(b, 0), Active: getInt(b, 8), Residual: getFloat(b, 16), RelResidual: getFloat(b, 24)}, nil
}

func putInt(b []byte, off, v int)  { binary.LittleEndian.PutUint64(b[off:], uint64(int64(v))) }
func getInt(b []byte, off int) int { return int(int64(binary.LittleEndian.Uint64(b[off:]))) }
func putFloat(b []byte, off int, v float64) {
	binary.LittleEndian.PutUint64(b[off:], math.Float64bits(v))
}
func getFloat(b []byte, off int) float64 {
	return math.Float64frombits(binary.LittleEndian.Uint64(b[off:]))
}

// PutFloats writes v to b, 8 bytes a value.
func PutFloats(b []byte, v []float64) {
	_ = b[:len(v)*8]
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[i*8:], math.Float64bits(x))
	}
}

// Floats decodes len(b)/8 values.
func Floats(b []byte) []float64 {
	v := make([]float64, len(b)/8)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[i*8:]))
	}
	return v
}
