package gguf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// reader decodes the parts of GGUF that the tests check.
type reader struct {
	b   []byte
	off int
}

func (r *reader) u32() uint32 { v := binary.LittleEndian.Uint32(r.b[r.off:]); r.off += 4; return v }
func (r *reader) u64() uint64 { v := binary.LittleEndian.Uint64(r.b[r.off:]); r.off += 8; return v }
func (r *reader) str() string {
	n := int(r.u64())
	s := string(r.b[r.off : r.off+n])
	r.off += n
	return s
}

func (r *reader) value(typ uint32) any {
	switch typ {
	case typeUint32:
		return r.u32()
	case typeInt32:
		return int32(r.u32())
	case typeFloat32:
		return math.Float32frombits(r.u32())
	case typeBool:
		r.off++
		return r.b[r.off-1] == 1
	case typeString:
		return r.str()
	case typeArray:
		elem, n := r.u32(), int(r.u64())
		var out []any
		for range n {
			out = append(out, r.value(elem))
		}
		return out
	}
	panic("unknown type")
}

func TestWriteTo(t *testing.T) {
	f := &File{
		KV: []KV{
			{"general.architecture", "llama"},
			{"n", uint32(7)},
			{"i", int32(-2)},
			{"eps", float32(1e-5)},
			{"flag", true},
			{"tokens", []string{"a", "bc"}},
			{"scores", []float32{0.5}},
			{"types", []int32{1, 3}},
		},
		Tensors: []Tensor{
			{Name: "w", Shape: []uint64{3}, Data: []float32{1, 2, 3}},
			{Name: "m", Shape: []uint64{2, 2}, Data: []float32{4, 5, 6, 7}},
		},
	}
	var buf bytes.Buffer
	n, err := f.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("wrote %d of %d bytes: %v", n, buf.Len(), err)
	}
	r := &reader{b: buf.Bytes()}
	if string(r.b[:4]) != "GGUF" {
		t.Fatalf("magic %q", r.b[:4])
	}
	r.off = 4
	if v, nt, nkv := r.u32(), r.u64(), r.u64(); v != 3 || nt != 2 || nkv != 8 {
		t.Fatalf("version %d, %d tensors, %d kv", v, nt, nkv)
	}
	want := map[string]string{
		"general.architecture": "llama", "n": "7", "i": "-2", "eps": "1e-05", "flag": "true",
		"tokens": "[a bc]", "scores": "[0.5]", "types": "[1 3]",
	}
	for range 8 {
		k := r.str()
		v := r.value(r.u32())
		if got := fmt.Sprint(v); got != want[k] {
			t.Errorf("%s = %s, want %s", k, got, want[k])
		}
	}
	type info struct {
		shape  []uint64
		offset uint64
	}
	var infos []info
	for range 2 {
		r.str()
		dims := r.u32()
		var shape []uint64
		for range dims {
			shape = append(shape, r.u64())
		}
		if typ := r.u32(); typ != ggmlTypeF32 {
			t.Fatalf("type %d", typ)
		}
		infos = append(infos, info{shape, r.u64()})
	}
	start := (r.off + alignment - 1) / alignment * alignment
	if infos[1].offset != 32 || infos[0].offset != 0 {
		t.Fatalf("offsets %d, %d; want 0 and 32 (aligned)", infos[0].offset, infos[1].offset)
	}
	x := math.Float32frombits(binary.LittleEndian.Uint32(r.b[start+int(infos[1].offset)+12:]))
	if x != 7 || len(r.b) != start+64 {
		t.Fatalf("last value %v, file length %d, want 7 and %d", x, len(r.b), start+64)
	}
}

func TestValidate(t *testing.T) {
	for name, f := range map[string]*File{
		"duplicate key":    {KV: []KV{{"a", uint32(1)}, {"a", uint32(2)}}},
		"unsupported type": {KV: []KV{{"a", 1.5}}},
		"duplicate tensor": {Tensors: []Tensor{{Name: "t", Shape: []uint64{1}, Data: []float32{1}}, {Name: "t", Shape: []uint64{1}, Data: []float32{1}}}},
		"shape mismatch":   {Tensors: []Tensor{{Name: "t", Shape: []uint64{2, 2}, Data: []float32{1}}}},
		"no shape":         {Tensors: []Tensor{{Name: "t", Data: []float32{1}}}},
	} {
		if _, err := f.WriteTo(&bytes.Buffer{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	f := &File{Tensors: []Tensor{{Name: "t", Shape: []uint64{1}, Data: []float32{1}}}}
	if err := f.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b[:4]) != "GGUF" {
		t.Fatalf("%v %q", err, b)
	}
	// A failed write leaves neither the file nor a temporary behind.
	bad := &File{KV: []KV{{"a", 1.5}}}
	if err := bad.WriteFile(filepath.Join(dir, "bad.gguf")); err == nil {
		t.Fatal("no error")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("left %d files", len(entries))
	}
}
