// Package safetensors reads and writes the safetensors file format
// (https://github.com/huggingface/safetensors) for the floating-point tensors
// that implicit's model files hold.
//
// A safetensors file is an 8-byte little-endian length N, then N bytes of
// UTF-8 JSON header, then a byte buffer. The header is an object mapping each
// tensor's name to its dtype, its shape and the byte range of its data in the
// buffer, plus an optional "__metadata__" object of string pairs. Tensor data
// is little-endian and row-major.
//
// [Decode] treats its input as hostile: it accepts only files that follow the
// format exactly (contiguous, non-overlapping tensor data covering the whole
// buffer; no duplicate keys; sizes that agree with shapes) and reports
// anything else with an error wrapping [ErrFormat]. Its memory use is bounded
// by a small multiple of the input's size. Only the F32, F64 and I64 dtypes
// are supported; values are converted to float64 (an I64 value must be
// exactly representable, |v| ≤ 2⁵³).
//
// [Encode] lays files out as Python's safetensors.torch.save_file does, so
// files written by either side load on the other.
package safetensors

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// ErrFormat is wrapped by every error reporting bytes that are not a valid
// safetensors file (from [Decode]) or a [File] that cannot be written as one
// (from [Encode]).
var ErrFormat = errors.New("safetensors: invalid format")

// DType names the element type of a tensor in a file.
type DType string

// The dtypes this package reads and writes.
const (
	F32 DType = "F32" // IEEE 754 binary32
	F64 DType = "F64" // IEEE 754 binary64
	I64 DType = "I64" // two's complement 64-bit integers, for counts (a BatchNorm's num_batches_tracked)
)

// rank is d's place in the reference implementation's Dtype enumeration,
// whose order sets the order of a file's tensors (the highest first).
func (d DType) rank() int {
	switch d {
	case F32:
		return 1
	case F64:
		return 2
	case I64:
		return 3
	}
	return 0
}

// maxExactInt is the largest integer magnitude a float64 holds exactly.
const maxExactInt = 1 << 53

// size returns the number of bytes of one element of d, or 0 if d is not
// supported.
func (d DType) size() int {
	switch d {
	case F32:
		return 4
	case F64, I64:
		return 8
	}
	return 0
}

// A Tensor is a named, dense, row-major array of numbers.
type Tensor struct {
	Name string
	// Shape lists the dimensions, outermost first. An empty Shape is a
	// scalar, which has one element; a zero dimension makes the tensor empty.
	Shape []int
	// Data holds the product of Shape's dimensions elements.
	Data []float64
	// DType is the element type the file stores: set by Decode. For
	// Encode, I64 writes the tensor as integers (its values must be whole
	// numbers of at most 2⁵³ in magnitude) and anything else writes it in
	// the file's float type.
	DType DType
}

// A File is the content of a safetensors file.
type File struct {
	// Metadata is the header's "__metadata__" object; nil when the header has
	// none, which is distinct from an empty object.
	Metadata map[string]string
	// Tensors are sorted by name in a decoded File. Encode accepts them in
	// any order.
	Tensors []Tensor
}

// The limits of a file, each checked before the work it bounds: Decode
// checks the header length field before reading the header, and counts
// tensors, metadata entries and dimensions as it parses, so that a hostile
// header costs at most about a second and a few tens of MB to refuse.
// Encode refuses a File that Decode would refuse.
const (
	// maxHeaderSize is the largest header accepted, in bytes (1 MiB). The
	// reference implementation allows 100 MB, which costs encoding/json
	// tens of seconds and a GB to parse; implicit's model files and
	// training states have headers of a few KB (a tensor's entry is about
	// 80 bytes), and so do most PyTorch checkpoints'.
	maxHeaderSize = 1 << 20
	// maxTensors is the largest number of tensors in a file.
	maxTensors = 10_000
	// maxRank is the largest number of dimensions of a tensor's shape.
	maxRank = 8
	// maxMetadataEntries is the largest number of "__metadata__" entries;
	// their text is bounded by maxHeaderSize.
	maxMetadataEntries = 1_000

	// metadataKey is the header key of the metadata object; no tensor may
	// use it as a name.
	metadataKey = "__metadata__"
)

// numElements returns the number of elements of a tensor of the given shape,
// whose dimensions must be non-negative. It reports false if the product of
// the non-zero dimensions overflows an int: such a shape is rejected even when
// another dimension is zero, so that code computing strides from a valid
// shape cannot overflow either.
func numElements(shape []int) (int, bool) {
	n, empty := 1, false
	for _, d := range shape {
		if d == 0 {
			empty = true
			continue
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > math.MaxInt {
			return 0, false
		}
		n = int(lo)
	}
	if empty {
		return 0, true
	}
	return n, true
}

// formatError is the concrete type of errors wrapping ErrFormat.
type formatError struct {
	msg   string
	cause error // an underlying error such as a *json.SyntaxError, or nil
}

// errorf returns a *formatError with the message format and args.
func errorf(format string, args ...any) error {
	return &formatError{msg: fmt.Sprintf(format, args...)}
}

func (e *formatError) Error() string { return "safetensors: " + e.msg }

func (e *formatError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrFormat}
	}
	return []error{ErrFormat, e.cause}
}
