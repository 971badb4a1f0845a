package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// TestEncodePythonFile checks that Encode writes byte for byte what
// Python's safetensors.torch.save_file writes.
func TestEncodePythonFile(t *testing.T) {
	// Tensors out of order, to check that Encode sorts them.
	in := &File{
		Metadata: map[string]string{"format": "pt"},
		Tensors: []Tensor{
			{Name: "weight", Shape: []int{2, 2}, Data: []float64{1, 2, 3, 4}},
			{Name: "bias", Shape: []int{2}, Data: []float64{0.5, -0.5}},
		},
	}
	got, err := Encode(in, F32)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(pythonFile) {
		t.Errorf("Encode wrote\n%q\nwant\n%q", got, pythonFile)
	}
	if in.Tensors[0].Name != "weight" {
		t.Errorf("Encode reordered its input")
	}
}

func TestEncodeExact(t *testing.T) {
	tests := []struct {
		name   string
		in     *File
		dtype  DType
		header string // including padding
		data   []byte
	}{
		{"empty", &File{}, F64, `{}      `, nil},
		{"empty metadata", &File{Metadata: map[string]string{}}, F32, `{"__metadata__":{}}     `, nil},
		{"metadata sorted", &File{Metadata: map[string]string{"b": "2", "a": "1"}}, F32, `{"__metadata__":{"a":"1","b":"2"}}      `, nil},
		{"scalar F64", &File{Tensors: []Tensor{{Name: "s", Data: []float64{1}}}}, F64,
			`{"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}   `, []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}},
		{"empty tensor", &File{Tensors: []Tensor{{Name: "e", Shape: []int{2, 0}}, {Name: "f", Shape: []int{1}, Data: []float64{-2}}}}, F32,
			`{"e":{"dtype":"F32","shape":[2,0],"data_offsets":[0,0]},"f":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}   `, []byte{0, 0, 0, 0xc0}},
		{"escapes", &File{Metadata: map[string]string{"k": "<&>\u2028\x7f"}, Tensors: []Tensor{{Name: "q\"\\\n\t\r\b\f\x01\x1fé", Shape: []int{0}}}}, F32,
			`{"__metadata__":{"k":"<&>` + "\u2028\x7f" + `"},"q\"\\\n\t\r\b\f\u0001\u001fé":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}` + "       ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.in, tt.dtype)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.header)%8 != 0 {
				t.Fatalf("test header is %d bytes, not a multiple of 8", len(tt.header))
			}
			want := append(binary.LittleEndian.AppendUint64(nil, uint64(len(tt.header))), tt.header...)
			want = append(want, tt.data...)
			if string(got) != string(want) {
				t.Errorf("Encode wrote\n%q\nwant\n%q", got, want)
			}
			if _, err := Decode(got); err != nil {
				t.Errorf("Decode of Encode's output: %v", err)
			}
		})
	}
}

// TestAppendString checks that appendString's output is a JSON string that
// encoding/json reads back as the input.
func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "a", `"`, `\`, "\x00\x1f\x7f", "<>&\u2028\u2029", "é中😀", "\ufffd", strings.Repeat("\n", 3)} {
		var got string
		if err := json.Unmarshal(appendString(nil, s), &got); err != nil || got != s {
			t.Errorf("appendString(%q) = %s, which reads back as %q, %v", s, appendString(nil, s), got, err)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	one := func(name string) Tensor { return Tensor{Name: name, Shape: []int{1}, Data: []float64{0}} }
	tests := []struct {
		name  string
		in    *File
		dtype DType
		want  string
	}{
		{"dtype BF16", &File{}, "BF16", "cannot encode dtype BF16 (want F32 or F64)"},
		{"dtype empty", &File{}, "", `cannot encode dtype "" (want F32 or F64)`},
		{"nil file", nil, F32, "cannot encode a nil *File"},
		{"empty name", &File{Tensors: []Tensor{one("")}}, F32, "empty tensor name"},
		{"reserved name", &File{Tensors: []Tensor{one("__metadata__")}}, F32, `tensor name "__metadata__" is reserved for metadata`},
		{"duplicate name", &File{Tensors: []Tensor{one("b"), one("a"), one("b")}}, F64, `duplicate tensor name "b"`},
		{"invalid UTF-8 name", &File{Tensors: []Tensor{one("\xff")}}, F32, `tensor name "\xff" is not valid UTF-8`},
		{"invalid UTF-8 metadata key", &File{Metadata: map[string]string{"\xfe": ""}}, F32, `__metadata__: key or value of "\xfe" is not valid UTF-8`},
		{"invalid UTF-8 metadata value", &File{Metadata: map[string]string{"k": "\xfe"}}, F32, `__metadata__: key or value of "k" is not valid UTF-8`},
		{"negative dimension", &File{Tensors: []Tensor{{Name: "a", Shape: []int{2, -1}}}}, F32, `tensor "a": shape [2 -1] has a negative dimension`},
		{"shape overflow", &File{Tensors: []Tensor{{Name: "a", Shape: []int{0, 1 << 32, 1 << 32}}}}, F32, `tensor "a": shape [0 4294967296 4294967296] has too many elements (overflow)`},
		{"short data", &File{Tensors: []Tensor{{Name: "a", Shape: []int{2, 2}, Data: []float64{1, 2, 3}}}}, F32, `tensor "a": shape [2 2] has 4 elements but Data has 3`},
		{"data for scalar", &File{Tensors: []Tensor{{Name: "a", Data: []float64{1, 2}}}}, F64, `tensor "a": shape [] has 1 elements but Data has 2`},
		{"no data for scalar", &File{Tensors: []Tensor{{Name: "a"}}}, F64, `tensor "a": shape [] has 1 elements but Data has 0`},
		{"F32 overflow", &File{Tensors: []Tensor{{Name: "a", Shape: []int{3}, Data: []float64{1, -1e39, 2}}}}, F32, `tensor "a": value -1e+39 at index 1 overflows F32`},
		{"F32 overflow max", &File{Tensors: []Tensor{{Name: "a", Shape: []int{1}, Data: []float64{math.MaxFloat64}}}}, F32, `overflows F32`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.in, tt.dtype)
			if err == nil {
				t.Fatalf("Encode succeeded with %q, want error containing %q", b, tt.want)
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

// TestEncodeF32Edges checks the values that convert to F32 without error:
// infinities and NaN already present, values rounding down to the largest
// float32, and values that lose precision or underflow.
func TestEncodeF32Edges(t *testing.T) {
	in := []float64{
		math.Inf(1), math.Inf(-1), math.NaN(),
		math.MaxFloat32, -math.MaxFloat32,
		math.Nextafter(math.MaxFloat32, math.Inf(1)), // rounds to MaxFloat32, not up to +Inf
		0.1, 1e-50, math.Copysign(0, -1),
	}
	b, err := Encode(&File{Tensors: []Tensor{{Name: "x", Shape: []int{len(in)}, Data: in}}}, F32)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	got := f.Tensors[0].Data
	for i, v := range in {
		want := float64(float32(v))
		if math.Float64bits(got[i]) != math.Float64bits(want) && !(math.IsNaN(got[i]) && math.IsNaN(want)) {
			t.Errorf("element %d: %v encoded as F32 decodes to %v, want %v", i, v, got[i], want)
		}
	}
}

func TestRoundTripF64(t *testing.T) {
	files := []*File{
		{},
		{Metadata: map[string]string{}},
		{Metadata: map[string]string{"format": "pt", "": "", "é\n\"": "\x00<>"}},
		{Tensors: []Tensor{{Name: "scalar", Shape: []int{}, Data: []float64{math.Pi}}}},
		{Tensors: []Tensor{{Name: "empty", Shape: []int{0, 3}, Data: []float64{}}}},
		{
			Metadata: map[string]string{"k": "v"},
			Tensors: []Tensor{
				{Name: "w", Shape: []int{2, 3}, Data: []float64{
					math.NaN(), math.Float64frombits(0x7ff0000000000001), math.Inf(1), math.Inf(-1),
					math.Copysign(0, -1), math.SmallestNonzeroFloat64,
				}},
				{Name: "b", Shape: []int{3}, Data: []float64{math.MaxFloat64, -1e-300, 0.1}},
				{Name: "c", Shape: []int{1, 1, 1, 1}, Data: []float64{42}},
				{Name: "\u2028 odd \"name\"", Shape: []int{0}, Data: nil},
			},
		},
	}
	for i, f := range files {
		b, err := Encode(f, F64)
		if err != nil {
			t.Fatalf("file %d: Encode: %v", i, err)
		}
		g, err := Decode(b)
		if err != nil {
			t.Fatalf("file %d: Decode: %v", i, err)
		}
		checkEqual(t, g, sortedCopy(f))
	}
}

func TestRoundTripF32(t *testing.T) {
	// Values exactly representable as float32 survive a round trip.
	f := &File{
		Metadata: map[string]string{"format": "pt"},
		Tensors: []Tensor{
			{Name: "a", Shape: []int{4}, Data: []float64{1, -2.5, 1 << 20, 0.1875}},
			{Name: "b", Shape: []int{2, 1}, Data: []float64{math.MaxFloat32, math.SmallestNonzeroFloat32}},
		},
	}
	b, err := Encode(f, F32)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, g, f)
	// The header says F32, and each element takes 4 bytes.
	if !strings.Contains(string(b), `"dtype":"F32"`) || len(b) != 8+int(binary.LittleEndian.Uint64(b))+6*4 {
		t.Errorf("unexpected F32 file %q", b)
	}
}

// sortedCopy returns f with its tensors sorted by name, as Decode returns
// them.
func sortedCopy(f *File) *File {
	g := &File{Metadata: f.Metadata, Tensors: append([]Tensor(nil), f.Tensors...)}
	for i := 1; i < len(g.Tensors); i++ {
		for j := i; j > 0 && g.Tensors[j].Name < g.Tensors[j-1].Name; j-- {
			g.Tensors[j], g.Tensors[j-1] = g.Tensors[j-1], g.Tensors[j]
		}
	}
	return g
}

// An I64 tensor (a BatchNorm's num_batches_tracked) is written as integers,
// before the float tensors as the reference writer orders dtypes, and comes
// back with its dtype; a value that is no whole number is refused.
func TestEncodeI64(t *testing.T) {
	for _, dtype := range []DType{F32, F64} {
		f := &File{Metadata: map[string]string{}, Tensors: []Tensor{
			{Name: "a.weight", Shape: []int{2}, Data: []float64{0.5, -1}},
			{Name: "z.num_batches_tracked", Shape: []int{}, Data: []float64{12345}, DType: I64},
		}}
		b, err := Encode(f, dtype)
		if err != nil {
			t.Fatal(err)
		}
		hdr := string(b[8 : 8+binary.LittleEndian.Uint64(b)])
		want := `"z.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]}`
		if !strings.Contains(hdr, want) || strings.Index(hdr, "z.num") > strings.Index(hdr, "a.weight") {
			t.Errorf("%s: header %s, want the I64 tensor first: %s", dtype, hdr, want)
		}
		back, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := back.Tensors[1]; got.DType != I64 || got.Data[0] != 12345 || back.Tensors[0].DType != dtype {
			t.Errorf("%s: decoded %+v", dtype, back.Tensors)
		}
	}
	for _, v := range []float64{0.5, math.Inf(1), 1 << 54} {
		f := &File{Tensors: []Tensor{{Name: "n", Shape: []int{}, Data: []float64{v}, DType: I64}}}
		if _, err := Encode(f, F64); !errors.Is(err, ErrFormat) {
			t.Errorf("I64 value %v: %v", v, err)
		}
	}
}
