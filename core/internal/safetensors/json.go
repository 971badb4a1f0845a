package safetensors

import (
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The header is read by this small JSON scanner, not encoding/json: the
// header's grammar needs no reflection, and encoding/json with the reflect
// and time code it keeps alive was a tenth of the WebAssembly module's code
// (RATIONALE.md, "The guest's size"). The scanner checks the grammar as
// encoding/json's Decoder.Token does, token by token, so that the walk in
// decode.go can refuse repeated keys, which unmarshaling would silently
// merge. json_test.go checks it against encoding/json.

// tokenKind is the kind of a JSON token.
type tokenKind uint8

const (
	tokObjectStart tokenKind = iota + 1
	tokObjectEnd
	tokArrayStart
	tokArrayEnd
	tokString
	tokNumber
	tokTrue
	tokFalse
	tokNull
)

// token is one JSON token: its kind, and for a string its decoded value,
// for a number its text.
type token struct {
	kind tokenKind
	text string
}

// SyntaxError is a header that is not JSON. Offset counts bytes from the
// header's start (the file's ninth byte) to where the error was found.
type SyntaxError struct {
	msg    string
	Offset int64
}

func (e *SyntaxError) Error() string { return e.msg }

// scanState is what the grammar allows next.
type scanState uint8

const (
	needValue      scanState = iota // the top level, after ':', after an array's ','
	needValueOrEnd                  // after '['
	needKeyOrEnd                    // after '{'
	needKey                         // after an object's ','
	needColon                       // after a key
	needCommaOrEnd                  // after a value in an object or array
	scanDone                        // after the top-level value
)

// jsonScanner reads the tokens of one JSON value from data. Its memory use
// is bounded by data's length (the nesting stack and decoded strings).
type jsonScanner struct {
	data  []byte
	pos   int
	stack []byte // '{' or '[' for each open object or array
	state scanState
}

func newScanner(data []byte) *jsonScanner { return &jsonScanner{data: data} }

// offset returns how many bytes have been read.
func (s *jsonScanner) offset() int { return s.pos }

// more reports whether another element follows in the current object or
// array, as json.Decoder.More does.
func (s *jsonScanner) more() bool {
	s.skipSpace()
	return s.pos < len(s.data) && s.data[s.pos] != ']' && s.data[s.pos] != '}'
}

// next returns the next token. It returns io.EOF after the top-level value
// and io.ErrUnexpectedEOF if data ends before it; any other error is a
// *SyntaxError, or the *formatError of an unpaired surrogate.
func (s *jsonScanner) next() (token, error) {
	for {
		s.skipSpace()
		if s.pos == len(s.data) {
			if s.state == scanDone {
				return token{}, io.EOF
			}
			return token{}, io.ErrUnexpectedEOF
		}
		c := s.data[s.pos]
		switch s.state {
		case needColon:
			if c != ':' {
				return token{}, s.syntaxError("after object key")
			}
			s.pos++
			s.state = needValue
			continue
		case needCommaOrEnd:
			top := s.stack[len(s.stack)-1]
			switch {
			case c == ',':
				s.pos++
				if top == '{' {
					s.state = needKey
				} else {
					s.state = needValue
				}
				continue
			case c == '}' && top == '{', c == ']' && top == '[':
				return s.end(c), nil
			case top == '{':
				return token{}, s.syntaxError("after object key:value pair")
			}
			return token{}, s.syntaxError("after array element")
		case needKeyOrEnd, needKey:
			if c == '}' && s.state == needKeyOrEnd {
				return s.end(c), nil
			}
			if c != '"' {
				return token{}, s.syntaxError("looking for beginning of object key string")
			}
			text, err := s.str()
			if err != nil {
				return token{}, err
			}
			s.state = needColon
			return token{kind: tokString, text: text}, nil
		case needValueOrEnd:
			if c == ']' {
				return s.end(c), nil
			}
		case scanDone:
			return token{}, s.syntaxError("after top-level value")
		}
		return s.value(c)
	}
}

// value reads the token that begins a value, whose first byte is c.
func (s *jsonScanner) value(c byte) (token, error) {
	switch {
	case c == '{' || c == '[':
		s.pos++
		s.stack = append(s.stack, c)
		if c == '{' {
			s.state = needKeyOrEnd
			return token{kind: tokObjectStart}, nil
		}
		s.state = needValueOrEnd
		return token{kind: tokArrayStart}, nil
	case c == '"':
		text, err := s.str()
		if err != nil {
			return token{}, err
		}
		s.afterValue()
		return token{kind: tokString, text: text}, nil
	case c == '-' || '0' <= c && c <= '9':
		text, err := s.number()
		if err != nil {
			return token{}, err
		}
		s.afterValue()
		return token{kind: tokNumber, text: text}, nil
	}
	for _, lit := range [...]struct {
		word string
		kind tokenKind
	}{{"true", tokTrue}, {"false", tokFalse}, {"null", tokNull}} {
		if c != lit.word[0] {
			continue
		}
		for i := 1; i < len(lit.word); i++ {
			s.pos++
			if s.pos == len(s.data) {
				return token{}, io.ErrUnexpectedEOF
			}
			if s.data[s.pos] != lit.word[i] {
				return token{}, s.syntaxError("in literal " + lit.word)
			}
		}
		s.pos++
		s.afterValue()
		return token{kind: lit.kind}, nil
	}
	return token{}, s.syntaxError("looking for beginning of value")
}

// end reads the closing delimiter c of the innermost object or array.
func (s *jsonScanner) end(c byte) token {
	s.pos++
	s.stack = s.stack[:len(s.stack)-1]
	s.afterValue()
	if c == '}' {
		return token{kind: tokObjectEnd}
	}
	return token{kind: tokArrayEnd}
}

// afterValue sets the state that follows a complete value.
func (s *jsonScanner) afterValue() {
	if len(s.stack) == 0 {
		s.state = scanDone
	} else {
		s.state = needCommaOrEnd
	}
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

// number reads a number's text: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() (string, error) {
	start := s.pos
	if s.data[s.pos] == '-' {
		s.pos++
	}
	digits := func() (int, error) {
		n := 0
		for ; s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9'; s.pos++ {
			n++
		}
		if n == 0 {
			if s.pos == len(s.data) {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, s.syntaxError("in numeric literal")
		}
		return n, nil
	}
	if s.pos < len(s.data) && s.data[s.pos] == '0' {
		s.pos++ // a leading zero stands alone; what follows is checked by the grammar
	} else if _, err := digits(); err != nil {
		return "", err
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if _, err := digits(); err != nil {
			return "", err
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if _, err := digits(); err != nil {
			return "", err
		}
	}
	return string(s.data[start:s.pos]), nil
}

// str reads a string, s.data[s.pos] being its opening quote, and returns
// its value. The data is valid UTF-8 (parseHeader checks it first). An
// escape of half a UTF-16 surrogate pair without the other half is refused:
// encoding/json would decode it as U+FFFD, changing the name or text that
// holds it; serde_json, whose JSON is the format's in practice, refuses it.
func (s *jsonScanner) str() (string, error) {
	s.pos++
	start := s.pos
	var b *strings.Builder // only for a string with escapes
	for {
		if s.pos == len(s.data) {
			return "", io.ErrUnexpectedEOF
		}
		switch c := s.data[s.pos]; {
		case c == '"':
			text := string(s.data[start:s.pos])
			if b != nil {
				b.Write(s.data[start:s.pos])
				text = b.String()
			}
			s.pos++
			return text, nil
		case c < 0x20:
			return "", s.syntaxError("in string literal")
		case c == '\\':
			if b == nil {
				b = new(strings.Builder)
			}
			b.Write(s.data[start:s.pos])
			if err := s.escape(b); err != nil {
				return "", err
			}
			start = s.pos
		default:
			s.pos++
		}
	}
}

// escape decodes the escape at s.pos into b.
func (s *jsonScanner) escape(b *strings.Builder) error {
	at := s.pos
	s.pos++
	if s.pos == len(s.data) {
		return io.ErrUnexpectedEOF
	}
	c := s.data[s.pos]
	if c != 'u' {
		i := strings.IndexByte(`"\/bfnrt`, c)
		if i < 0 {
			return s.syntaxError("in string escape code")
		}
		b.WriteByte("\"\\/\b\f\n\r\t"[i])
		s.pos++
		return nil
	}
	r, err := s.hex4()
	if err != nil {
		return err
	}
	if utf16.IsSurrogate(r) {
		lo := rune(-1)
		if s.pos+1 < len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
			save := s.pos
			s.pos++
			if lo, err = s.hex4(); err != nil {
				return err
			}
			if r >= 0xdc00 || lo < 0xdc00 || lo > 0xdfff {
				s.pos = save
				lo = -1
			}
		}
		if lo < 0 {
			return errorf("header: unpaired UTF-16 surrogate %s at file byte %d", s.data[at:at+6], 8+at)
		}
		r = utf16.DecodeRune(r, lo)
	}
	b.WriteRune(r)
	return nil
}

// hex4 reads the four hex digits after the 'u' at s.pos.
func (s *jsonScanner) hex4() (rune, error) {
	var r rune
	for range 4 {
		s.pos++
		if s.pos == len(s.data) {
			return 0, io.ErrUnexpectedEOF
		}
		c := s.data[s.pos]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, s.syntaxError("in \\u hexadecimal character escape")
		}
		r = r<<4 | rune(d)
	}
	s.pos++
	return r, nil
}

// syntaxError reports the character at s.pos, found where context says.
func (s *jsonScanner) syntaxError(context string) error {
	r, _ := utf8.DecodeRune(s.data[s.pos:])
	return &SyntaxError{msg: "invalid character " + strconv.QuoteRune(r) + " " + context, Offset: int64(s.pos)}
}
