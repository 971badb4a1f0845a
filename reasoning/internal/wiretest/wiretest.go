// Package wiretest has the helpers that the backends' wire-level tests
// share: test servers that misbehave in the ways real ones do, and the check
// of the errors a backend must then report.
package wiretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/implicitlab/implicit/reasoning"
)

// Serve starts a test server for h, closed when the test ends.
func Serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	// Reading the whole body first lets the server notice when the client
	// goes away, which ends r.Context() for handlers that hang.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// DropConnection writes partial, the start of a longer reply, then closes
// the connection.
func DropConnection(w http.ResponseWriter, partial string) {
	w.Header().Set("Content-Length", "100000")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, partial)
	w.(http.Flusher).Flush()
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// ClosedAddr returns a loopback address where nothing listens.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// CheckError checks that err wraps is (unless nil), is a
// *reasoning.ServerError with status (unless 0), and mentions message.
func CheckError(t testing.TB, err, is error, status int, message string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("got %v, want %v", err, is)
	}
	var se *reasoning.ServerError
	if status != 0 && (!errors.As(err, &se) || se.StatusCode != status) {
		t.Errorf("got %v, want a ServerError %d", err, status)
	}
	if !strings.Contains(err.Error(), message) {
		t.Errorf("error %q does not mention %q", err, message)
	}
}

// Protocol is what the loop tests need of a backend's wire format.
type Protocol struct {
	// Model returns the backend's Model for a test server whose chat
	// endpoint is h.
	Model func(t *testing.T, h http.HandlerFunc) reasoning.Model
	// Reply writes a complete reply with content, 9 completion tokens and
	// finish reason "stop".
	Reply func(w http.ResponseWriter, content string)
	// Busy writes a 503 error.
	Busy func(w http.ResponseWriter)
}

// CheckRefine runs the loop through p: a 503 first, which is retried, then
// an answer that changes once and then stays (a fixed point in round 3);
// then a reply without an answer, which fails the loop with the reply shown.
func CheckRefine(t *testing.T, p Protocol) {
	t.Helper()
	var calls atomic.Int32
	m := p.Model(t, func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if n == 1 {
			p.Busy(w)
			return
		}
		p.Reply(w, `{"reasoning":"r","answer":"`+map[int32]string{2: "5", 3: "6", 4: "6"}[n]+`"}`)
	})
	res, err := reasoning.Refine(context.Background(), m, "q", &reasoning.Settings{Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != reasoning.FixedPoint || res.Answer != "6" || len(res.Rounds) != 3 || res.Rounds[0].Attempts != 2 || res.CompletionTokens != 27 {
		t.Fatalf("got %s %q after %d rounds (attempts %d, tokens %d)", res.Status, res.Answer, len(res.Rounds), res.Rounds[0].Attempts, res.CompletionTokens)
	}

	m = p.Model(t, func(w http.ResponseWriter, r *http.Request) { p.Reply(w, "no idea") })
	_, err = reasoning.Refine(context.Background(), m, "q", nil)
	if !errors.Is(err, reasoning.ErrNoAnswer) || !strings.Contains(err.Error(), "no idea") {
		t.Fatalf("got %v", err)
	}
}

// CheckRequestTimeout runs the loop through p against a server that starts
// a reply with start and then hangs: each attempt ends at the request
// timeout, and the loop fails with ErrRequestTimeout after one retry.
//
// Nothing here depends on the machine's speed: the timeout is long enough
// for a loaded machine to send the request within it, but only the loop's
// own count of attempts is checked, not the server's, which misses an
// attempt whose timeout came before the request reached it; and the loop
// has minutes to end, against the 2 × 250 ms it takes.
func CheckRequestTimeout(t *testing.T, p Protocol, start func(w http.ResponseWriter)) {
	t.Helper()
	const timeout = 250 * time.Millisecond
	var calls atomic.Int32
	release := make(chan struct{}) // ends the handlers if the loop does not
	m := p.Model(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		start(w)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // before the server closes
	s := &reasoning.Settings{RequestTimeout: timeout, Retries: 1, Backoff: time.Millisecond}
	done := make(chan error, 1)
	t0 := time.Now()
	go func() {
		_, err := reasoning.Refine(context.Background(), m, "q", s)
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the loop has not ended 2 minutes after it started, with a request timeout of %v", timeout)
	}
	elapsed := time.Since(t0)
	if !errors.Is(err, reasoning.ErrRequestTimeout) || !strings.Contains(err.Error(), "after 2 attempts") {
		t.Fatalf("got %v, want %v after 2 attempts", err, reasoning.ErrRequestTimeout)
	}
	if elapsed < 2*timeout {
		t.Errorf("two attempts ended after %v, before two request timeouts of %v", elapsed, timeout)
	}
	t.Logf("%d of 2 attempts reached the server; %v", calls.Load(), elapsed)
}

// Long writes start, then filler again and again, n bytes in all or until
// the client goes away: a reply far longer than any limit of a test, which
// still ends, so that a test of a limit that is not kept fails rather than
// hangs.
func Long(w http.ResponseWriter, r *http.Request, start, filler string, n int) {
	if _, err := io.WriteString(w, start); err != nil {
		return
	}
	chunk := strings.Repeat(filler, max(1, 32<<10/len(filler)))
	for n -= len(start); n > 0 && r.Context().Err() == nil; n -= len(chunk) {
		if _, err := io.WriteString(w, chunk[:min(n, len(chunk))]); err != nil {
			return
		}
	}
}

// CheckReplyTooLarge runs the loop, streamed if stream is set, through the
// model that model returns for a test server whose chat endpoint is reply,
// a reply larger than the model's limit: the loop fails with
// reasoning.ErrReplyTooLarge, with an error that mentions limit, after one
// request: a reply too large is not retried.
func CheckReplyTooLarge(t *testing.T, model func(t *testing.T, h http.HandlerFunc) reasoning.Model, stream bool, reply http.HandlerFunc, limit string) {
	t.Helper()
	var calls atomic.Int32
	m := model(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		reply(w, r)
	})
	s := &reasoning.Settings{Backoff: time.Millisecond}
	if stream {
		s.OnToken = func(int, reasoning.Token) {}
	}
	_, err := reasoning.Refine(context.Background(), m, "q", s)
	if !errors.Is(err, reasoning.ErrReplyTooLarge) || !strings.Contains(err.Error(), limit) {
		t.Errorf("got %v, want %v naming the limit, %s", err, reasoning.ErrReplyTooLarge, limit)
	}
	if errors.Is(err, reasoning.ErrInterrupted) {
		t.Errorf("%v: a reply too large taken for an interrupted one", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d requests: a reply too large was retried", n)
	}
}

// CheckLongError checks that p's backend turns an error reply of 100 KiB
// into an error of a few lines.
func CheckLongError(t *testing.T, p Protocol) {
	t.Helper()
	m := p.Model(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"error":"%s"}`, strings.Repeat("é", 50<<10))
	})
	_, err := m.Chat(context.Background(), &reasoning.Request{})
	CheckError(t, err, nil, http.StatusInternalServerError, "(102400 bytes in all)")
	if err != nil && len(err.Error()) > 2000 {
		t.Errorf("an error of %d bytes", len(err.Error()))
	}
}

// CheckEmbedTooLarge runs the embedder that model returns, with replies
// limited to 1000 bytes, for the URL of a test server whose embedding
// endpoint, path, sends start and then numbers, far more than 1000 bytes:
// it fails with reasoning.ErrReplyTooLarge, naming the limit.
func CheckEmbedTooLarge(t *testing.T, path, start string, model func(url string) (reasoning.Embedder, error)) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { Long(w, r, start, "0.5,", 1<<20) })
	m, err := model(Serve(t, mux).URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Embed(context.Background(), []string{"a"})
	if !errors.Is(err, reasoning.ErrReplyTooLarge) || !strings.Contains(err.Error(), "1000 bytes") {
		t.Fatalf("got %v, want %v naming the limit, 1000 bytes", err, reasoning.ErrReplyTooLarge)
	}
}
