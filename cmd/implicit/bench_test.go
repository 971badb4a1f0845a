package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// The benchmark's Go side, at small sizes and without PyTorch: every kind
// of row is timed and printed, and the PyTorch columns say why they are
// empty.
func TestBenchWithoutTorch(t *testing.T) {
	cases := []benchCase{
		{name: "latency, 1 sample, 30 iterations", h: 8, repeat: 3},
		{name: "batch 16, Anderson to 1e-4", h: 8, repeat: 3, batch: true, n: 16},
		{name: "deq-conv 8×8, batch 2, Anderson to 1e-4", h: 32, repeat: 3, conv: true, n: 2, precision: "f32"},
	}
	var out bytes.Buffer
	if err := runBench(t.Context(), &out, "/no/python", "/no/scripts", 1, cases, errors.New("--torch=false")); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if len(lines) < 4 || !strings.Contains(lines[0], "Go median µs") {
		t.Fatalf("bench printed:\n%s", out.String())
	}
	for i, c := range cases {
		f := strings.Fields(lines[1+i])
		// name…, h, Go median, Go min, f-evals "mean / max", precision, then
		// the four PyTorch columns, empty.
		if !strings.HasPrefix(strings.TrimSpace(lines[1+i]), c.name) || len(f) < 11 || strings.Join(f[len(f)-4:], " ") != "- - - -" {
			t.Errorf("row %d: %q", i, lines[1+i])
		}
	}
	if !strings.Contains(out.String(), "PyTorch: not run: --torch=false") {
		t.Errorf("no word on PyTorch:\n%s", out.String())
	}
	// The flag reaches it.
	if _, _, err := run(t, "bench", "--repeat-scale", "0"); err == nil || !strings.Contains(err.Error(), "--repeat-scale 0") {
		t.Errorf("--repeat-scale 0: %v", err)
	}
}
