package safetensors

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Encode returns f as a safetensors file whose float tensors all have type
// dtype; a tensor whose DType is I64 is written as integers.
//
// The layout is the one Python's safetensors.torch.save_file writes: compact
// JSON with "__metadata__" first (when f.Metadata is not nil) and then the
// tensors in the reference implementation's order (by dtype, in the
// reference's order of its Dtype enumeration, I64 before F64 before F32, then
// by name), the header padded with spaces
// to a multiple of 8 bytes so that the data is aligned, and the tensors' data
// stored in the same order, contiguously. Metadata keys, unordered in a map,
// are written sorted.
//
// Encode fails, with an error wrapping [ErrFormat], if dtype is not F32 or
// F64, if a tensor name is empty, repeated or "__metadata__", if a string is
// not valid UTF-8, if a shape has a negative dimension or does not match the
// length of Data, if, with F32, a finite value is too large for float32, or
// if an I64 tensor holds a value that is not a whole number of at most 2⁵³
// in magnitude, or if it has more tensors, metadata entries, dimensions or
// header bytes than Decode accepts. Converting to F32 otherwise rounds
// values to the nearest float32. f is not modified.
func Encode(f *File, dtype DType) ([]byte, error) {
	if dtype != F32 && dtype != F64 {
		return nil, errorf("cannot encode dtype %s (want F32 or F64)", quoteIfOdd(string(dtype)))
	}
	if f == nil {
		return nil, errorf("cannot encode a nil *File")
	}
	stored := func(t *Tensor) DType {
		if t.DType == I64 {
			return I64
		}
		return dtype
	}

	// Decode would refuse more.
	if len(f.Tensors) > maxTensors {
		return nil, errorf("more than %d tensors (the limit)", maxTensors)
	}
	if len(f.Metadata) > maxMetadataEntries {
		return nil, errorf("%s: more than %d entries (the limit)", metadataKey, maxMetadataEntries)
	}
	// Sort indices, not f.Tensors, to leave the caller's File alone.
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		a, b := &f.Tensors[i], &f.Tensors[j]
		return cmp.Or(cmp.Compare(stored(b).rank(), stored(a).rank()), strings.Compare(a.Name, b.Name))
	})
	names := make([]string, len(order))
	for k, i := range order {
		names[k] = f.Tensors[i].Name
	}
	slices.Sort(names)
	for k := 1; k < len(names); k++ {
		if names[k] == names[k-1] {
			return nil, errorf("duplicate tensor name %q", names[k])
		}
	}

	var dataLen int
	for _, i := range order {
		t := &f.Tensors[i]
		if err := checkTensor(t); err != nil {
			return nil, err
		}
		size := stored(t).size()
		if len(t.Data) > (math.MaxInt-dataLen)/size {
			return nil, errorf("tensor %q: data too large to encode", t.Name)
		}
		dataLen += len(t.Data) * size
	}
	for k, v := range f.Metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, errorf("%s: key or value of %q is not valid UTF-8", metadataKey, k)
		}
	}

	header := encodeHeader(f, order, stored)
	if len(header) > maxHeaderSize {
		// Decode would refuse the file.
		return nil, errorf("header of %d bytes exceeds the limit of %d bytes", len(header), maxHeaderSize)
	}

	out := make([]byte, 8, 8+len(header)+dataLen)
	binary.LittleEndian.PutUint64(out, uint64(len(header)))
	out = append(out, header...)
	for _, i := range order {
		t := &f.Tensors[i]
		switch stored(t) {
		case I64:
			for j, v := range t.Data {
				if v != math.Trunc(v) || math.Abs(v) > maxExactInt {
					return nil, errorf("tensor %q: value %g at index %d is not a whole number of at most 2⁵³ for I64", t.Name, v, j)
				}
				out = binary.LittleEndian.AppendUint64(out, uint64(int64(v)))
			}
		case F32:
			for j, v := range t.Data {
				w := float32(v)
				// Overflow to infinity would silently change the
				// model; an infinity or NaN that was already there is
				// the caller's to keep.
				if math.IsInf(float64(w), 0) && !math.IsInf(v, 0) {
					return nil, errorf("tensor %q: value %g at index %d overflows F32", t.Name, v, j)
				}
				out = binary.LittleEndian.AppendUint32(out, math.Float32bits(w))
			}
		case F64:
			for _, v := range t.Data {
				out = binary.LittleEndian.AppendUint64(out, math.Float64bits(v))
			}
		}
	}
	return out, nil
}

// checkTensor reports whether t can be encoded, apart from the uniqueness of
// its name.
func checkTensor(t *Tensor) error {
	switch {
	case t.Name == "":
		return errorf("empty tensor name")
	case t.Name == metadataKey:
		return errorf("tensor name %q is reserved for metadata", t.Name)
	case !utf8.ValidString(t.Name):
		return errorf("tensor name %q is not valid UTF-8", t.Name)
	}
	if len(t.Shape) > maxRank {
		return errorf("tensor %q: shape %v has more than %d dimensions (the limit)", t.Name, t.Shape, maxRank)
	}
	for _, d := range t.Shape {
		if d < 0 {
			return errorf("tensor %q: shape %v has a negative dimension", t.Name, t.Shape)
		}
	}
	n, ok := numElements(t.Shape)
	if !ok {
		return errorf("tensor %q: shape %v has too many elements (overflow)", t.Name, t.Shape)
	}
	if n != len(t.Data) {
		return errorf("tensor %q: shape %v has %d elements but Data has %d", t.Name, t.Shape, n, len(t.Data))
	}
	return nil
}

// encodeHeader returns the JSON header for the tensors of f taken in order,
// padded with spaces to a multiple of 8 bytes.
func encodeHeader(f *File, order []int, stored func(*Tensor) DType) []byte {
	h := []byte{'{'}
	if f.Metadata != nil {
		h = appendString(h, metadataKey)
		h = append(h, ":{"...)
		keys := make([]string, 0, len(f.Metadata))
		for k := range f.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				h = append(h, ',')
			}
			h = appendString(h, k)
			h = append(h, ':')
			h = appendString(h, f.Metadata[k])
		}
		h = append(h, '}')
	}
	var offset uint64
	for k, i := range order {
		t := &f.Tensors[i]
		dtype := stored(t)
		size := uint64(dtype.size())
		if k > 0 || f.Metadata != nil {
			h = append(h, ',')
		}
		h = appendString(h, t.Name)
		h = append(h, `:{"dtype":"`...)
		h = append(h, dtype...)
		h = append(h, `","shape":[`...)
		for j, d := range t.Shape {
			if j > 0 {
				h = append(h, ',')
			}
			h = strconv.AppendInt(h, int64(d), 10)
		}
		end := offset + uint64(len(t.Data))*size
		h = append(h, `],"data_offsets":[`...)
		h = strconv.AppendUint(h, offset, 10)
		h = append(h, ',')
		h = strconv.AppendUint(h, end, 10)
		h = append(h, "]}"...)
		offset = end
	}
	h = append(h, '}')
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	return h
}

// appendString appends s, valid UTF-8, as a JSON string escaped as serde_json
// (and so the Python writer) escapes it: only '"', '\\' and control
// characters, with the short escapes where JSON has them. encoding/json would
// also escape '<', '>', '&', U+2028 and U+2029, which is valid but differs
// from the reference writer's bytes.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
