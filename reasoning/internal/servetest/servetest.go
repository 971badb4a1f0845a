// Package logtest collects what a process or a log/slog logger writes, for
// tests that read it while it is being written.
package logtest

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"
)

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
