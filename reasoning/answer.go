package reasoning

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// AnswerSchema is the JSON schema asked for in structured output: free-form
// reasoning first, so that the format does not constrain the reasoning, and
// the final answer last.
const AnswerSchema = `{"type":"object","properties":{"reasoning":{"type":"string"},"answer":{"type":"string"}},"required":["reasoning","answer"],"additionalProperties":false}`

// An Extractor reads the final answer, and the reasoning that led to it,
// from a reply. Its errors wrap ErrNoAnswer.
type Extractor interface {
	Extract(reply string) (answer, reasoning string, err error)
}

// JSONAnswer reads a reply in the form of AnswerSchema. It accepts a number
// for the answer, and a reply wrapped in a Markdown code fence.
type JSONAnswer struct{}

func (JSONAnswer) Extract(reply string) (answer, reasoning string, err error) {
	s := strings.TrimSpace(reply)
	if rest, ok := strings.CutPrefix(s, "```"); ok {
		rest = strings.TrimPrefix(rest, "json")
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "```"))
	}
	var v struct {
		Reasoning string          `json:"reasoning"`
		Answer    json.RawMessage `json:"answer"`
	}
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return "", "", fmt.Errorf("%w: reply is not the JSON of AnswerSchema: %v", ErrNoAnswer, err)
	}
	var text string
	if err := json.Unmarshal(v.Answer, &text); err != nil {
		var num json.Number
		if err := json.Unmarshal(v.Answer, &num); err != nil {
			return "", "", fmt.Errorf("%w: JSON reply has no \"answer\" string or number", ErrNoAnswer)
		}
		text = num.String()
	}
	if strings.TrimSpace(text) == "" {
		return "", "", fmt.Errorf("%w: JSON reply has an empty \"answer\"", ErrNoAnswer)
	}
	return strings.TrimSpace(text), v.Reasoning, nil
}

// numberPattern matches numbers as written in text: a sign, a dollar sign,
// thousands separators and a decimal part are allowed.
var numberPattern = regexp.MustCompile(`-?\$?[0-9][0-9,]*(?:\.[0-9]+)?`)

// LastNumber reads the last number in a reply, without dollar signs and
// thousands separators. The whole reply is the reasoning.
type LastNumber struct{}

func (LastNumber) Extract(reply string) (answer, reasoning string, err error) {
	all := numberPattern.FindAllString(reply, -1)
	for i := len(all) - 1; i >= 0; i-- {
		n := strings.NewReplacer("$", "", ",", "").Replace(all[i])
		if n != "-" && n != "" {
			return n, reply, nil
		}
	}
	return "", "", fmt.Errorf("%w: reply has no number", ErrNoAnswer)
}

// Pattern reads the last match of Regexp in a reply: its first capturing
// group if it has one, else the whole match. The whole reply is the
// reasoning.
type Pattern struct {
	Regexp *regexp.Regexp
}

func (p Pattern) Extract(reply string) (answer, reasoning string, err error) {
	if p.Regexp == nil {
		return "", "", fmt.Errorf("%w: Pattern has no Regexp", ErrNoAnswer)
	}
	all := p.Regexp.FindAllStringSubmatch(reply, -1)
	if len(all) == 0 {
		return "", "", fmt.Errorf("%w: reply does not match %q", ErrNoAnswer, p.Regexp)
	}
	m := all[len(all)-1]
	answer = m[0]
	if len(m) > 1 {
		answer = m[1]
	}
	answer = strings.TrimSpace(answer)
	if answer == "" {
		return "", "", fmt.Errorf("%w: empty match of %q", ErrNoAnswer, p.Regexp)
	}
	return answer, reply, nil
}

// plainNumber is a number with nothing around it, after Normalize strips
// dollar signs, thousands separators and a final full stop.
var plainNumber = regexp.MustCompile(`^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$`)

// numberWithUnit is a number followed by at most three words of unit, or a
// per cent sign: "18 dollars", "7 red apples", "25%".
var numberWithUnit = regexp.MustCompile(`^([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))\s*(?:%|\pL+(?:\s+\pL+){0,2})$`)

// Normalize returns the form in which answers are compared: a number in its
// shortest form ("1,000.0" and "$1000" are "1000"), also when a unit follows
// it ("18 dollars" is "18"), other text in lower case with runs of white
// space made one space and a final full stop dropped.
func Normalize(answer string) string {
	s := strings.TrimSuffix(strings.TrimSpace(answer), ".")
	n := strings.NewReplacer("$", "", ",", "").Replace(s)
	if m := numberWithUnit.FindStringSubmatch(n); m != nil {
		n = m[1]
	}
	if plainNumber.MatchString(n) {
		if f, err := strconv.ParseFloat(n, 64); err == nil {
			if f == 0 {
				f = 0 // no "-0"
			}
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
	}
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}
