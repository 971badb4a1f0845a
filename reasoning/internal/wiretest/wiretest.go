// Package wiretest has the helpers that the backends' wire-level tests
// share: test servers that misbehave in the ways real ones do, and the check
// of the errors a backend must then report.
package wiretest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
