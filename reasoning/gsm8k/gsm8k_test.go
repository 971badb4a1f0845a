package gsm8k

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"strings"
	"testing"
)

func TestEmbeddedMatchesTestdata(t *testing.T) {
	want, err := os.ReadFile("../../testdata/gsm8k/test.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(testJSONLGz))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("reasoning/gsm8k/test.jsonl.gz differs from testdata/gsm8k/test.jsonl; regenerate it with gzip -9n")
	}
}

func TestTest(t *testing.T) {
	ps, err := Test()
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1319 {
		t.Fatalf("got %d problems, want 1319", len(ps))
	}
	if p := ps[0]; !strings.HasPrefix(p.Question, "Janet") || p.Answer != "18" {
		t.Fatalf("first problem = %q, answer %q", p.Question[:20], p.Answer)
	}
	for i, p := range ps {
		if p.Answer == "" || strings.ContainsAny(p.Answer, " \n") {
			t.Fatalf("problem %d: answer %q", i, p.Answer)
		}
	}
}

func TestReadErrors(t *testing.T) {
	for name, in := range map[string]string{
		"malformed JSON": `{"question": "q", `,
		"no ####":        `{"question": "q", "answer": "42"}`,
		"no question":    `{"answer": "#### 42"}`,
	} {
		if _, err := Read(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%s: err = %v, want an error naming line 1", name, err)
		}
	}
}

func TestCorrect(t *testing.T) {
	for _, tc := range []struct {
		answer, reference string
		want              bool
	}{
		{"18", "18", true},
		{"She makes $18.", "18", true},
		{"18.00", "18", true},
		{"1,000 eggs", "1000", true},
		{"first 18, then 20", "18", false},
		{"-4", "-4", true},
		{"0.5", ".5", true},
		{"eighteen", "18", false},
		{"", "18", false},
	} {
		if got := Correct(tc.answer, tc.reference); got != tc.want {
			t.Errorf("Correct(%q, %q) = %v", tc.answer, tc.reference, got)
		}
	}
}
