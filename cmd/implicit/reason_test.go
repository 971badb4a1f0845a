package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/implicitlab/implicit/reasoning"
	"github.com/implicitlab/implicit/reasoning/gsm8k"
)

// fakeOllama is an Ollama chat endpoint whose replies answer(prompt) gives.
func fakeOllama(t *testing.T, answer func(prompt string) string) string {
	t.Helper()
	return fakeOllamaReplies(t, func(req fakeRequest) (string, string) {
		content, _ := json.Marshal(map[string]string{"reasoning": "work", "answer": answer(req.Messages[len(req.Messages)-1].Content)})
		return string(content), "stop"
	})
}

// fakeRequest is what fakeOllamaReplies reads of a chat request.
type fakeRequest struct {
	Model    string
	Messages []struct{ Content string }
	Options  map[string]any
}

// fakeOllamaReplies is an Ollama chat endpoint whose replies, and their
// done_reason, reply(request) gives.
func fakeOllamaReplies(t *testing.T, reply func(fakeRequest) (content, doneReason string)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req fakeRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.URL.Path != "/api/chat" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if req.Model != "tiny" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":"model '%s' not found"}`, req.Model)
			return
		}
		content, reason := reply(req)
		b, _ := json.Marshal(map[string]any{
			"message": map[string]string{"role": "assistant", "content": content},
			"done":    true, "done_reason": reason, "prompt_eval_count": 50, "eval_count": 10,
		})
		w.Write(append(b, '\n'))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestReason(t *testing.T) {
	url := fakeOllama(t, func(string) string { return "42" })
	trace := filepath.Join(t.TempDir(), "trace.json")
	out, _, err := run(t, "reason", "--url", url, "--model", "tiny", "--trace", trace, "What is 6 times 7?")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"round 1: 42", "round 2: 42", "answer: 42", "stopped: fixed point after 2 rounds"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	var res reasoning.Result
	if err := json.Unmarshal(b, &res); err != nil || res.Status != reasoning.FixedPoint || len(res.Rounds) != 2 ||
		!strings.Contains(res.Rounds[1].Messages[0].Content, "What is 6 times 7?") {
		t.Fatalf("trace: %v, %+v", err, res)
	}

	// The trace on standard output leaves the progress on standard error.
	out, errOut, err := run(t, "reason", "--url", url, "--model", "tiny", "--trace", "-", "--self-consistency", "3", "q")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Status != reasoning.VoteSettled || res.Votes["42"] != 2 {
		t.Fatalf("self-consistency trace: %v, %s %v", err, res.Status, res.Votes)
	}
	if !strings.Contains(errOut, "stopped: vote settled after 2 rounds") {
		t.Errorf("progress: %s", errOut)
	}
}

func TestReasonErrors(t *testing.T) {
	url := fakeOllama(t, func(string) string { return "42" })
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"reason", "--url", url, "q"}, "--model"},
		{[]string{"reason", "--url", url, "--model", "missing", "q"}, `ollama pull missing`},
		{[]string{"reason", "--url", url, "--model", "tiny", "--backend", "grpc", "q"}, "--backend"},
		{[]string{"reason", "--url", url, "--model", "tiny", "--think", "maybe", "q"}, "--think"},
		{[]string{"reason", "--url", url, "--model", "tiny", "--pattern", "(", "q"}, "--pattern"},
		{[]string{"reason", "--url", url, "--model", "tiny", "--rounds", "0", "q"}, "--rounds"},
		{[]string{"reason", "--url", url, "--model", "tiny", "--distance", "l2", "q"}, "--distance"},
		{[]string{"reason", "--url", url, "--model", "tiny", "--damping", "best", "q"}, "--damping"},
		{[]string{"reason", "--url", url, "--model", "tiny", "--max-tokens", "-1", "q"}, "--max-tokens -1"},
		{[]string{"reason", "--url", url, "--model", "tiny", "--token-budget", "-5", "q"}, "--token-budget -5"},
		{[]string{"reason", "eval", "--url", url, "--model", "tiny", "--data", "math"}, "--data"},
		{[]string{"reason", "eval", "--url", url, "--model", "tiny", "--n", "0"}, "--n"},
		{[]string{"reason", "eval", "--url", url, "--model", "tiny", "--offset", "5000"}, "--offset"},
	} {
		if _, _, err := run(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error naming %q", tc.args[1:], err, tc.want)
		}
	}
}

func TestReasonEval(t *testing.T) {
	problems, err := gsm8k.Test()
	if err != nil {
		t.Fatal(err)
	}
	gold := make(map[string]string)
	for _, p := range problems[:3] {
		gold[p.Question] = p.Answer
	}
	// Wrong in round 1 and in every self-consistency sample (they see the
	// first prompt); right once asked to verify.
	url := fakeOllama(t, func(prompt string) string {
		for q, a := range gold {
			if strings.Contains(prompt, q) {
				if strings.Contains(prompt, "previous attempt") {
					return a
				}
				return "123456789"
			}
		}
		return "no such problem"
	})
	trace := filepath.Join(t.TempDir(), "eval.json")
	out, progress, err := run(t, "reason", "eval", "--data", "gsm8k", "--n", "3", "--url", url, "--model", "tiny", "--trace", trace)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`GSM8K test, 3 problems, tiny \(ollama\), up to 3 rounds`,
		`refine, after round 1\s+0\.0%\s+1\s+10\.00`,
		`refine, after round 2\s+100\.0%\s+2\s+20\.00`,
		`refine, after round 3\s+100\.0%\s+3\s+30\.00`,
		// Round 3 repeats round 2: the fixed point.
		`refine, fixed-point stop\s+100\.0%\s+3\.00\s+30\.00`,
		// Three samples of 10 tokens use up the 30-token budget.
		`self-consistency, same tokens\s+0\.0%\s+3\.00\s+30\.00`,
	}
	for _, w := range want {
		if !regexp.MustCompile(w).MatchString(out) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Count(progress, "problem ") != 3 {
		t.Errorf("progress: %s", progress)
	}
	var ev reasonEvaluation
	b, _ := os.ReadFile(trace)
	if err := json.Unmarshal(b, &ev); err != nil || len(ev.Problems) != 3 || ev.Problems[0].StopAt != 3 || ev.Problems[0].Stop != "fixed point" {
		t.Fatalf("trace: %v %+v", err, ev)
	}
}

func TestReplayCycle(t *testing.T) {
	// A 2-cycle stops the replayStop at round 3, and most-frequent damping keeps
	// the answer given twice.
	res := &reasoning.Result{}
	for i, a := range []string{"5", "7", "5", "7"} {
		res.Rounds = append(res.Rounds, reasoning.Round{N: i + 1, Answer: a, Key: a, CompletionTokens: 4})
	}
	stop := []reasoning.Criterion{reasoning.Unchanged{K: 1}, reasoning.Oscillation{}}
	ok, at, status, stopOK, tokens := replayStop(t.Context(), res, stop, nil, 4, "5")
	if at != 3 || status != "cycle" || !stopOK || tokens != 12 || !ok[0] || ok[1] || !ok[2] || ok[3] {
		t.Fatalf("got %v %d %s %v %d", ok, at, status, stopOK, tokens)
	}
	// A failed round: the last answer stands, and the stop is "failed".
	res.Rounds[2].Error, res.Rounds[2].Answer = "no answer", ""
	ok, at, status, _, _ = replayStop(t.Context(), res, stop, nil, 4, "7")
	if at != 2 || status != "failed" || !ok[1] || !ok[3] {
		t.Fatalf("got %v %d %s", ok, at, status)
	}
}

func TestReasonStream(t *testing.T) {
	var b strings.Builder
	p := &reasonStream{w: &b}
	for _, tk := range []reasoning.Token{{Thinking: "Six "}, {Thinking: "sevens."}, {Content: "Final: "}, {Content: "42"}} {
		p.token(tk)
	}
	p.end()
	p.token(reasoning.Token{Thinking: "cut"}) // a reply that ends within its thinking
	p.end()
	if want := "<think>Six sevens.</think>\nFinal: 42\n<think>cut</think>\n\n"; b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}

func TestReasonInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	other := errors.New("server down")
	if err := reasonInterrupted(ctx, other); err != other {
		t.Errorf("not interrupted: got %v", err)
	}
	cancel()
	if err := reasonInterrupted(ctx, fmt.Errorf("round 2: %w", context.Canceled)); !errors.Is(err, errInterrupted) {
		t.Errorf("interrupted: got %v, want errInterrupted (exit status 130)", err)
	}
	if err := reasonInterrupted(ctx, nil); err != nil {
		t.Errorf("interrupted after the end: got %v", err)
	}
}

func TestReasonRetryFlags(t *testing.T) {
	// The flags' 0 means none; Settings' 0 means the default.
	for _, tc := range []struct {
		retries int
		timeout time.Duration
		wantR   int
		wantT   time.Duration
	}{
		{3, 10 * time.Minute, 3, 10 * time.Minute},
		{0, 0, -1, -1},
		{1, time.Second, 1, time.Second},
	} {
		f := reasonFlags{rounds: 3, k: 1, distance: "edit", damping: "most-frequent", temperature: -1, seed: -1,
			retries: tc.retries, requestTimeout: tc.timeout}
		s, err := f.settings(nil)
		if err != nil || s.Retries != tc.wantR || s.RequestTimeout != tc.wantT {
			t.Errorf("--retries %d --request-timeout %v: got %v, retries %d, timeout %v", tc.retries, tc.timeout, err, s.Retries, s.RequestTimeout)
		}
	}
}

func TestReasonMaxTokens(t *testing.T) {
	// Each reply has a limit by default, and a reply cut there is shown
	// with the flag to raise, not the Go field.
	var limits []any
	url := fakeOllamaReplies(t, func(req fakeRequest) (string, string) {
		limits = append(limits, req.Options["num_predict"])
		return `{"reasoning": "and so on and so`, "length"
	})
	out, _, err := run(t, "reason", "--url", url, "--model", "tiny", "q")
	if err == nil || !strings.Contains(err.Error(), "token limit, 4096 tokens; raise --max-tokens") || strings.Contains(err.Error(), "MaxTokens") {
		t.Errorf("got %v, want the error to name --max-tokens", err)
	}
	if !strings.Contains(out, "raise --max-tokens") || strings.Contains(out, "MaxTokens") {
		t.Errorf("output names the Go field, or no flag:\n%s", out)
	}
	if len(limits) != 1 || limits[0] != float64(defaultReasonMaxTokens) {
		t.Errorf("num_predict %v, want %d", limits, defaultReasonMaxTokens)
	}
	// --max-tokens 0 leaves the limit to the server.
	limits = nil
	run(t, "reason", "--url", url, "--model", "tiny", "--max-tokens", "0", "q")
	if len(limits) != 1 || limits[0] != nil {
		t.Errorf("--max-tokens 0: num_predict %v, want none", limits)
	}
}

func TestReasonURL(t *testing.T) {
	for _, tc := range []struct {
		backend, flag, ollamaHost, openaiBase, want string
	}{
		{"ollama", "", "", "", "http://127.0.0.1:11434"},
		{"ollama", "", "127.0.0.1", "", "http://127.0.0.1:11434"}, // Ollama's port, not 80
		{"ollama", "", "0.0.0.0:9999", "", "http://0.0.0.0:9999"},
		{"ollama", "", "https://ollama.example.com", "", "https://ollama.example.com:443"},
		{"ollama", "http://h:1", "127.0.0.1", "", "http://h:1"},
		{"openai", "", "", "", "http://127.0.0.1:11434/v1"},
		{"openai", "", "10.0.0.2", "", "http://10.0.0.2:11434/v1"},
		{"openai", "", "10.0.0.2", "http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"},
		{"openai", "http://h:1/v1", "10.0.0.2", "http://127.0.0.1:8080/v1", "http://h:1/v1"},
	} {
		t.Setenv("OLLAMA_HOST", tc.ollamaHost)
		t.Setenv("OPENAI_BASE_URL", tc.openaiBase)
		if got := reasonURL(tc.backend, tc.flag); got != tc.want {
			t.Errorf("%+v: got %s", tc, got)
		}
	}
}

func TestReasonEnvironment(t *testing.T) {
	// OLLAMA_HOST without a scheme or port, as Ollama allows it.
	url := fakeOllama(t, func(string) string { return "42" })
	t.Setenv("OLLAMA_HOST", strings.TrimPrefix(url, "http://"))
	t.Setenv("OPENAI_BASE_URL", "")
	if out, _, err := run(t, "reason", "--model", "tiny", "q"); err != nil || !strings.Contains(out, "answer: 42") {
		t.Fatalf("OLLAMA_HOST=%s: %v\n%s", os.Getenv("OLLAMA_HOST"), err, out)
	}
	// --backend openai goes to OPENAI_BASE_URL, here where nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String() + "/v1"
	l.Close()
	t.Setenv("OPENAI_BASE_URL", base)
	_, _, err = run(t, "reason", "--backend", "openai", "--model", "tiny", "--retries", "0", "q")
	if !errors.Is(err, reasoning.ErrUnreachable) || !strings.Contains(err.Error(), base) {
		t.Fatalf("OPENAI_BASE_URL=%s: got %v", base, err)
	}
}

func TestReasonSpinner(t *testing.T) {
	var b strings.Builder
	p := startReasonSpinner(&b, time.Millisecond)
	// The spinner writes under its lock.
	read := func() string {
		p.mu.Lock()
		defer p.mu.Unlock()
		return b.String()
	}
	p.show("round 2")
	// Wait, as long as a loaded machine may need, for two turns.
	for deadline := time.Now().Add(time.Minute); strings.Count(read(), "round 2") < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("the spinner has not turned twice in a minute: %q", read())
		}
		time.Sleep(time.Millisecond)
	}
	p.hide()
	hidden := read()
	if !strings.HasSuffix(hidden, "\r\x1b[K") || !strings.Contains(hidden, "round 2: waiting for the reply, ") {
		t.Errorf("the spinner's line is not cleared when hidden: %q", hidden)
	}
	time.Sleep(20 * time.Millisecond) // turns that must not draw
	p.stop()
	if b.String() != hidden {
		t.Errorf("the spinner drew while hidden: %q", strings.TrimPrefix(b.String(), hidden))
	}
	var none *reasonSpinner // what reason uses off a terminal
	none.show("x")
	none.hide()
	none.stop()
}

func TestReasonNoSpinnerOffTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, out := range []io.Writer{f, w, &strings.Builder{}} {
		if isTerminal(out) {
			t.Errorf("%T taken for a terminal", out)
		}
	}
	url := fakeOllama(t, func(string) string { return "42" })
	out, errOut, err := run(t, "reason", "--url", url, "--model", "tiny", "q")
	if err != nil || strings.Contains(out+errOut, "\r") || strings.Contains(out+errOut, "waiting") {
		t.Errorf("%v; a spinner off a terminal:\n%q", err, out+errOut)
	}
}
