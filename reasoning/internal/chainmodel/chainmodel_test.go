package chainmodel

import (
	"bytes"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/reasoning/internal/gguf"
)

func kv(f *gguf.File, key string) any {
	for _, e := range f.KV {
		if e.Key == key {
			return e.Value
		}
	}
	return nil
}

func TestBuild(t *testing.T) {
	f, err := Build([]Chain{
		{Trigger: "<|a|>", Pieces: []string{"x y", "z"}},
		{Trigger: "<|b|>", Pieces: []string{"p", "q"}, Loop: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	tokens := kv(f, "tokenizer.ggml.tokens").([]string)
	if n := len(tokens); n != 3+256+6 {
		t.Fatalf("%d tokens", n)
	}
	seen := map[string]bool{}
	for _, tok := range tokens {
		if seen[tok] {
			t.Fatalf("token %q twice", tok)
		}
		seen[tok] = true
	}
	if !seen["x\u2581y"] || kv(f, "tokenizer.ggml.add_space_prefix") != false {
		t.Error("spaces must be written as U+2581 and no space prefix added")
	}

	// Follow the weights: the successor of each token is the argmax of its
	// output row, read through the one-hot embedding.
	var embd, out gguf.Tensor
	for _, ts := range f.Tensors {
		switch ts.Name {
		case "token_embd.weight":
			embd = ts
		case "output.weight":
			out = ts
		}
	}
	nEmbd, nVocab := int(embd.Shape[0]), int(embd.Shape[1])
	id := func(s string) int {
		for i, tok := range tokens {
			if tok == s {
				return i
			}
		}
		t.Fatalf("no token %q", s)
		return -1
	}
	next := func(tok int) int {
		slot := -1
		for j := range nEmbd {
			if embd.Data[tok*nEmbd+j] == 1 {
				slot = j
			}
		}
		best, bestLogit := -1, float32(0)
		for v := range nVocab {
			if l := out.Data[v*nEmbd+slot]; l > bestLogit {
				best, bestLogit = v, l
			}
		}
		return best
	}
	for _, step := range [][2]string{{"<|a|>", "x\u2581y"}, {"x\u2581y", "z"}, {"z", "</s>"}, {"<|b|>", "p"}, {"p", "q"}, {"q", "p"}} {
		if got := next(id(step[0])); got != id(step[1]) {
			t.Errorf("after %q: %q, want %q", step[0], tokens[got], step[1])
		}
	}
	if _, err := f.WriteTo(&bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
}

func TestBuildErrors(t *testing.T) {
	for name, chains := range map[string][]Chain{
		"duplicate piece":       {{Trigger: "<|a|>", Pieces: []string{"x", "x"}}},
		"piece across chains":   {{Trigger: "<|a|>", Pieces: []string{"x"}}, {Trigger: "<|b|>", Pieces: []string{"x"}}},
		"piece equal to a byte": {{Trigger: "<|a|>", Pieces: []string{"<0x41>"}}},
		"empty chain":           {{Trigger: "<|a|>"}},
		"empty piece":           {{Trigger: "<|a|>", Pieces: []string{""}}},
	} {
		if _, err := Build(chains); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), "chainmodel") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
