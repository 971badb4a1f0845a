package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// The benchmark without PyTorch, at small sizes: every case is timed at
// each precision and thread count, the WebAssembly rows and the module's
// numbers are there, the JSON has the fields, and the PyTorch
// columns say why they are empty.
func TestBenchWithoutTorch(t *testing.T) {
	o := benchOptions{python: "/no/python", scripts: "/no/scripts", scale: 1e-3, threads: []int{1, 2},
		skipTorch: errors.New("--torch=false"), wasm: true,
		cases: []benchCase{
			{name: "latency, 1 sample, 30 iterations", h: 8, n: 1},
			{name: "batch 16, Anderson to 1e-4", h: 8, n: 16},
			{name: "deq-conv 8×8, batch 2, Anderson to 1e-4", h: 32, n: 2, conv: true},
		},
		wasmCases: []benchCase{
			{name: "latency, 1 sample, 30 iterations", h: 8, n: 1},
			{name: "batch 4, Anderson to 1e-4", h: 8, n: 4},
		}}
	r, err := runBench(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Cases) != 3*2*2 || len(r.Wasm) != 2 || r.Module == nil {
		t.Fatalf("%d case rows, %d wasm rows, module %v", len(r.Cases), len(r.Wasm), r.Module)
	}
	for _, c := range r.Cases {
		if !(c.GoMedianUS > 0) || c.TorchMedianUS != nil || !slices.Contains([]string{"f32", "f64"}, c.Precision) || c.GoPrecision != c.Precision {
			t.Errorf("row %+v", c)
		}
	}
	for _, w := range r.Wasm {
		if !(w.NativeMedianUS > 0) || !(w.WasmMedianUS > 0) {
			t.Errorf("wasm row %+v", w)
		}
	}
	if m := r.Module; m.Bytes <= m.GzipBytes || m.GzipBytes <= 0 || !(m.CachedStartUS > 0) || !(m.UncachedCompileUS > 0) {
		t.Errorf("module %+v", m)
	}

	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases  []map[string]any `json:"cases"`
		Wasm   []map[string]any `json:"wasm"`
		Module map[string]any   `json:"module"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"case", "kind", "h", "batch", "precision", "threads", "go_median_us", "torch_median_us"} {
		if _, ok := doc.Cases[0][k]; !ok {
			t.Errorf("cases[0] has no %q: %v", k, doc.Cases[0])
		}
	}
	for _, k := range []string{"case", "native_median_us", "wasm_median_us"} {
		if _, ok := doc.Wasm[0][k]; !ok {
			t.Errorf("wasm[0] has no %q", k)
		}
	}
	for _, k := range []string{"bytes", "gzip_bytes", "cached_start_us", "uncached_compile_us"} {
		if _, ok := doc.Module[k]; !ok {
			t.Errorf("module has no %q", k)
		}
	}

	var out bytes.Buffer
	if err := r.print(&out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if !strings.Contains(lines[0], "Go median µs") || !strings.Contains(out.String(), "wasm ÷ native") {
		t.Fatalf("bench printed:\n%s", out.String())
	}
	for i, c := range r.Cases {
		f := strings.Fields(lines[1+i])
		if !strings.HasPrefix(strings.TrimSpace(lines[1+i]), c.Case) || strings.Join(f[len(f)-4:], " ") != "- - - -" {
			t.Errorf("row %d: %q", i, lines[1+i])
		}
	}
	if !strings.Contains(out.String(), "PyTorch: not run: --torch=false") {
		t.Errorf("no word on PyTorch:\n%s", out.String())
	}
	// The flags reach it.
	if _, _, err := run(t, "bench", "--repeat-scale", "0"); err == nil || !strings.Contains(err.Error(), "--repeat-scale 0") {
		t.Errorf("--repeat-scale 0: %v", err)
	}
	if _, _, err := run(t, "bench", "--threads", "0"); err == nil || !strings.Contains(err.Error(), "--threads 0") {
		t.Errorf("--threads 0: %v", err)
	}
}
