package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Decode parses a safetensors file held in b.
//
// Every violation of the format is an error wrapping [ErrFormat] whose
// message names the problem and, where there is one, the tensor. Tensors
// whose dtype is not F32, F64 or I64 are errors too, and so are I64 values
// that a float64 does not hold exactly. NaN and infinite values are returned
// as they are.
//
// The returned File does not refer to b.
func Decode(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, errorf("file is %d bytes, shorter than the 8-byte header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > maxHeaderSize {
		return nil, errorf("header length %d exceeds the limit of %d bytes", n, maxHeaderSize)
	}
	if n > uint64(len(b)-8) {
		return nil, errorf("header length %d exceeds the %d bytes that follow it", n, len(b)-8)
	}
	header, buf := b[8:8+n], b[8+n:]

	entries, metadata, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	for i := range entries {
		if err := entries[i].check(len(buf)); err != nil {
			return nil, err
		}
	}
	if err := checkCoverage(entries, len(buf)); err != nil {
		return nil, err
	}

	f := &File{Metadata: metadata, Tensors: make([]Tensor, len(entries))}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	for i, e := range entries {
		// check has verified that the byte range holds exactly elems
		// elements, so this allocation is bounded by len(b).
		data, err := decodeValues(buf[e.begin:e.end], e.dtype, e.elems)
		if err != nil {
			return nil, errorf("tensor %q: %v", e.name, err)
		}
		f.Tensors[i] = Tensor{Name: e.name, Shape: e.shape, Data: data, DType: e.dtype}
	}
	return f, nil
}

// entry is a tensor as described by the header.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	elems      int // the product of shape
	begin, end uint64
}

// check reports whether e's byte range lies within a data buffer of n bytes
// and holds exactly as many bytes as e's shape and dtype need.
func (e *entry) check(n int) error {
	if e.begin > e.end {
		return errorf("tensor %q: data_offsets [%d,%d] begin after they end", e.name, e.begin, e.end)
	}
	if e.end > uint64(n) {
		return errorf("tensor %q: data_offsets [%d,%d] end beyond the %d-byte data buffer", e.name, e.begin, e.end, n)
	}
	// Compare by division so that no product of untrusted numbers is formed.
	size := uint64(e.dtype.size())
	if length := e.end - e.begin; length%size != 0 || length/size != uint64(e.elems) {
		return errorf("tensor %q: data_offsets [%d,%d] span %d bytes, want %d elements × %d bytes for shape %v",
			e.name, e.begin, e.end, length, e.elems, size, e.shape)
	}
	return nil
}

// checkCoverage reports whether the byte ranges of entries, each already
// checked to lie within the buffer, tile a data buffer of n bytes exactly: no
// gaps, so that no unindexed bytes can hide in a file, and no overlaps, so
// that each byte belongs to one tensor. It reorders entries.
func checkCoverage(entries []entry, n int) error {
	// Empty tensors sort before a non-empty one starting at the same offset,
	// and are then allowed there; this matches the reference implementation.
	slices.SortFunc(entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end), strings.Compare(a.name, b.name))
	})
	var at uint64
	for i, e := range entries {
		switch {
		case e.begin > at:
			return errorf("data buffer bytes [%d,%d) belong to no tensor (gap before tensor %q)", at, e.begin, e.name)
		case e.begin < at:
			prev := entries[i-1]
			return errorf("tensors %q [%d,%d] and %q [%d,%d] overlap", prev.name, prev.begin, prev.end, e.name, e.begin, e.end)
		}
		at = e.end
	}
	if at != uint64(n) {
		return errorf("data buffer bytes [%d,%d) belong to no tensor (trailing data)", at, n)
	}
	return nil
}

// decodeValues converts n little-endian elements of type dtype to float64.
func decodeValues(b []byte, dtype DType, n int) ([]float64, error) {
	v := make([]float64, n)
	switch dtype {
	case F32:
		for i := range v {
			v[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		}
	case F64:
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case I64:
		for i := range v {
			x := int64(binary.LittleEndian.Uint64(b[8*i:]))
			if x > maxExactInt || x < -maxExactInt {
				return nil, fmt.Errorf("I64 value %d at index %d is beyond ±2⁵³, which a float64 does not hold exactly", x, i)
			}
			v[i] = float64(x)
		}
	}
	return v, nil
}

// parseHeader parses and checks the structure of a JSON header, returning its
// tensor entries in header order and its metadata (nil if absent). It checks
// each entry on its own but not the entries' byte ranges.
//
// The header is walked token by token rather than unmarshaled, because
// unmarshaling keeps the last of repeated keys, and the format forbids
// them: two entries for one tensor would let two readers of the same file
// see different tensors.
func parseHeader(header []byte) ([]entry, map[string]string, error) {
	if !utf8.Valid(header) {
		return nil, nil, errorf("header is not valid UTF-8")
	}
	// The format requires the header to begin with '{', so a reader may
	// recognise a safetensors file by its ninth byte.
	if len(header) == 0 || header[0] != '{' {
		return nil, nil, errorf("header does not begin with '{'")
	}
	p := &headerParser{scan: newScanner(header)}
	if err := p.delim(tokObjectStart, "header"); err != nil {
		return nil, nil, err
	}
	var (
		entries  []entry
		metadata map[string]string
		seen     = make(map[string]bool)
	)
	for p.scan.more() {
		key, err := p.key()
		if err != nil {
			return nil, nil, err
		}
		if seen[key] {
			return nil, nil, errorf("header: duplicate key %q", key)
		}
		seen[key] = true
		switch key {
		case metadataKey:
			if metadata, err = p.metadata(); err != nil {
				return nil, nil, err
			}
		case "":
			return nil, nil, errorf("header: empty tensor name")
		default:
			if len(entries) == maxTensors {
				return nil, nil, errorf("header: more than %d tensors (the limit)", maxTensors)
			}
			e, err := p.entry(key)
			if err != nil {
				return nil, nil, err
			}
			entries = append(entries, e)
		}
	}
	if err := p.delim(tokObjectEnd, "header"); err != nil {
		return nil, nil, err
	}
	// After the object, only whitespace may follow: the Python writer pads
	// with spaces to align the data, and any JSON whitespace is accepted, as
	// the reference implementation does.
	end := p.scan.offset()
	if rest := bytes.TrimLeft(header[end:], " \t\r\n"); len(rest) != 0 {
		return nil, nil, errorf("header: unexpected data after the JSON object at file byte %d", 8+len(header)-len(rest))
	}
	return entries, metadata, nil
}

// headerParser walks the tokens of a JSON header.
type headerParser struct {
	scan *jsonScanner
}

// token returns the next JSON token.
func (p *headerParser) token() (token, error) {
	t, err := p.scan.next()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the walk only asks for tokens that must exist
	}
	if err != nil {
		if _, ok := errors.AsType[*formatError](err); ok {
			return token{}, err
		}
		fe := &formatError{msg: "header is not valid JSON: " + err.Error(), cause: err}
		if se, ok := errors.AsType[*SyntaxError](err); ok {
			fe.msg += " (at file byte " + strconv.FormatInt(8+se.Offset, 10) + ")"
		}
		return token{}, fe
	}
	return t, nil
}

// delim reads the delimiter d; what names the value that d begins or ends.
func (p *headerParser) delim(d tokenKind, what string) error {
	t, err := p.token()
	if err != nil {
		return err
	}
	if t.kind != d {
		if d == tokObjectStart {
			return errorf("%s is %s, not an object", what, describe(t))
		}
		// The scanner itself rejects a mismatched closing delimiter, so
		// this is unreachable; keep an error rather than a panic.
		return errorf("%s: found %s, want the end of an object", what, describe(t))
	}
	return nil
}

// key reads an object key. The scanner guarantees that a token in key
// position is a string.
func (p *headerParser) key() (string, error) {
	t, err := p.token()
	if err != nil {
		return "", err
	}
	if t.kind != tokString {
		return "", errorf("header: object key is %s, not a string", describe(t))
	}
	return t.text, nil
}

// metadata reads the value of "__metadata__", an object of strings.
func (p *headerParser) metadata() (map[string]string, error) {
	if err := p.delim(tokObjectStart, metadataKey); err != nil {
		return nil, err
	}
	m := make(map[string]string)
	for p.scan.more() {
		if len(m) == maxMetadataEntries {
			return nil, errorf("%s: more than %d entries (the limit)", metadataKey, maxMetadataEntries)
		}
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, errorf("%s: duplicate key %q", metadataKey, k)
		}
		t, err := p.token()
		if err != nil {
			return nil, err
		}
		if t.kind != tokString {
			return nil, errorf("%s: value of %q is %s, not a string", metadataKey, k, describe(t))
		}
		m[k] = t.text
	}
	return m, p.delim(tokObjectEnd, metadataKey)
}

// entry reads the description of tensor name: an object with exactly the
// fields dtype, shape and data_offsets.
func (p *headerParser) entry(name string) (entry, error) {
	e := entry{name: name}
	what := "tensor " + strconv.Quote(name)
	if err := p.delim(tokObjectStart, what); err != nil {
		return e, err
	}
	var hasDType, hasShape, hasOffsets bool
	for p.scan.more() {
		field, err := p.key()
		if err != nil {
			return e, err
		}
		var dup bool
		switch field {
		case "dtype":
			dup, hasDType = hasDType, true
			if !dup {
				e.dtype, err = p.dtype(what)
			}
		case "shape":
			dup, hasShape = hasShape, true
			if !dup {
				e.shape, e.elems, err = p.shape(what)
			}
		case "data_offsets":
			dup, hasOffsets = hasOffsets, true
			if !dup {
				e.begin, e.end, err = p.offsets(what)
			}
		default:
			return e, errorf("%s: unknown field %q", what, field)
		}
		if dup {
			return e, errorf("%s: duplicate field %q", what, field)
		}
		if err != nil {
			return e, err
		}
	}
	if err := p.delim(tokObjectEnd, what); err != nil {
		return e, err
	}
	switch {
	case !hasDType:
		return e, errorf("%s: missing field \"dtype\"", what)
	case !hasShape:
		return e, errorf("%s: missing field \"shape\"", what)
	case !hasOffsets:
		return e, errorf("%s: missing field \"data_offsets\"", what)
	}
	return e, nil
}

// dtype reads a dtype name and checks that it is supported.
func (p *headerParser) dtype(what string) (DType, error) {
	t, err := p.token()
	if err != nil {
		return "", err
	}
	if t.kind != tokString {
		return "", errorf("%s: dtype is %s, not a string", what, describe(t))
	}
	s := t.text
	d := DType(s)
	if d.size() == 0 {
		return "", errorf("%s: dtype %s not supported (want F32, F64 or I64)", what, quoteIfOdd(s))
	}
	return d, nil
}

// shape reads an array of dimensions and returns it with its number of
// elements.
func (p *headerParser) shape(what string) ([]int, int, error) {
	if err := p.arrayStart(what, "shape", "an array of integers"); err != nil {
		return nil, 0, err
	}
	shape := []int{} // not nil: a scalar's shape is present, just empty
	for p.scan.more() {
		if len(shape) == maxRank {
			return nil, 0, errorf("%s: shape has more than %d dimensions (the limit)", what, maxRank)
		}
		d, err := p.integer(what, "shape dimension")
		if err != nil {
			return nil, 0, err
		}
		if d > math.MaxInt {
			return nil, 0, errorf("%s: shape dimension %d is too large", what, d)
		}
		shape = append(shape, int(d))
	}
	if _, err := p.token(); err != nil { // ']'; the scanner checks the nesting
		return nil, 0, err
	}
	n, ok := numElements(shape)
	if !ok {
		return nil, 0, errorf("%s: shape %v has too many elements (overflow)", what, shape)
	}
	return shape, n, nil
}

// offsets reads data_offsets, an array of two integers.
func (p *headerParser) offsets(what string) (begin, end uint64, err error) {
	if err := p.arrayStart(what, "data_offsets", "an array of two integers"); err != nil {
		return 0, 0, err
	}
	var v [2]uint64
	n := 0
	for p.scan.more() {
		if n == len(v) {
			return 0, 0, errorf("%s: data_offsets has more than two elements", what)
		}
		if v[n], err = p.integer(what, "data_offsets element"); err != nil {
			return 0, 0, err
		}
		n++
	}
	if _, err := p.token(); err != nil { // ']'
		return 0, 0, err
	}
	if n != len(v) {
		return 0, 0, errorf("%s: data_offsets has %d elements, want two", what, n)
	}
	return v[0], v[1], nil
}

// arrayStart reads the '[' that starts the value of field.
func (p *headerParser) arrayStart(what, field, want string) error {
	t, err := p.token()
	if err != nil {
		return err
	}
	if t.kind != tokArrayStart {
		return errorf("%s: %s is %s, not %s", what, field, describe(t), want)
	}
	return nil
}

// integer reads a non-negative integer that fits in a uint64. Fractions and
// exponents are rejected even when their value is integral ("2.0", "1e3"),
// as the reference implementation does.
func (p *headerParser) integer(what, elem string) (uint64, error) {
	t, err := p.token()
	if err != nil {
		return 0, err
	}
	if t.kind != tokNumber {
		return 0, errorf("%s: %s is %s, not an integer", what, elem, describe(t))
	}
	s := t.text
	switch {
	case strings.HasPrefix(s, "-"):
		return 0, errorf("%s: %s %s is negative", what, elem, s)
	case strings.ContainsAny(s, ".eE"):
		return 0, errorf("%s: %s %s is not an integer", what, elem, s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errorf("%s: %s %s is too large", what, elem, s)
	}
	return v, nil
}

// describe names a JSON token for an error message.
func describe(t token) string {
	switch t.kind {
	case tokObjectStart:
		return "an object"
	case tokArrayStart:
		return "an array"
	case tokObjectEnd:
		return `"}"`
	case tokArrayEnd:
		return `"]"`
	case tokString:
		return "the string " + strconv.Quote(t.text)
	case tokNumber:
		return "the number " + t.text
	case tokTrue:
		return "true"
	case tokFalse:
		return "false"
	}
	return "null"
}

// quoteIfOdd returns s as it is if it looks like a dtype name, so that the
// common case reads naturally (dtype BF16), and quoted otherwise, so that an
// error message cannot be garbled by untrusted text.
func quoteIfOdd(s string) string {
	if s == "" || len(s) > 16 {
		return strconv.Quote(s)
	}
	for _, c := range s {
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return strconv.Quote(s)
		}
	}
	return s
}
