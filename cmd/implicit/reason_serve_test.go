package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goopenai "github.com/sashabaranov/go-openai"
)

// serveLiveness bounds the waits for what must happen: generous, for a
// busy machine.
const serveLiveness = time.Minute

// serveLog is the command's JSON log, safe to read while it is written.
type serveLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *serveLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *serveLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// find returns the first record with message msg, or nil.
func (l *serveLog) find(msg string) map[string]any {
	for _, line := range strings.Split(l.String(), "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(line), &r) == nil && r["msg"] == msg {
			return r
		}
	}
	return nil
}

// wait returns the first record with message msg, waiting for it.
func (l *serveLog) wait(t *testing.T, msg string) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(serveLiveness); ; time.Sleep(10 * time.Millisecond) {
		if r := l.find(msg); r != nil {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q record in the log within %v:\n%s", msg, serveLiveness, l.String())
		}
	}
}

// startServe runs "implicit reason serve args…" with a JSON log on a free
// port until ctx ends; it returns the API's base URL, the log, and the
// command's result.
func startServe(t *testing.T, ctx context.Context, args ...string) (string, *serveLog, <-chan error) {
	t.Helper()
	log := &serveLog{}
	root := newRootCmd()
	root.SetArgs(append([]string{"reason", "serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...))
	root.SetOut(log)
	root.SetErr(log)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	// Wait for the address, unless the command ends first.
	for deadline := time.Now().Add(serveLiveness); ; time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("the command ended: %v\n%s", err, log.String())
		default:
		}
		if rec := log.find("listening"); rec != nil {
			url, _ := rec["url"].(string)
			return url, log, done
		}
		if time.Now().After(deadline) {
			t.Fatalf("not listening within %v:\n%s", serveLiveness, log.String())
		}
	}
}

func serveClient(url string) *goopenai.Client {
	c := goopenai.DefaultConfig("")
	c.BaseURL = url
	return goopenai.NewClientWithConfig(c)
}

func waitServe(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(serveLiveness):
		t.Fatalf("the command has not ended within %v", serveLiveness)
		return nil
	}
}

func TestReasonServe(t *testing.T) {
	var prompts []string
	var mu sync.Mutex
	url := fakeOllama(t, func(prompt string) string {
		mu.Lock()
		defer mu.Unlock()
		prompts = append(prompts, prompt)
		return "42"
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, log, done := startServe(t, ctx, "--url", url, "--model", "tiny", "--rounds", "4")
	c := serveClient(base)
	resp, err := c.CreateChatCompletion(ctx, goopenai.ChatCompletionRequest{
		Model:    "tiny",
		Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "What is 6 times 7?"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The fake says 42 twice: the fixed point, 10 tokens a round.
	if resp.Choices[0].Message.Content != "42" || resp.Usage.CompletionTokens != 20 || resp.Header().Get("Implicit-Status") != "fixed point" {
		t.Fatalf("got %+v, %v", resp, resp.Header())
	}
	mu.Lock()
	if len(prompts) != 2 || !strings.Contains(prompts[0], "What is 6 times 7?") {
		t.Errorf("prompts %q", prompts)
	}
	mu.Unlock()
	models, err := c.ListModels(ctx)
	if err != nil || len(models.Models) != 1 || models.Models[0].ID != "tiny" {
		t.Fatalf("%v, %+v", err, models)
	}
	// The model on the backend is missing: 404 with Ollama's pull command.
	missing, mlog, mdone := startServe(t, ctx, "--url", url, "--model", "missing")
	_, err = serveClient(missing).CreateChatCompletion(ctx, goopenai.ChatCompletionRequest{
		Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "q"}},
	})
	var e *goopenai.APIError
	if !errors.As(err, &e) || e.HTTPStatusCode != 404 || !strings.Contains(e.Message, "ollama pull missing") {
		t.Errorf("missing model: got %v", err)
	}
	if rec := mlog.wait(t, "request"); rec["status"] != 404.0 {
		t.Errorf("log record %v", rec)
	}

	cancel()
	if err := waitServe(t, done); err != nil {
		t.Fatalf("after the shutdown: %v", err)
	}
	waitServe(t, mdone)
	log.wait(t, "shut down")
	if rec := log.wait(t, "listening"); rec["model"] != "tiny" || rec["backend"] != "ollama" || rec["backend_url"] != url || rec["time_limit"] != "10m0s" {
		t.Errorf("listening record %v", rec)
	}
}

// TestReasonServeSIGTERM sends the process SIGTERM with a request in
// flight: the server stops accepting, the request finishes, the command
// returns nil.
func TestReasonServeSIGTERM(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 8)
	url := fakeOllamaReplies(t, func(fakeRequest) (string, string) {
		started <- struct{}{}
		<-release
		return `{"reasoning": "r", "answer": "42"}`, "stop"
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, log, done := startServe(t, ctx, "--url", url, "--model", "tiny")
	answered := make(chan error, 1)
	go func() {
		resp, err := serveClient(base).CreateChatCompletion(ctx, goopenai.ChatCompletionRequest{
			Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "q"}},
		})
		if err == nil && resp.Choices[0].Message.Content != "42" {
			err = errors.New("answer " + resp.Choices[0].Message.Content)
		}
		answered <- err
	}()
	select {
	case <-started:
	case <-time.After(serveLiveness):
		t.Fatal("the request did not reach the backend")
	}
	// The command has caught SIGTERM since before it listened.
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	log.wait(t, "shutting down: no new connections; waiting for the requests in flight")
	select {
	case err := <-done:
		t.Fatalf("the command ended (%v) with a request in flight", err)
	default:
	}
	close(release)
	if err := <-answered; err != nil {
		t.Fatalf("the request in flight: %v", err)
	}
	if err := waitServe(t, done); err != nil {
		t.Fatalf("after SIGTERM: %v", err)
	}
}

func TestReasonServeErrors(t *testing.T) {
	url := fakeOllama(t, func(string) string { return "42" })
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--url", url}, "--model"},
		{[]string{"--url", url, "--model", "tiny", "--addr", "nowhere"}, "--addr nowhere"},
		{[]string{"--url", url, "--model", "tiny", "--rounds", "8", "--max-rounds", "6"}, "--rounds 8 is more than --max-rounds 6"},
		{[]string{"--url", url, "--model", "tiny", "--max-rounds", "0"}, "--max-rounds 0"},
		{[]string{"--url", url, "--model", "tiny", "--max-concurrent", "0"}, "--max-concurrent 0"},
		{[]string{"--url", url, "--model", "tiny", "--max-request-bytes", "0"}, "--max-request-bytes 0"},
		{[]string{"--url", url, "--model", "tiny", "--io-timeout", "0s"}, "--io-timeout 0s"},
		{[]string{"--url", url, "--model", "tiny", "--shutdown-timeout", "-1s"}, "--shutdown-timeout -1s"},
		{[]string{"--url", url, "--model", "tiny", "--log-format", "xml"}, "--log-format"},
		{[]string{"--url", url, "--model", "tiny", "--log-level", "loud"}, "--log-level"},
		{[]string{"--url", url, "--model", "tiny", "extra"}, "unknown command"},
	} {
		_, _, err := run(t, append([]string{"reason", "serve"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error naming %q", tc.args, err, tc.want)
		}
	}
}
