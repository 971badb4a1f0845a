package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// scanAll walks data's tokens with the scanner. It reports whether data is
// one JSON value with only whitespace after it, the tokens in
// encoding/json's spelling, and whether an unpaired surrogate stopped it.
func scanAll(data []byte) (ok bool, toks []string, surrogate bool) {
	s := newScanner(data)
	for {
		t, err := s.next()
		if err != nil {
			if _, ok := errors.AsType[*formatError](err); ok {
				return false, nil, true
			}
			return err == io.EOF, toks, false
		}
		switch t.kind {
		case tokObjectStart:
			toks = append(toks, "{")
		case tokObjectEnd:
			toks = append(toks, "}")
		case tokArrayStart:
			toks = append(toks, "[")
		case tokArrayEnd:
			toks = append(toks, "]")
		case tokString:
			toks = append(toks, fmt.Sprintf("string %q", t.text))
		case tokNumber:
			toks = append(toks, "number "+t.text)
		case tokTrue:
			toks = append(toks, "bool true")
		case tokFalse:
			toks = append(toks, "bool false")
		case tokNull:
			toks = append(toks, "null")
		}
	}
}

// jsonTokens walks data's tokens with encoding/json, in scanAll's spelling.
func jsonTokens(data []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var toks []string
	for {
		t, err := dec.Token()
		if err != nil {
			return toks
		}
		switch t := t.(type) {
		case json.Delim:
			toks = append(toks, t.String())
		case string:
			toks = append(toks, fmt.Sprintf("string %q", t))
		case json.Number:
			toks = append(toks, "number "+string(t))
		case bool:
			toks = append(toks, fmt.Sprintf("bool %v", t))
		case nil:
			toks = append(toks, "null")
		}
	}
}

// checkScanner compares the scanner with encoding/json on data: the same
// verdict on whether it is JSON, and the same tokens when it is. Invalid
// UTF-8 and unpaired surrogates, which encoding/json replaces and the
// scanner refuses, are left out.
func checkScanner(t *testing.T, data []byte) {
	t.Helper()
	if !utf8.Valid(data) {
		return
	}
	ok, toks, surrogate := scanAll(data)
	if surrogate {
		return
	}
	if want := json.Valid(data); ok != want {
		t.Fatalf("%q: scanner says valid %v, encoding/json %v", data, ok, want)
	}
	if !ok {
		return
	}
	if want := jsonTokens(data); strings.Join(toks, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%q: scanner tokens\n%s\nencoding/json\n%s", data, strings.Join(toks, "\n"), strings.Join(want, "\n"))
	}
}

var scannerCases = []string{
	`{}`, `[]`, `{"a":1}`, `{"a":[1,2,{"b":null}],"c":true,"d":false}`, ` { "a" : [ ] } `,
	`"x"`, `0`, `-0`, `-0.5e+10`, `1E3`, `12.25`, `01`, `1.`, `.5`, `-`, `1e`, `1e+`, `+1`, `0x1`,
	`{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{1:2}`, `{"a":1 "b":2}`, `[1 2]`,
	`{"a":[}`, `[{]}`, `{]`, `[}`, `{"a":{"b":[1]}}}`, `{}{}`, `{} x`, `{}    `, `{`, `[`, `"`,
	`tru`, `true`, `trUe`, `nul`, `null`, `falsey`, `[true,false,null]`,
	`"\"\\\/\b\f\n\r\t"`, `"\u00e9\u4e2d"`, `"\ud83d\ude00"`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\tb\"", "\"\x01\"",
	`{"__metadata__":{"k":"v"},"t":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}`,
	`[[[[[[[[[[]]]]]]]]]]`, `[[[[[[[[[[]]]]]]]]]`, "\t\r\n{}\n",
}

// TestScannerAgreesWithEncodingJSON checks the scanner against encoding/json
// on valid and invalid JSON.
func TestScannerAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range scannerCases {
		checkScanner(t, []byte(c))
	}
}

// FuzzScanner checks the scanner against encoding/json on any input.
func FuzzScanner(f *testing.F) {
	for _, c := range scannerCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkScanner(t, data) })
}
