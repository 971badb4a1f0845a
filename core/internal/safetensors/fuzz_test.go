package safetensors

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics, that what it accepts it
// decodes within a memory bound proportional to the input, and that what it
// accepts survives Encode (F64) and Decode unchanged. More seeds are in
// testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add(pythonFile)
	f.Add(file(`{}`))
	f.Add(file(`{"__metadata__":{"k":"v"}}`))
	f.Add(file(`{"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}`, f64s(1)...))
	f.Add(file(`{"e":{"dtype":"F32","shape":[0,2],"data_offsets":[0,0]},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32s(1, 2)...))
	f.Add(file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, zeros(8)...))
	f.Add(file(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, zeros(4)...))
	f.Add(file(`{"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}`, zeros(2)...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})

	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := Decode(in)
		if err != nil {
			if got != nil {
				t.Fatalf("Decode returned a File and error %v", err)
			}
			return
		}
		// Each decoded element came from at least 4 input bytes.
		elems := 0
		for _, tn := range got.Tensors {
			elems += len(tn.Data)
		}
		if elems > len(in)/4 {
			t.Fatalf("decoded %d elements from %d bytes", elems, len(in))
		}

		enc, err := Encode(got, F64)
		if err != nil {
			t.Fatalf("Encode of a decoded file: %v", err)
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode of re-encoded file: %v\n%q", err, enc)
		}
		if diff := fileDiff(again, got); diff != "" {
			t.Fatalf("round trip changed the file: %s\nfirst  %+v\nsecond %+v", diff, got, again)
		}
		// Encode's output is canonical: encoding it again changes nothing.
		enc2, err := Encode(again, F64)
		if err != nil {
			t.Fatalf("second Encode: %v", err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("Encode is not canonical:\n%q\n%q", enc, enc2)
		}
	})
}

// TestFuzzCorpus checks that the seed files named valid-* decode and those
// named invalid-* do not, so that the corpus keeps covering both.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		name := de.Name()
		valid := strings.HasPrefix(name, "valid-")
		if !valid && !strings.HasPrefix(name, "invalid-") {
			continue // a crasher saved by the fuzzer; FuzzDecode runs it
		}
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		quoted, ok := strings.CutPrefix(string(raw), "go test fuzz v1\n[]byte(")
		quoted, ok2 := strings.CutSuffix(quoted, ")\n")
		in, err := strconv.Unquote(quoted)
		if !ok || !ok2 || err != nil {
			t.Errorf("%s: not a one-[]byte corpus file", name)
			continue
		}
		if _, err := Decode([]byte(in)); (err == nil) != valid {
			t.Errorf("%s: Decode error = %v", name, err)
		}
	}
}
