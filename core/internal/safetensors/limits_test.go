package safetensors

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A hostile header is refused by its limits before the JSON work grows
// with it: its length field, its number of tensors and of metadata
// entries, and a shape's rank. Each error names the limit.
func TestDecodeLimits(t *testing.T) {
	entries := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`, i)
		}
		b.WriteString("}")
		return b.String()
	}
	metadata := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"__metadata__":{`)
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"k%d":""`, i)
		}
		b.WriteString("}}")
		return b.String()
	}
	// A header one byte over the limit, valid JSON: one long metadata value.
	pad := `{"__metadata__":{"k":"`
	long := pad + strings.Repeat("x", maxHeaderSize+1-len(pad)-3) + `"}}`
	tests := []struct {
		name, header, want string
	}{
		{"header over the limit", long, fmt.Sprintf("header length %d exceeds the limit of %d bytes", maxHeaderSize+1, maxHeaderSize)},
		{"too many tensors", entries(maxTensors + 1), fmt.Sprintf("more than %d tensors", maxTensors)},
		{"too many metadata entries", metadata(maxMetadataEntries + 1), fmt.Sprintf("more than %d entries", maxMetadataEntries)},
		{"rank over the limit", `{"a":{"dtype":"F32","shape":[` + strings.Repeat("1,", maxRank) + `1],"data_offsets":[0,4]}}`,
			fmt.Sprintf("more than %d dimensions", maxRank)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := Decode(file(tt.header, zeros(4)...))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode: %v, want an error containing %q", err, tt.want)
			}
			t.Logf("%v in %v", err, time.Since(start))
		})
	}
	// At the limits a header is read.
	for _, h := range []string{entries(maxTensors), metadata(maxMetadataEntries)} {
		if _, err := Decode(file(h)); err != nil {
			t.Errorf("at the limit: %v", err)
		}
	}
}

// Encode refuses what Decode would refuse.
func TestEncodeLimits(t *testing.T) {
	f := &File{Tensors: []Tensor{{Name: "a", Shape: make([]int, maxRank+1), Data: nil}}}
	if _, err := Encode(f, F32); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d dimensions", maxRank)) {
		t.Errorf("rank %d: %v", maxRank+1, err)
	}
	f = &File{Metadata: map[string]string{}}
	for i := range maxMetadataEntries + 1 {
		f.Metadata[fmt.Sprint(i)] = ""
	}
	if _, err := Encode(f, F32); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d entries", maxMetadataEntries)) {
		t.Errorf("%d metadata entries: %v", maxMetadataEntries+1, err)
	}
}
