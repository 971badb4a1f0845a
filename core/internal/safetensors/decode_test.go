package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// file returns a safetensors file with the given header (used as it is, with
// no padding) and data buffer.
func file(header string, data ...byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

// zeros returns n zero bytes.
func zeros(n int) []byte { return make([]byte, n) }

// f32s returns the little-endian bytes of vs as float32s.
func f32s(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// f64s returns the little-endian bytes of vs as float64s.
func f64s(vs ...float64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

func TestDecodeErrors(t *testing.T) {
	// tensor returns a header entry for tensor name.
	tensor := func(name, dtype, shape, offsets string) string {
		return `"` + name + `":{"dtype":"` + dtype + `","shape":` + shape + `,"data_offsets":` + offsets + `}`
	}
	a4 := tensor("a", "F32", "[1]", "[0,4]")
	tests := []struct {
		name string
		in   []byte
		want string // a substring of the error message
	}{
		{"empty file", nil, "file is 0 bytes, shorter than the 8-byte header length"},
		{"short file", []byte{2, 0, 0}, "file is 3 bytes"},
		{"header over limit", binary.LittleEndian.AppendUint64(nil, maxHeaderSize+1), fmt.Sprintf("header length %d exceeds the limit of %d bytes", maxHeaderSize+1, maxHeaderSize)},
		{"header length 2^64-1", binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "exceeds the limit"},
		{"header at limit beyond file", append(binary.LittleEndian.AppendUint64(nil, maxHeaderSize), "{}"...), fmt.Sprintf("header length %d exceeds the 2 bytes that follow it", maxHeaderSize)},
		{"header beyond file", append(binary.LittleEndian.AppendUint64(nil, 10), "{}"...), "header length 10 exceeds the 2 bytes that follow it"},
		{"empty header", file(""), "header does not begin with '{'"},
		{"header is array", file("[]"), "header does not begin with '{'"},
		{"leading space", file(" {}"), "header does not begin with '{'"},
		{"invalid UTF-8", file("{\"\xff\":1}"), "header is not valid UTF-8"},
		{"lone high surrogate", file(`{"__metadata__":{"\ud800":""}}`), `header: unpaired UTF-16 surrogate \ud800 at file byte 26`},
		{"lone low surrogate", file(`{"\uDC00x":{}}`), `header: unpaired UTF-16 surrogate \uDC00 at file byte 10`},
		{"reversed surrogates", file(`{"__metadata__":{"k":"\udc00\ud800"}}`), `unpaired UTF-16 surrogate \udc00`},
		{"high surrogate then other escape", file(`{"__metadata__":{"k":"\ud800\u0041"}}`), `unpaired UTF-16 surrogate \ud800`},
		{"high surrogate at end of string", file(`{"__metadata__":{"k":"\ud83d"}}`), `unpaired UTF-16 surrogate \ud83d`},
		{"invalid JSON", file(`{"a":}`), "header is not valid JSON: invalid character '}'"},
		{"trailing comma", file(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},}`, zeros(4)...), "header is not valid JSON"},
		{"single quotes", file(`{'a':1}`), "header is not valid JSON"},
		{"truncated JSON", file(`{"a":{"dtype":"F32"`), "header is not valid JSON: unexpected EOF"},
		{"unclosed header", file(`{`), "unexpected EOF"},
		{"mismatched bracket", file(`{"a":{"dtype":"F32","shape":[1},"data_offsets":[0,4]}}`), "header is not valid JSON"},
		{"trailing garbage", file(`{}x`), "unexpected data after the JSON object at file byte 10"},
		{"two objects", file(`{}{}`), "unexpected data after the JSON object"},
		{"padding then garbage", file(`{}    x`), "unexpected data after the JSON object at file byte 14"},
		{"NUL padding", file("{}\x00"), "unexpected data after the JSON object"},

		{"duplicate tensor", file("{"+a4+","+a4+"}", zeros(4)...), `header: duplicate key "a"`},
		{"duplicate by escape", file(`{`+a4+`,"\u0061":{}}`, zeros(4)...), `header: duplicate key "a"`},
		{"duplicate metadata", file(`{"__metadata__":{},"__metadata__":{}}`), `header: duplicate key "__metadata__"`},
		{"metadata string", file(`{"__metadata__":"x"}`), `__metadata__ is the string "x", not an object`},
		{"metadata null", file(`{"__metadata__":null}`), "__metadata__ is null, not an object"},
		{"metadata array", file(`{"__metadata__":["a"]}`), "__metadata__ is an array, not an object"},
		{"metadata number value", file(`{"__metadata__":{"k":1}}`), `__metadata__: value of "k" is the number 1, not a string`},
		{"metadata object value", file(`{"__metadata__":{"k":{}}}`), `value of "k" is an object, not a string`},
		{"metadata null value", file(`{"__metadata__":{"k":null}}`), `value of "k" is null, not a string`},
		{"metadata duplicate key", file(`{"__metadata__":{"k":"1","k":"2"}}`), `__metadata__: duplicate key "k"`},

		{"empty tensor name", file(`{"":{}}`), "header: empty tensor name"},
		{"entry not object", file(`{"a":[1]}`), `tensor "a" is an array, not an object`},
		{"entry null", file(`{"a":null}`), `tensor "a" is null, not an object`},
		{"missing dtype", file(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, zeros(4)...), `tensor "a": missing field "dtype"`},
		{"missing shape", file(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, zeros(4)...), `tensor "a": missing field "shape"`},
		{"missing offsets", file(`{"a":{"dtype":"F32","shape":[1]}}`, zeros(4)...), `tensor "a": missing field "data_offsets"`},
		{"empty entry", file(`{"a":{}}`), `tensor "a": missing field "dtype"`},
		{"extra field", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":0}}`, zeros(4)...), `tensor "a": unknown field "extra"`},
		{"old offsets field", file(`{"a":{"dtype":"F32","shape":[1],"offsets":[0,4]}}`, zeros(4)...), `tensor "a": unknown field "offsets"`},
		{"duplicate field", file(`{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, zeros(4)...), `tensor "a": duplicate field "dtype"`},
		{"duplicate shape", file(`{"a":{"dtype":"F32","shape":[1],"shape":[1],"data_offsets":[0,4]}}`, zeros(4)...), `tensor "a": duplicate field "shape"`},
		{"duplicate offsets", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"data_offsets":[0,4]}}`, zeros(4)...), `tensor "a": duplicate field "data_offsets"`},

		{"dtype number", file(`{"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}`, zeros(4)...), `tensor "a": dtype is the number 32, not a string`},
		{"dtype BF16", file(`{"encoder.weight":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}`, zeros(4)...),
			`safetensors: tensor "encoder.weight": dtype BF16 not supported (want F32, F64 or I64)`},
		{"dtype I32", file("{"+tensor("a", "I32", "[1]", "[0,4]")+"}", zeros(4)...), `tensor "a": dtype I32 not supported (want F32, F64 or I64)`},
		{"I64 beyond 2^53", file("{"+tensor("a", "I64", "[1]", "[0,8]")+"}", 1, 0, 0, 0, 0, 0, 0x20, 0), `tensor "a": I64 value 9007199254740993 at index 0 is beyond ±2⁵³`},
		{"dtype lower case", file("{"+tensor("a", "f32", "[1]", "[0,4]")+"}", zeros(4)...), `tensor "a": dtype "f32" not supported`},
		{"dtype empty", file("{"+tensor("a", "", "[1]", "[0,4]")+"}", zeros(4)...), `tensor "a": dtype "" not supported`},

		{"shape number", file("{"+tensor("a", "F32", "1", "[0,4]")+"}", zeros(4)...), `tensor "a": shape is the number 1, not an array of integers`},
		{"shape object", file("{"+tensor("a", "F32", "{}", "[0,4]")+"}", zeros(4)...), `tensor "a": shape is an object, not an array`},
		{"shape null", file("{"+tensor("a", "F32", "null", "[0,4]")+"}", zeros(4)...), `tensor "a": shape is null`},
		{"shape negative", file("{"+tensor("a", "F32", "[-1]", "[0,4]")+"}", zeros(4)...), `tensor "a": shape dimension -1 is negative`},
		{"shape negative zero", file("{" + tensor("a", "F32", "[-0]", "[0,0]") + "}"), `shape dimension -0 is negative`},
		{"shape fraction", file("{"+tensor("a", "F32", "[1.5]", "[0,4]")+"}", zeros(4)...), `tensor "a": shape dimension 1.5 is not an integer`},
		{"shape integral fraction", file("{"+tensor("a", "F32", "[1.0]", "[0,4]")+"}", zeros(4)...), `shape dimension 1.0 is not an integer`},
		{"shape exponent", file("{"+tensor("a", "F32", "[1e0]", "[0,4]")+"}", zeros(4)...), `shape dimension 1e0 is not an integer`},
		{"shape string", file("{"+tensor("a", "F32", `["1"]`, "[0,4]")+"}", zeros(4)...), `shape dimension is the string "1", not an integer`},
		{"shape nested", file("{"+tensor("a", "F32", `[[1]]`, "[0,4]")+"}", zeros(4)...), `shape dimension is an array, not an integer`},
		{"shape bool", file("{"+tensor("a", "F32", `[true]`, "[0,4]")+"}", zeros(4)...), `shape dimension is true, not an integer`},
		{"shape above MaxInt", file("{"+tensor("a", "F32", "[9223372036854775808]", "[0,4]")+"}", zeros(4)...), `shape dimension 9223372036854775808 is too large`},
		{"shape above MaxUint64", file("{"+tensor("a", "F32", "[18446744073709551616]", "[0,4]")+"}", zeros(4)...), `shape dimension 18446744073709551616 is too large`},
		{"shape overflow", file("{"+tensor("a", "F32", "[4294967296,4294967296]", "[0,4]")+"}", zeros(4)...), `tensor "a": shape [4294967296 4294967296] has too many elements (overflow)`},
		{"shape overflow with zero", file("{" + tensor("a", "F32", "[0,4294967296,4294967296]", "[0,0]") + "}"), `has too many elements (overflow)`},
		{"shape huge but no overflow", file("{"+tensor("a", "F32", "[4294967296,2147483647]", "[0,4]")+"}", zeros(4)...), `span 4 bytes, want 9223372032559808512 elements × 4 bytes`},

		{"offsets object", file("{"+tensor("a", "F32", "[1]", "{}")+"}", zeros(4)...), `tensor "a": data_offsets is an object, not an array of two integers`},
		{"offsets empty", file("{"+tensor("a", "F32", "[1]", "[]")+"}", zeros(4)...), `tensor "a": data_offsets has 0 elements, want two`},
		{"offsets one", file("{"+tensor("a", "F32", "[1]", "[4]")+"}", zeros(4)...), `data_offsets has 1 elements, want two`},
		{"offsets three", file("{"+tensor("a", "F32", "[1]", "[0,4,8]")+"}", zeros(4)...), `data_offsets has more than two elements`},
		{"offsets negative", file("{"+tensor("a", "F32", "[1]", "[-4,0]")+"}", zeros(4)...), `data_offsets element -4 is negative`},
		{"offsets fraction", file("{"+tensor("a", "F32", "[1]", "[0,4.0]")+"}", zeros(4)...), `data_offsets element 4.0 is not an integer`},
		{"offsets string", file("{"+tensor("a", "F32", "[1]", `[0,"4"]`)+"}", zeros(4)...), `data_offsets element is the string "4", not an integer`},
		{"offsets too large", file("{"+tensor("a", "F32", "[1]", `[0,18446744073709551616]`)+"}", zeros(4)...), `data_offsets element 18446744073709551616 is too large`},
		{"begin after end", file("{"+tensor("a", "F32", "[1]", "[8,4]")+"}", zeros(8)...), `tensor "a": data_offsets [8,4] begin after they end`},
		{"end beyond buffer", file("{"+tensor("a", "F32", "[2]", "[0,8]")+"}", zeros(4)...), `tensor "a": data_offsets [0,8] end beyond the 4-byte data buffer`},
		{"end at MaxUint64", file("{"+tensor("a", "F32", "[1]", "[0,18446744073709551615]")+"}", zeros(4)...), `end beyond the 4-byte data buffer`},
		{"too few bytes", file("{"+tensor("a", "F32", "[2,2]", "[0,12]")+"}", zeros(12)...), `tensor "a": data_offsets [0,12] span 12 bytes, want 4 elements × 4 bytes for shape [2 2]`},
		{"too many bytes", file("{"+tensor("a", "F32", "[]", "[0,8]")+"}", zeros(8)...), `span 8 bytes, want 1 elements × 4 bytes for shape []`},
		{"partial element", file("{"+tensor("a", "F64", "[1]", "[0,4]")+"}", zeros(4)...), `span 4 bytes, want 1 elements × 8 bytes`},
		{"empty tensor with bytes", file("{"+tensor("a", "F32", "[0]", "[0,4]")+"}", zeros(4)...), `span 4 bytes, want 0 elements`},

		{"overlap", file("{"+tensor("a", "F32", "[2]", "[0,8]")+","+tensor("b", "F32", "[2]", "[4,12]")+"}", zeros(12)...), `tensors "a" [0,8] and "b" [4,12] overlap`},
		{"same range", file("{"+tensor("a", "F32", "[1]", "[0,4]")+","+tensor("b", "F32", "[1]", "[0,4]")+"}", zeros(4)...), `tensors "a" [0,4] and "b" [0,4] overlap`},
		{"empty inside another", file("{"+tensor("a", "F32", "[2]", "[0,8]")+","+tensor("e", "F32", "[0]", "[4,4]")+"}", zeros(8)...), `tensors "a" [0,8] and "e" [4,4] overlap`},
		{"gap between", file("{"+tensor("a", "F32", "[1]", "[0,4]")+","+tensor("b", "F32", "[1]", "[8,12]")+"}", zeros(12)...), `data buffer bytes [4,8) belong to no tensor (gap before tensor "b")`},
		{"gap at start", file("{"+tensor("a", "F32", "[1]", "[4,8]")+"}", zeros(8)...), `data buffer bytes [0,4) belong to no tensor (gap before tensor "a")`},
		{"trailing data", file("{"+tensor("a", "F32", "[1]", "[0,4]")+"}", zeros(8)...), `data buffer bytes [4,8) belong to no tensor (trailing data)`},
		{"data but no tensors", file(`{}`, zeros(4)...), `data buffer bytes [0,4) belong to no tensor (trailing data)`},
		{"data but only metadata", file(`{"__metadata__":{}}`, 1), `data buffer bytes [0,1) belong to no tensor`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Decode(tt.in)
			if err == nil {
				t.Fatalf("Decode succeeded with %+v, want error containing %q", f, tt.want)
			}
			if f != nil {
				t.Errorf("Decode returned a File along with error %v", err)
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("error %v does not wrap ErrFormat", err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "safetensors: ") || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q, want it to start with %q and contain %q", msg, "safetensors: ", tt.want)
			}
		})
	}
}

// TestDecodeSyntaxErrorAs checks that a JSON syntax error is available to
// errors.As along with ErrFormat, with its position in the file.
func TestDecodeSyntaxErrorAs(t *testing.T) {
	_, err := Decode(file(`{"a" 1}`))
	se, ok := errors.AsType[*SyntaxError](err)
	if !ok {
		t.Fatalf("error %v does not wrap a *SyntaxError", err)
	}
	if !errors.Is(err, ErrFormat) {
		t.Errorf("error %v does not wrap ErrFormat", err)
	}
	if se.Offset != 5 || !strings.Contains(err.Error(), "at file byte 13") {
		t.Errorf("offset %d, message %q; want offset 5, file byte 13", se.Offset, err)
	}
}

func TestDecodeF32(t *testing.T) {
	// 1, -2, 0.5 and 3.25 as float32, spelled out byte by byte.
	data := []byte{
		0x00, 0x00, 0x80, 0x3f,
		0x00, 0x00, 0x00, 0xc0,
		0x00, 0x00, 0x00, 0x3f,
		0x00, 0x00, 0x50, 0x40,
	}
	f, err := Decode(file(`{"m":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}`, data...))
	if err != nil {
		t.Fatal(err)
	}
	want := &File{Tensors: []Tensor{{Name: "m", Shape: []int{2, 2}, Data: []float64{1, -2, 0.5, 3.25}}}}
	checkEqual(t, f, want)
}

func TestDecodeF64(t *testing.T) {
	data := []byte{
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, // 1
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0xc0, // -2.5
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f, // +Inf
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0xff, // -Inf
		0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x7f, // NaN with a payload
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, // -0
		0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // smallest subnormal
	}
	f, err := Decode(file(`{"v":{"dtype":"F64","shape":[7],"data_offsets":[0,56]}}`, data...))
	if err != nil {
		t.Fatal(err)
	}
	want := &File{Tensors: []Tensor{{Name: "v", Shape: []int{7}, Data: []float64{
		1, -2.5, math.Inf(1), math.Inf(-1), math.Float64frombits(0x7ff8000000000001), math.Copysign(0, -1), math.SmallestNonzeroFloat64,
	}}}}
	checkEqual(t, f, want)
}

// TestDecodeF32Special checks that NaN and infinities in F32 data are
// returned, not rejected.
func TestDecodeF32Special(t *testing.T) {
	f, err := Decode(file(`{"s":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}`,
		f32s(float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)))...))
	if err != nil {
		t.Fatal(err)
	}
	d := f.Tensors[0].Data
	if !math.IsNaN(d[0]) || !math.IsInf(d[1], 1) || !math.IsInf(d[2], -1) {
		t.Errorf("got %v, want [NaN +Inf -Inf]", d)
	}
}

// pythonHeader is the header Python's safetensors.torch.save_file writes for
//
//	save_file({"weight": torch.tensor([[1., 2.], [3., 4.]]),
//	           "bias": torch.tensor([0.5, -0.5])},
//	          path, metadata={"format": "pt"})
//
// compact JSON, metadata first, tensors sorted by name and laid out in that
// order, padded with spaces to 152 bytes, a multiple of 8.
const pythonHeader = `{"__metadata__":{"format":"pt"},` +
	`"bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},` +
	`"weight":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}}` +
	`   `

// pythonFile is the whole file for pythonHeader, byte by byte.
var pythonFile = append(append(
	[]byte{152, 0, 0, 0, 0, 0, 0, 0},
	pythonHeader...),
	0x00, 0x00, 0x00, 0x3f, // bias: 0.5
	0x00, 0x00, 0x00, 0xbf, // -0.5
	0x00, 0x00, 0x80, 0x3f, // weight: 1
	0x00, 0x00, 0x00, 0x40, // 2
	0x00, 0x00, 0x40, 0x40, // 3
	0x00, 0x00, 0x80, 0x40, // 4
)

var pythonWant = &File{
	Metadata: map[string]string{"format": "pt"},
	Tensors: []Tensor{
		{Name: "bias", Shape: []int{2}, Data: []float64{0.5, -0.5}},
		{Name: "weight", Shape: []int{2, 2}, Data: []float64{1, 2, 3, 4}},
	},
}

func TestDecodePythonFile(t *testing.T) {
	if len(pythonHeader) != 152 {
		t.Fatalf("pythonHeader is %d bytes, want 152", len(pythonHeader))
	}
	f, err := Decode(pythonFile)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, f, pythonWant)
}

// TestDecodeUnpaddedPythonFile decodes the Python writer's layout for one
// tensor, {"__metadata__":{...},"a":{...}}, whose 88-byte header needs no
// padding, and checks that Encode writes the same bytes.
func TestDecodeUnpaddedPythonFile(t *testing.T) {
	h := `{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}`
	if len(h)%8 != 0 {
		t.Fatalf("header is %d bytes, not a multiple of 8", len(h))
	}
	in := file(h, f32s(1, 2, 3, 4)...)
	f, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	want := &File{
		Metadata: map[string]string{"format": "pt"},
		Tensors:  []Tensor{{Name: "a", Shape: []int{2, 2}, Data: []float64{1, 2, 3, 4}}},
	}
	checkEqual(t, f, want)
	// Encode writes the same bytes.
	out, err := Encode(want, F32)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(in) {
		t.Errorf("Encode wrote\n%q\nwant\n%q", out, in)
	}
}

// TestDecodePythonMixedDTypes decodes a file as the Python writer lays out
// tensors of several dtypes: larger dtypes first, so offsets do not follow
// name order. Decode returns the tensors sorted by name anyway.
func TestDecodePythonMixedDTypes(t *testing.T) {
	h := `{"__metadata__":{"format":"pt"},` +
		`"scale":{"dtype":"F64","shape":[],"data_offsets":[0,8]},` +
		`"a":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}}`
	data := append(f64s(0.1), f32s(1, 2, 3, 4)...)
	f, err := Decode(file(h, data...))
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, f, &File{
		Metadata: map[string]string{"format": "pt"},
		Tensors: []Tensor{
			{Name: "a", Shape: []int{2, 2}, Data: []float64{1, 2, 3, 4}},
			{Name: "scale", Shape: []int{}, Data: []float64{0.1}},
		},
	})
}

func TestDecodeValid(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want *File
	}{
		{"empty header", file(`{}`), &File{Tensors: []Tensor{}}},
		{"empty header padded", file(`{}      `), &File{Tensors: []Tensor{}}},
		{"JSON whitespace padding", file("{} \t\r\n"), &File{Tensors: []Tensor{}}},
		{"whitespace inside", file("{ \"a\" : { \"dtype\" : \"F32\" , \"shape\" : [ ] , \"data_offsets\" : [ 0 , 4 ] } }", f32s(7)...),
			&File{Tensors: []Tensor{{Name: "a", Shape: []int{}, Data: []float64{7}}}}},
		{"empty metadata", file(`{"__metadata__":{}}`), &File{Metadata: map[string]string{}, Tensors: []Tensor{}}},
		{"metadata only", file(`{"__metadata__":{"k":"v","":"empty key","x":"\u00e9\n"}}`),
			&File{Metadata: map[string]string{"k": "v", "": "empty key", "x": "é\n"}, Tensors: []Tensor{}}},
		{"metadata last", file(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"__metadata__":{"k":"v"}}`, f64s(2)...),
			&File{Metadata: map[string]string{"k": "v"}, Tensors: []Tensor{{Name: "a", Shape: []int{1}, Data: []float64{2}}}}},
		{"scalar", file(`{"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}`, f64s(-3)...),
			&File{Tensors: []Tensor{{Name: "s", Shape: []int{}, Data: []float64{-3}}}}},
		{"fields in any order", file(`{"a":{"data_offsets":[0,8],"shape":[2],"dtype":"F32"}}`, f32s(1, 2)...),
			&File{Tensors: []Tensor{{Name: "a", Shape: []int{2}, Data: []float64{1, 2}}}}},
		{"tensors in any order", file(`{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32s(1, 2)...),
			&File{Tensors: []Tensor{{Name: "a", Shape: []int{1}, Data: []float64{1}}, {Name: "b", Shape: []int{1}, Data: []float64{2}}}}},
		{"empty tensors", file(`{`+
			`"e0":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},`+
			`"e1":{"dtype":"F64","shape":[3,0,2],"data_offsets":[0,0]},`+
			`"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},`+
			`"e2":{"dtype":"F32","shape":[0,9223372036854775807],"data_offsets":[4,4]}}`, f32s(5)...),
			&File{Tensors: []Tensor{
				{Name: "e0", Shape: []int{0}, Data: []float64{}},
				{Name: "e1", Shape: []int{3, 0, 2}, Data: []float64{}},
				{Name: "e2", Shape: []int{0, math.MaxInt}, Data: []float64{}},
				{Name: "x", Shape: []int{1}, Data: []float64{5}},
			}}},
		{"only an empty tensor", file(`{"e":{"dtype":"F64","shape":[0],"data_offsets":[0,0]}}`),
			&File{Tensors: []Tensor{{Name: "e", Shape: []int{0}, Data: []float64{}}}}},
		{"odd names", file(`{"a.b/c:d":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"\u0000\"\\ é":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}`, f32s(1, 2)...),
			&File{Tensors: []Tensor{
				{Name: "\x00\"\\ é", Shape: []int{}, Data: []float64{2}},
				{Name: "a.b/c:d", Shape: []int{}, Data: []float64{1}},
			}}},
		{"surrogate pairs and escaped backslashes", file(`{"__metadata__":{"\ud83d\ude00":"\\ud800","\\":"\"\\\u00e9"}}`),
			&File{Metadata: map[string]string{"😀": `\ud800`, `\`: `"\é`}, Tensors: []Tensor{}}},
		{"unaligned header", file(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, f64s(1.5)...),
			&File{Tensors: []Tensor{{Name: "a", Shape: []int{1}, Data: []float64{1.5}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Decode(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			checkEqual(t, f, tt.want)
		})
	}
}

// TestDecodeDoesNotAlias checks that the decoded File does not share memory
// with the input.
func TestDecodeDoesNotAlias(t *testing.T) {
	in := file(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, f64s(1)...)
	f, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 0xff
	}
	if f.Tensors[0].Name != "a" || f.Tensors[0].Data[0] != 1 {
		t.Errorf("decoded File changed with its input: %+v", f)
	}
}

// checkEqual fails t unless got and want hold the same metadata (nil and
// empty are different) and tensors, comparing values bit for bit.
func checkEqual(t *testing.T, got, want *File) {
	t.Helper()
	if diff := fileDiff(got, want); diff != "" {
		t.Errorf("%s\ngot  %+v\nwant %+v", diff, got, want)
	}
}

// fileDiff describes the first difference between a and b, or returns "".
func fileDiff(a, b *File) string {
	if (a.Metadata == nil) != (b.Metadata == nil) {
		return "metadata nil in one file only"
	}
	if len(a.Metadata) != len(b.Metadata) {
		return "metadata lengths differ"
	}
	for k, v := range a.Metadata {
		if w, ok := b.Metadata[k]; !ok || v != w {
			return "metadata differs at key " + k
		}
	}
	if len(a.Tensors) != len(b.Tensors) {
		return "numbers of tensors differ"
	}
	for i := range a.Tensors {
		s, t := &a.Tensors[i], &b.Tensors[i]
		if s.Name != t.Name {
			return "tensor names differ: " + s.Name + ", " + t.Name
		}
		if len(s.Shape) != len(t.Shape) || len(s.Data) != len(t.Data) {
			return "tensor " + s.Name + ": shape or data lengths differ"
		}
		for j := range s.Shape {
			if s.Shape[j] != t.Shape[j] {
				return "tensor " + s.Name + ": shapes differ"
			}
		}
		for j := range s.Data {
			if math.Float64bits(s.Data[j]) != math.Float64bits(t.Data[j]) {
				return "tensor " + s.Name + ": data differ"
			}
		}
	}
	return ""
}
