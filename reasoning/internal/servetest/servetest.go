// Package servetest helps test servers: a buffer for what a process or a
// log/slog logger writes, read while it is written, and a server serving on
// a loopback port for as long as a test runs.
package servetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	goopenai "github.com/sashabaranov/go-openai"
)

// Liveness bounds the waits for what must happen: generous, so that a busy
// machine does not fail a test, while a hang still ends it.
const Liveness = time.Minute

// Serving is a server serving on a loopback port.
type Serving struct {
	URL    string             // http://127.0.0.1:PORT
	Stop   context.CancelFunc // ends Serve's context
	Served chan error         // Serve's result; a test that takes it puts nil back
}

// Serve runs srv.Serve on a free loopback port until Stop or the end of the
// test, which then fails if Serve has not returned nil within Liveness.
func Serve(t testing.TB, srv interface {
	Serve(context.Context, net.Listener) error
}) *Serving {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Serving{URL: "http://" + l.Addr().String(), Stop: stop, Served: make(chan error, 1)}
	go func() { s.Served <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-s.Served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(Liveness):
			t.Errorf("Serve has not returned %v after its context ended", Liveness)
		}
	})
	return s
}

// Buffer is a bytes.Buffer safe for concurrent writers and readers.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Logger returns a logger that writes JSON records of level and above to b.
func (b *Buffer) Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: level}))
}

// Records returns the JSON records written so far whose message is msg.
func (b *Buffer) Records(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(b.String(), "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(line), &r) == nil && r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// Wait returns the first record whose message is msg, waiting for it up to
// timeout; nil if none came.
func (b *Buffer) Wait(msg string, timeout time.Duration) map[string]any {
	for deadline := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		if recs := b.Records(msg); len(recs) > 0 {
			return recs[0]
		}
		if time.Now().After(deadline) {
			return nil
		}
	}
}

// Stream is a streamed chat completion read to its end.
type Stream struct {
	Chunks        []goopenai.ChatCompletionStreamResponse
	Content       string          // the deltas' content, joined
	Roles         []string        // the deltas' roles, where set
	FinishReasons []string        // where set
	Usage         *goopenai.Usage // the last chunk's that has one
}

// ReadStream reads st to its end (io.EOF, after "data: [DONE]") and closes it.
func ReadStream(st *goopenai.ChatCompletionStream) (*Stream, error) {
	defer st.Close()
	out := &Stream{}
	var content strings.Builder
	for {
		chunk, err := st.Recv()
		if errors.Is(err, io.EOF) {
			out.Content = content.String()
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out.Chunks = append(out.Chunks, chunk)
		for _, c := range chunk.Choices {
			content.WriteString(c.Delta.Content)
			if c.Delta.Role != "" {
				out.Roles = append(out.Roles, c.Delta.Role)
			}
			if c.FinishReason != "" {
				out.FinishReasons = append(out.FinishReasons, string(c.FinishReason))
			}
		}
		if chunk.Usage != nil {
			out.Usage = chunk.Usage
		}
	}
}
