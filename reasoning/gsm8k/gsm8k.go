// Package gsm8k holds the GSM8K test split of grade-school maths problems
// (Cobbe et al., 2021; MIT licence, OpenAI), embedded so that evaluations run
// from any directory, and the rule for scoring answers to it.
package gsm8k

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/implicitlab/implicit/reasoning"
)

// testJSONLGz is testdata/gsm8k/test.jsonl, gzipped; TestEmbeddedMatchesTestdata
// keeps the two copies equal.
//
//go:embed test.jsonl.gz
var testJSONLGz []byte

// Problem is one GSM8K problem.
type Problem struct {
	Question string `json:"question"`
	Solution string `json:"answer"` // worked solution ending in "#### <number>"
	Answer   string `json:"-"`      // the number after "#### "
}

// Test returns the 1,319 problems of the embedded test split.
func Test() ([]Problem, error) {
	zr, err := gzip.NewReader(bytes.NewReader(testJSONLGz))
	if err != nil {
		return nil, fmt.Errorf("gsm8k: embedded data: %w", err)
	}
	return Read(zr)
}

// Read parses GSM8K problems in JSON Lines form.
func Read(r io.Reader) ([]Problem, error) {
	var ps []Problem
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var p Problem
		if err := json.Unmarshal(text, &p); err != nil {
			return nil, fmt.Errorf("gsm8k: line %d: %w", line, err)
		}
		i := strings.LastIndex(p.Solution, "#### ")
		if p.Question == "" || i < 0 {
			return nil, fmt.Errorf("gsm8k: line %d: want a question and an answer ending in \"#### <number>\"", line)
		}
		p.Answer = strings.TrimSpace(p.Solution[i+len("#### "):])
		ps = append(ps, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("gsm8k: %w", err)
	}
	return ps, nil
}

// Correct scores an answer as GSM8K does: the last number in answer (without
// dollar signs, thousands separators and a final full stop) against the
// reference answer, compared as numbers.
func Correct(answer, reference string) bool {
	num, _, err := reasoning.LastNumber{}.Extract(answer)
	return err == nil && reasoning.Normalize(num) == reasoning.Normalize(reference)
}
