package chatserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/implicitlab/implicit/reasoning"
	"github.com/implicitlab/implicit/reasoning/internal/servetest"
	"github.com/implicitlab/implicit/reasoning/ollama"
)

// liveness bounds waits for what must happen.
const liveness = servetest.Liveness

// fake is a reasoning.Model whose replies reply gives, by call from 0; it
// records the requests.
type fake struct {
	reply func(ctx context.Context, call int, req *reasoning.Request) (*reasoning.Response, error)

	mu   sync.Mutex
	reqs []*reasoning.Request
}

func (f *fake) Chat(ctx context.Context, req *reasoning.Request) (*reasoning.Response, error) {
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	return f.reply(ctx, n, req)
}

func (f *fake) requests() []*reasoning.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*reasoning.Request(nil), f.reqs...)
}

// answer is a reply in the form of AnswerSchema, with 10 prompt and 20
// completion tokens.
func answer(a string) *reasoning.Response {
	b, _ := json.Marshal(map[string]string{"reasoning": "because " + a, "answer": a})
	return &reasoning.Response{Content: string(b), PromptTokens: 10, CompletionTokens: 20, FinishReason: reasoning.FinishStop}
}

// answers replies as, then the last of them again.
func answers(as ...string) *fake {
	return &fake{reply: func(_ context.Context, n int, _ *reasoning.Request) (*reasoning.Response, error) {
		return answer(as[min(n, len(as)-1)]), nil
	}}
}

// blocking is a model whose calls wait until release is closed, or their
// context ends; started gets each call, canceled is closed when a call's
// context ends.
type blocking struct {
	started  chan struct{}
	release  chan struct{}
	canceled chan struct{}
	once     sync.Once
}

func newBlocking() *blocking {
	return &blocking{started: make(chan struct{}, 16), release: make(chan struct{}), canceled: make(chan struct{})}
}

func (b *blocking) Chat(ctx context.Context, _ *reasoning.Request) (*reasoning.Response, error) {
	b.started <- struct{}{}
	select {
	case <-b.release:
		return answer("42"), nil
	case <-ctx.Done():
		b.once.Do(func() { close(b.canceled) })
		return nil, ctx.Err()
	}
}

// wait waits for c, within liveness.
func wait(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(liveness):
		t.Fatalf("%s: not within %v", what, liveness)
	}
}

// serving is a Server serving on a loopback port.
type serving struct {
	*servetest.Serving
	srv  *Server
	logs *servetest.Buffer
}

// serve starts a Server with cfg (Name "tiny" and a debug logger unless
// set) on a free loopback port, with Serve, as the command does; the test's
// end stops it.
func serve(t *testing.T, cfg Config) *serving {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "tiny"
	}
	logs := &servetest.Buffer{}
	if cfg.Logger == nil {
		cfg.Logger = logs.Logger(slog.LevelDebug)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &serving{Serving: servetest.Serve(t, srv), srv: srv, logs: logs}
}

// client is a go-openai client of s, which sets fields in every request's
// body.
func (s *serving) client(fields map[string]any) *goopenai.Client {
	c := goopenai.DefaultConfig("")
	c.BaseURL = s.URL + "/v1"
	c.HTTPClient = Fields{Set: fields}
	return goopenai.NewClientWithConfig(c)
}

// post sends body to path and returns the reply's status, headers and body.
func (s *serving) post(t *testing.T, path, body string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Post(s.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), liveness)
	t.Cleanup(cancel)
	return c
}

var question = []goopenai.ChatCompletionMessage{
	{Role: "system", Content: "Be brief."},
	{Role: "user", Content: "What is 6 times 7?"},
}

func TestChatCompletion(t *testing.T) {
	m := answers("41", "42")
	s := serve(t, Config{Model: m})
	t0 := time.Now().Unix()
	seed := 7
	resp, err := s.client(nil).CreateChatCompletion(ctx(t), goopenai.ChatCompletionRequest{
		Model: "tiny", Messages: question, MaxTokens: 1000, Temperature: 0.5, Seed: &seed,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.ID, "chatcmpl-") || resp.Object != "chat.completion" || resp.Model != "tiny" ||
		resp.Created < t0 || resp.Created > time.Now().Unix() || len(resp.Choices) != 1 {
		t.Fatalf("got %+v", resp)
	}
	c := resp.Choices[0]
	if c.Message.Role != "assistant" || c.Message.Content != "42" || c.FinishReason != goopenai.FinishReasonStop {
		t.Errorf("choice %+v", c)
	}
	// Three rounds (41, 42, 42: the fixed point) of 10 + 20 tokens.
	if u := resp.Usage; u.PromptTokens != 30 || u.CompletionTokens != 60 || u.TotalTokens != 90 {
		t.Errorf("usage %+v; want the sum over three rounds", u)
	}
	if h := resp.Header(); h.Get("Implicit-Status") != "fixed point" || h.Get("Implicit-Rounds") != "3" {
		t.Errorf("headers %v", h)
	}
	reqs := m.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests to the model; want 3", len(reqs))
	}
	r := reqs[0]
	if r.Messages[0].Role != "system" || r.Messages[0].Content != "Be brief." || !strings.Contains(r.Messages[1].Content, "What is 6 times 7?") ||
		*r.Temperature != 0.5 || *r.Seed != 7 || r.OnToken != nil {
		t.Errorf("round 1's request: %+v", r)
	}
	// max_tokens is the budget over all rounds: each round asks for what
	// is left.
	if reqs[0].MaxTokens != 1000 || reqs[1].MaxTokens != 980 || reqs[2].MaxTokens != 960 {
		t.Errorf("token limits %d, %d, %d; want 1000, 980, 960", reqs[0].MaxTokens, reqs[1].MaxTokens, reqs[2].MaxTokens)
	}
}

func TestTrace(t *testing.T) {
	s := serve(t, Config{Model: answers("41", "42")})
	// rounds, the extension field, as curl sends it.
	status, h, body := s.post(t, "/v1/chat/completions", `{"model": "tiny", "rounds": 2, "messages": [{"role": "user", "content": "q"}]}`)
	if status != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", status, body)
	}
	var resp struct {
		Choices []struct {
			FinishReason string `json:"finish_reason"`
			Message      struct{ Content string }
		}
		Implicit struct {
			reasoning.Result
			Converged bool
			Error     *string
		}
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	tr := resp.Implicit
	if resp.Choices[0].Message.Content != "42" || resp.Choices[0].FinishReason != "stop" {
		t.Errorf("choices %+v", resp.Choices)
	}
	if tr.Status != reasoning.RoundLimit || tr.Converged || tr.Answer != "42" || tr.Chosen != 2 || tr.Question != "q" ||
		len(tr.Rounds) != 2 || tr.Rounds[0].Answer != "41" || tr.Rounds[0].Reasoning != "because 41" || tr.Rounds[1].Distance != 0.5 ||
		tr.CompletionTokens != 40 || tr.Error != nil {
		t.Errorf("trace %s", body)
	}
	// go-openai has no place for rounds; Fields puts it in.
	resp2, err := s.client(map[string]any{"rounds": 1}).CreateChatCompletion(ctx(t), goopenai.ChatCompletionRequest{Model: "tiny", Messages: question})
	if err != nil || resp2.Header().Get("Implicit-Rounds") != "1" || resp2.Header().Get("Implicit-Status") != "round limit" {
		t.Fatalf("rounds 1 through Fields: %v, %v", err, resp2.Header())
	}
}

func TestStream(t *testing.T) {
	s := serve(t, Config{Model: answers("42")})
	st, err := s.client(nil).CreateChatCompletionStream(ctx(t), goopenai.ChatCompletionRequest{
		Model: "tiny", Messages: question, Stream: true, StreamOptions: &goopenai.StreamOptions{IncludeUsage: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := servetest.ReadStream(st)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, chunk := range got.Chunks {
		ids[chunk.ID] = true
		if chunk.Object != "chat.completion.chunk" || chunk.Model != "tiny" {
			t.Errorf("chunk %+v", chunk)
		}
	}
	if got.Content != "42" || len(got.Roles) != 1 || got.Roles[0] != "assistant" || len(got.FinishReasons) != 1 || got.FinishReasons[0] != "stop" || len(ids) != 1 {
		t.Errorf("content %q, roles %v, finish reasons %v, ids %v", got.Content, got.Roles, got.FinishReasons, ids)
	}
	if u := got.Usage; u == nil || u.CompletionTokens != 40 || u.PromptTokens != 20 || u.TotalTokens != 60 {
		t.Errorf("usage %+v", u)
	}
	if st.Header().Get("Implicit-Status") != "fixed point" {
		t.Errorf("headers %v", st.Header())
	}

	// On the wire: events, the trace with the finish reason, and [DONE].
	status, h, body := s.post(t, "/v1/chat/completions", `{"stream": true, "messages": [{"role": "user", "content": "q"}]}`)
	events := strings.Split(strings.TrimSuffix(string(body), "\n\n"), "\n\n")
	if status != 200 || h.Get("Content-Type") != "text/event-stream" || len(events) != 4 || events[3] != "data: [DONE]" {
		t.Fatalf("%d %s: %q", status, h.Get("Content-Type"), body)
	}
	var last struct {
		Choices []struct {
			FinishReason string `json:"finish_reason"`
		}
		Usage    *usage
		Implicit struct{ Status string }
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(events[2], "data: ")), &last); err != nil ||
		last.Choices[0].FinishReason != "stop" || last.Implicit.Status != "fixed point" || last.Usage != nil {
		t.Errorf("%v: %s", err, events[2])
	}
}

// apiErr returns the go-openai error of err.
func apiErr(t *testing.T, err error) *goopenai.APIError {
	t.Helper()
	var e *goopenai.APIError
	if !errors.As(err, &e) {
		t.Fatalf("got %v (%T), want a *goopenai.APIError", err, err)
	}
	return e
}

func TestLoopErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		reply  *reasoning.Response
		status int
		code   string
		want   string
	}{
		{err: fmt.Errorf("x: %w: cannot connect", reasoning.ErrUnreachable), status: 503, code: "backend_unreachable", want: "server unreachable"},
		{err: &reasoning.ServerError{StatusCode: 500, Message: "boom"}, status: 502, code: "backend_error", want: "500 Internal Server Error: boom"},
		{err: reasoning.ErrRequestTimeout, status: 504, code: "backend_timeout", want: "request timeout"},
		{err: fmt.Errorf("x: %w: over 100 bytes", reasoning.ErrReplyTooLarge), status: 502, code: "reply_too_large", want: "over 100 bytes"},
		{err: fmt.Errorf("x: %w: connection lost", reasoning.ErrInterrupted), status: 502, code: "backend_interrupted", want: "connection lost"},
		{err: errors.New("something else"), status: 500, code: "internal_error", want: "something else"},
		{reply: &reasoning.Response{Content: "no idea", FinishReason: "stop"}, status: 502, code: "no_answer", want: `reply: "no idea"`},
	} {
		m := &fake{reply: func(context.Context, int, *reasoning.Request) (*reasoning.Response, error) { return tc.reply, tc.err }}
		s := serve(t, Config{Model: m, Settings: &reasoning.Settings{Retries: -1}})
		_, err := s.client(nil).CreateChatCompletion(ctx(t), goopenai.ChatCompletionRequest{Messages: question})
		e := apiErr(t, err)
		if e.HTTPStatusCode != tc.status || e.Code != tc.code || e.Type != typeServer || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%v: got %d %v %s: %s", tc.err, e.HTTPStatusCode, e.Code, e.Type, e.Message)
		}
		// The trace comes with the error.
		status, h, body := s.post(t, "/v1/chat/completions", `{"messages": [{"role": "user", "content": "q"}]}`)
		var b struct {
			Error    struct{ Message string }
			Implicit struct {
				Status, Error string
				Rounds        []json.RawMessage
			}
		}
		if err := json.Unmarshal(body, &b); err != nil || status != tc.status || b.Implicit.Status != "failed" || b.Implicit.Rounds == nil ||
			b.Implicit.Error != b.Error.Message || h.Get("Implicit-Status") != "failed" {
			t.Errorf("%v: %d %s", err, status, body)
		}
	}
}

func TestLimitsBeforeAnswer(t *testing.T) {
	// A reply cut at the budget: no content, finish_reason "length", as
	// OpenAI's reasoning models reply when they spend max_tokens thinking.
	cut := &fake{reply: func(_ context.Context, _ int, req *reasoning.Request) (*reasoning.Response, error) {
		return &reasoning.Response{Content: `{"reasoning": "and so`, CompletionTokens: req.MaxTokens, FinishReason: reasoning.FinishLength}, nil
	}}
	s := serve(t, Config{Model: cut})
	status, _, body := s.post(t, "/v1/chat/completions", `{"max_tokens": 5, "messages": [{"role": "user", "content": "q"}]}`)
	var resp struct {
		Choices []struct {
			FinishReason string `json:"finish_reason"`
			Message      struct{ Content *string }
		}
		Usage    usage
		Implicit struct{ Status, Error string }
	}
	if err := json.Unmarshal(body, &resp); err != nil || status != 200 || resp.Choices[0].FinishReason != "length" ||
		resp.Choices[0].Message.Content == nil || *resp.Choices[0].Message.Content != "" || resp.Usage.CompletionTokens != 5 ||
		resp.Implicit.Status != "token limit" || !strings.Contains(resp.Implicit.Error, "no answer") {
		t.Fatalf("%v: %d %s", err, status, body)
	}

	// The time limit before any answer: 504.
	b := newBlocking()
	s = serve(t, Config{Model: b, Settings: &reasoning.Settings{TimeLimit: 50 * time.Millisecond}})
	_, err := s.client(nil).CreateChatCompletion(ctx(t), goopenai.ChatCompletionRequest{Messages: question})
	if e := apiErr(t, err); e.HTTPStatusCode != 504 || e.Code != "time_limit" || !strings.Contains(e.Message, "time limit on a request is 50ms") {
		t.Fatalf("got %d %v: %s", e.HTTPStatusCode, e.Code, e.Message)
	}
}

// TestMissingModel serves a model that the Ollama server (an httptest one)
// does not have: 404, with Ollama's pull command.
func TestMissingModel(t *testing.T) {
	fakeOllama := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":"model 'qwen9' not found"}`)
	}))
	defer fakeOllama.Close()
	m, err := ollama.New(ollama.Config{URL: fakeOllama.URL, Model: "qwen9"})
	if err != nil {
		t.Fatal(err)
	}
	s := serve(t, Config{Model: m, Name: "qwen9"})
	_, err = s.client(nil).CreateChatCompletion(ctx(t), goopenai.ChatCompletionRequest{Model: "qwen9", Messages: question})
	e := apiErr(t, err)
	if e.HTTPStatusCode != 404 || e.Code != "model_not_found" || e.Type != typeInvalid || !strings.Contains(e.Message, `ollama pull qwen9`) {
		t.Fatalf("got %d %v %s: %s", e.HTTPStatusCode, e.Code, e.Type, e.Message)
	}
	// A model this server does not serve.
	_, err = s.client(nil).CreateChatCompletion(ctx(t), goopenai.ChatCompletionRequest{Model: "llama", Messages: question})
	if e := apiErr(t, err); e.HTTPStatusCode != 404 || e.Code != "model_not_found" || e.Param == nil || *e.Param != "model" ||
		!strings.Contains(e.Message, `serves "qwen9"`) {
		t.Fatalf("got %d %v: %s", e.HTTPStatusCode, e.Code, e.Message)
	}
}

func TestRequestErrors(t *testing.T) {
	s := serve(t, Config{Model: answers("42"), MaxRequestBytes: 200})
	_, err := s.client(nil).CreateChatCompletion(ctx(t), goopenai.ChatCompletionRequest{Messages: question, N: 3})
	if e := apiErr(t, err); e.HTTPStatusCode != 400 || e.Code != "unsupported_parameter" || e.Param == nil || *e.Param != "n" {
		t.Errorf("n 3: got %d %v %v: %s", e.HTTPStatusCode, e.Code, e.Param, e.Message)
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/v1/chat/completions", `{"messages": [{"role": "user", "content": "` + strings.Repeat("x", 200) + `"}]}`, 413, "request_too_large"},
		{"POST", "/v1/chat/completions", `{"messages": `, 400, "invalid_json"},
		{"GET", "/v1/chat/completions", ``, 405, "method_not_allowed"},
		{"DELETE", "/v1/models", ``, 405, "method_not_allowed"},
		{"POST", "/v1/completions", `{}`, 404, "not_found"},
		{"GET", "/", ``, 404, "not_found"},
	} {
		req, _ := http.NewRequest(tc.method, s.URL+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b errorBody
		err = json.NewDecoder(resp.Body).Decode(&b)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.status || b.Error.Code != tc.code || b.Error.Message == "" || b.Implicit != nil {
			t.Errorf("%s %s: %v, %d %+v", tc.method, tc.path, err, resp.StatusCode, b)
		}
		if tc.status == 405 && resp.Header.Get("Allow") == "" {
			t.Errorf("%s %s: no Allow header", tc.method, tc.path)
		}
	}
}

func TestModels(t *testing.T) {
	s := serve(t, Config{Model: answers("42"), Name: "qwen3:1.7b"})
	list, err := s.client(nil).ListModels(ctx(t))
	if err != nil || len(list.Models) != 1 || list.Models[0].ID != "qwen3:1.7b" || list.Models[0].Object != "model" || list.Models[0].CreatedAt == 0 {
		t.Fatalf("%v, %+v", err, list)
	}
	m, err := s.client(nil).GetModel(ctx(t), "qwen3:1.7b")
	if err != nil || m.ID != "qwen3:1.7b" {
		t.Fatalf("%v, %+v", err, m)
	}
	_, err = s.client(nil).GetModel(ctx(t), "llama")
	if e := apiErr(t, err); e.HTTPStatusCode != 404 || e.Code != "model_not_found" {
		t.Fatalf("got %d %v", e.HTTPStatusCode, e.Code)
	}
}

// TestClientGone drops a request while its loop runs: the loop is
// canceled, and the log says so.
func TestClientGone(t *testing.T) {
	b := newBlocking()
	s := serve(t, Config{Model: b})
	c, cancel := context.WithCancel(ctx(t))
	done := make(chan error, 1)
	go func() {
		_, err := s.client(nil).CreateChatCompletion(c, goopenai.ChatCompletionRequest{Messages: question})
		done <- err
	}()
	wait(t, b.started, "the loop's first request")
	cancel()
	wait(t, b.canceled, "the loop canceled once the client went")
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("client: %v", err)
	}
	rec := s.logs.Wait("request", liveness)
	if rec == nil {
		t.Fatalf("no request record in the log within %v", liveness)
	}
	if rec["loop_status"] != "canceled" || !strings.Contains(fmt.Sprint(rec["error"]), "loop was canceled") || rec["status"] != 0.0 {
		t.Errorf("log record %v", rec)
	}
}

// TestShutdown stops a server with a request in flight: new connections
// are refused, the request finishes, and Serve returns nil.
func TestShutdown(t *testing.T) {
	b := newBlocking()
	s := serve(t, Config{Model: b})
	done := make(chan error, 1)
	go func() {
		resp, err := s.client(nil).CreateChatCompletion(ctx(t), goopenai.ChatCompletionRequest{Messages: question})
		if err == nil && resp.Choices[0].Message.Content != "42" {
			err = fmt.Errorf("answer %q", resp.Choices[0].Message.Content)
		}
		done <- err
	}()
	wait(t, b.started, "the request in flight")
	s.Stop()
	addr := strings.TrimPrefix(s.URL, "http://")
	for deadline := time.Now().Add(liveness); ; time.Sleep(10 * time.Millisecond) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("still accepting connections %v after the shutdown began", liveness)
		}
	}
	select {
	case err := <-s.Served:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	default:
	}
	close(b.release) // round 1, then round 2 at once: the fixed point
	if err := <-done; err != nil {
		t.Fatalf("the request in flight: %v", err)
	}
	select {
	case err := <-s.Served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
		s.Served <- nil // for the cleanup
	case <-time.After(liveness):
		t.Fatal("Serve has not returned after the request in flight finished")
	}
	if len(s.logs.Records("shut down")) != 1 {
		t.Error("no shut down record in the log")
	}
}

// TestShutdownTimeout: the requests still in flight at the shutdown timeout
// are cut short, and their loops canceled; so they are on Close.
func TestShutdownTimeout(t *testing.T) {
	for _, viaClose := range []bool{false, true} {
		b := newBlocking()
		s := serve(t, Config{Model: b, ShutdownTimeout: 10 * time.Millisecond})
		done := make(chan error, 1)
		go func() {
			_, err := s.client(nil).CreateChatCompletion(ctx(t), goopenai.ChatCompletionRequest{Messages: question})
			done <- err
		}()
		wait(t, b.started, "the request in flight")
		if viaClose {
			if err := s.srv.Close(); err != nil {
				t.Fatal(err)
			}
		} else {
			s.Stop()
		}
		wait(t, b.canceled, "the loop canceled")
		if err := <-done; err == nil {
			t.Errorf("Close %v: the request cut short succeeded", viaClose)
		}
		select {
		case err := <-s.Served:
			if !errors.Is(err, ErrCutShort) {
				t.Errorf("Close %v: Serve returned %v, want ErrCutShort", viaClose, err)
			}
			s.Served <- nil
		case <-time.After(liveness):
			t.Fatal("Serve has not returned")
		}
	}
}

func TestBusy(t *testing.T) {
	b := newBlocking()
	s := serve(t, Config{Model: b, MaxConcurrent: 1})
	done := make(chan error, 1)
	go func() {
		_, err := s.client(nil).CreateChatCompletion(ctx(t), goopenai.ChatCompletionRequest{Messages: question})
		done <- err
	}()
	wait(t, b.started, "the first request")
	_, err := s.client(nil).CreateChatCompletion(ctx(t), goopenai.ChatCompletionRequest{Messages: question})
	if e := apiErr(t, err); e.HTTPStatusCode != 503 || e.Code != "server_busy" || !strings.Contains(e.Message, "1 chat completions") {
		t.Errorf("got %d %v: %s", e.HTTPStatusCode, e.Code, e.Message)
	}
	// GET /v1/models takes no slot.
	if _, err := s.client(nil).ListModels(ctx(t)); err != nil {
		t.Error(err)
	}
	close(b.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestLog(t *testing.T) {
	s := serve(t, Config{Model: answers("42")})
	resp, err := s.client(nil).CreateChatCompletion(ctx(t), goopenai.ChatCompletionRequest{Messages: question})
	if err != nil {
		t.Fatal(err)
	}
	// The record is written once the reply is: wait for it.
	rec := s.logs.Wait("request", liveness)
	if rec == nil {
		t.Fatal("no request record")
	}
	want := map[string]any{"level": "INFO", "method": "POST", "path": "/v1/chat/completions", "status": 200.0, "id": resp.ID,
		"loop_status": "fixed point", "rounds": 2.0, "prompt_tokens": 20.0, "completion_tokens": 40.0, "stream": false}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("record %s = %v, want %v", k, rec[k], v)
		}
	}
	rounds := s.logs.Records("round")
	if len(rounds) != 2 || rounds[1]["id"] != resp.ID || rounds[1]["answer"] != "42" || rounds[1]["level"] != "DEBUG" {
		t.Errorf("round records %v", rounds)
	}
}

func TestNew(t *testing.T) {
	m := answers("42")
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Name: "tiny"}, "Model is nil"},
		{Config{Model: m}, "Name is empty"},
		{Config{Model: m, Name: "tiny", Settings: &reasoning.Settings{OnRound: func(reasoning.Round) {}}}, "OnRound or OnToken"},
		{Config{Model: m, Name: "tiny", MaxRounds: -1}, "MaxRounds is -1"},
		{Config{Model: m, Name: "tiny", MaxRounds: 3, Settings: &reasoning.Settings{MaxRounds: 4}}, "Settings.MaxRounds 4 is more than Config.MaxRounds 3"},
		{Config{Model: m, Name: "tiny", MaxRequestBytes: -1}, "MaxRequestBytes"},
		{Config{Model: m, Name: "tiny", MaxConcurrent: -1}, "MaxConcurrent"},
		{Config{Model: m, Name: "tiny", ShutdownTimeout: -1}, "ShutdownTimeout"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.cfg, err, tc.want)
		}
	}
	srv, err := New(Config{Model: m, Name: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err == nil {
		t.Error("Close before Serve: no error")
	}
}

func TestFields(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
	}))
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(`{"model": "m", "temperature": 0.5}`))
	resp, err := Fields{Set: map[string]any{"rounds": 3, "temperature": 0}}.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got["model"] != "m" || got["rounds"] != 3.0 || got["temperature"] != 0.0 {
		t.Fatalf("body %v", got)
	}
	req, _ = http.NewRequest("POST", srv.URL, strings.NewReader(`not json`))
	if _, err := (Fields{Set: map[string]any{"rounds": 3}}).Do(req); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Fatalf("got %v", err)
	}
}
