// Package wire classifies transport errors for the model backends, so that
// both report an unreachable server and a broken reply the same way, and
// bounds and watches their replies.
package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	"github.com/implicitlab/implicit/reasoning"
)

// Transport wraps an error from sending a request to, or reading a reply
// from, the server at url: a failed connection wraps
// reasoning.ErrUnreachable, a connection lost mid-reply
// reasoning.ErrInterrupted. Other errors are wrapped as they are.
func Transport(backend, url string, err error) error {
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("%s: %w: cannot connect to %s (is the server running?): %v", backend, reasoning.ErrUnreachable, url, err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return fmt.Errorf("%s: %w: connection to %s lost: %v", backend, reasoning.ErrInterrupted, url, err)
	}
	return fmt.Errorf("%s %s: %w", backend, url, err)
}

// Incomplete is the error for a reply stream that ended without its final
// message.
func Incomplete(backend, url string) error {
	return fmt.Errorf("%s: %w: the reply from %s ended before its final message", backend, reasoning.ErrInterrupted, url)
}

// ModelMissing reports whether the message of a 404 reply is about the
// model, as servers word it ("model 'x' not found", "The model `x` does not
// exist"), rather than about the path, as a wrong URL gets it ("404 page not
// found"): only the first means that the model should be pulled.
func ModelMissing(message string) bool {
	return strings.Contains(strings.ToLower(message), "model")
}

// Float64s converts an embedding to float64.
func Float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// DefaultMaxReplyBytes is the backends' default limit on the size of a
// reply.
const DefaultMaxReplyBytes = 64 << 20

// maxKept is how much of a line Reply keeps, to find error lines.
const maxKept = 4 << 10

// Reply watches the reply bodies of one request: it ends them, with an
// error wrapping reasoning.ErrReplyTooLarge, once they exceed Limit bytes in
// all, and notes what the HTTP client libraries hide: whether a body was
// read to its end, its longest line, and its first error line.
type Reply struct {
	// Limit is the most bytes read; none if 0 or negative.
	Limit int64

	mu      sync.Mutex
	n       int64
	over    bool
	eof     bool
	line    int    // length of the current line so far
	longest int    // length of the longest line
	cur     []byte // the current line's first maxKept bytes
	errLine []byte // the first line that is an error object
}

// Client returns a copy of c whose reply bodies r watches.
func (r *Reply) Client(c *http.Client) *http.Client {
	cc := *c
	next := cc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cc.Transport = roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err == nil {
			resp.Body = r.Body(resp.Body)
		}
		return resp, err
	})
	return &cc
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// Body returns b, watched by r.
func (r *Reply) Body(b io.ReadCloser) io.ReadCloser { return &watched{b, r} }

type watched struct {
	io.ReadCloser
	r *Reply
}

// errTooLarge is what a body returns past the limit; the backends report
// the limit with Reply.TooLarge.
var errTooLarge = fmt.Errorf("%w: over the limit on a reply's size", reasoning.ErrReplyTooLarge)

func (w *watched) Read(p []byte) (int, error) {
	r := w.r
	r.mu.Lock()
	if r.over {
		r.mu.Unlock()
		return 0, errTooLarge
	}
	if left := r.Limit - r.n; r.Limit > 0 && int64(len(p)) > left+1 {
		p = p[:left+1] // one byte more than allowed tells that there is more
	}
	r.mu.Unlock()
	n, err := w.ReadCloser.Read(p)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Limit > 0 && r.n+int64(n) > r.Limit {
		n = int(r.Limit - r.n)
		r.over, err = true, errTooLarge
	}
	r.n += int64(n)
	r.observe(p[:n])
	if err == io.EOF {
		r.eof = true
	}
	return n, err
}

// observe follows the lines of p, the next bytes of the reply.
func (r *Reply) observe(p []byte) {
	for len(p) > 0 {
		seg, rest, ended := bytes.Cut(p, []byte{'\n'})
		r.line += len(seg)
		r.longest = max(r.longest, r.line)
		if keep := min(len(seg), maxKept-len(r.cur)); keep > 0 {
			r.cur = append(r.cur, seg[:keep]...)
		}
		if !ended {
			return
		}
		if r.errLine == nil && errorLine(r.cur) {
			r.errLine = bytes.Clone(r.cur)
		}
		r.cur, r.line, p = r.cur[:0], 0, rest
	}
}

// errorLine reports whether line is a JSON error object, alone or as a
// server-sent event's data.
func errorLine(line []byte) bool {
	line = bytes.TrimSpace(line)
	if data, ok := bytes.CutPrefix(line, []byte("data:")); ok {
		line = bytes.TrimSpace(data)
	}
	return bytes.HasPrefix(line, []byte(`{"error"`))
}

// TooLarge returns the error for a reply over the limit from the server at
// url, or nil if the reply stayed within it.
func (r *Reply) TooLarge(backend, url string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.over {
		return nil
	}
	return fmt.Errorf("%s: %w: the reply from %s is over %s, the limit on a reply's size (MaxReplyBytes in the backend's Config)",
		backend, reasoning.ErrReplyTooLarge, url, Bytes(r.Limit))
}

// Err returns the error that ends a request, in ctx, to the server at url,
// whatever the client library returned: the context's, or that of a reply
// over the limit; nil if neither.
func (r *Reply) Err(ctx context.Context, backend, url string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return r.TooLarge(backend, url)
}

// Ended reports whether a body was read to its end.
func (r *Reply) Ended() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.eof
}

// Longest returns the length of the longest line read, without its
// newline.
func (r *Reply) Longest() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.longest
}

// ErrorLine returns the first line read that is a JSON error object (of a
// server-sent event, its data), up to its first 4 KiB; nil if none.
func (r *Reply) ErrorLine() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := bytes.TrimSpace(r.errLine)
	if data, ok := bytes.CutPrefix(line, []byte("data:")); ok {
		line = bytes.TrimSpace(data)
	}
	return line
}

// MaxReplyBytes returns the limit that a Config's MaxReplyBytes sets: the
// default for 0, none (0) for a negative number.
func MaxReplyBytes(n int64) int64 {
	switch {
	case n == 0:
		return DefaultMaxReplyBytes
	case n < 0:
		return 0
	}
	return n
}

// Bytes formats a size in bytes, in MiB or KiB where it is a whole number
// of them.
func Bytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// maxMessage is how much of a server's error message an error keeps.
const maxMessage = 1000

// Clip returns a server's error message, cut to its first 1000 bytes (on a
// character boundary) if it is longer: an error page must not flood the
// error.
func Clip(msg string) string {
	if len(msg) <= maxMessage {
		return msg
	}
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + fmt.Sprintf("… (%d bytes in all)", len(msg))
}

// SetFields sets the fields in set, as JSON, in req's body, a JSON object:
// for the fields that go-openai's request types lack or leave out (a
// temperature of 0, this project's extension fields).
func SetFields(req *http.Request, set map[string]any) error {
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return fmt.Errorf("request body is not a JSON object: %w", err)
	}
	for k, v := range set {
		if fields[k], err = json.Marshal(v); err != nil {
			return err
		}
	}
	if body, err = json.Marshal(fields); err != nil {
		return err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return nil
}
