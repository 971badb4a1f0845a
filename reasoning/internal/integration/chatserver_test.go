package integration

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/implicitlab/implicit/reasoning"
	"github.com/implicitlab/implicit/reasoning/chatserver"
	"github.com/implicitlab/implicit/reasoning/internal/servetest"
)

// chat is a chatserver serving on a loopback port, over a model of the
// Ollama server.
type chat struct {
	url  string // the API's base, http://127.0.0.1:PORT/v1
	logs *servetest.Buffer
}

// serveChat serves model through backend b with settings s, with Serve on
// a free loopback port, until the test ends.
func serveChat(t *testing.T, b backend, model string, s *reasoning.Settings) *chat {
	t.Helper()
	logs := &servetest.Buffer{}
	srv, err := chatserver.New(chatserver.Config{Model: b.new(t, model), Name: model, Settings: s, Logger: logs.Logger(slog.LevelInfo)})
	if err != nil {
		t.Fatal(err)
	}
	return &chat{url: servetest.Serve(t, srv).URL + "/v1", logs: logs}
}

// client returns a go-openai client of the server that sets fields in each
// request's body.
func (c *chat) client(fields map[string]any) *goopenai.Client {
	cfg := goopenai.DefaultConfig("")
	cfg.BaseURL = c.url
	cfg.HTTPClient = chatserver.Fields{Set: fields}
	return goopenai.NewClientWithConfig(cfg)
}

var chatQuestion = []goopenai.ChatCompletionMessage{
	{Role: "system", Content: "Answer in JSON."},
	{Role: "user", Content: "What is 6 times 7?"},
}

// TestServeChat asks the server with go-openai: the answer at the fixed
// point, the usage of both rounds, the trace; and GET /v1/models.
func TestServeChat(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		temp, seed := 0.0, 1
		c := serveChat(t, b, "json", &reasoning.Settings{Temperature: &temp, Seed: &seed})
		resp, err := c.client(nil).CreateChatCompletion(timeout(t), goopenai.ChatCompletionRequest{Model: "json", Messages: chatQuestion})
		if err != nil {
			t.Fatal(err)
		}
		ch := resp.Choices[0]
		if ch.Message.Content != "42" || ch.FinishReason != goopenai.FinishReasonStop || resp.Model != "json" {
			t.Fatalf("got %+v", resp)
		}
		// Each round: five pieces and the end-of-sequence token.
		if u := resp.Usage; u.CompletionTokens != 12 || u.PromptTokens < 20 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
			t.Errorf("usage %+v; want 12 completion tokens, two rounds'", u)
		}
		if h := resp.Header(); h.Get("Implicit-Status") != "fixed point" || h.Get("Implicit-Rounds") != "2" {
			t.Errorf("headers %v", h)
		}

		// rounds, as curl sends it, and the trace.
		body := `{"model": "json", "rounds": 1, "messages": [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "What is 6 times 7?"}]}`
		hresp, err := http.Post(c.url+"/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer hresp.Body.Close()
		var got struct {
			Implicit struct {
				reasoning.Result
				Converged bool
			}
		}
		if err := json.NewDecoder(hresp.Body).Decode(&got); err != nil || hresp.StatusCode != 200 {
			t.Fatalf("%v, status %d", err, hresp.StatusCode)
		}
		tr := got.Implicit
		if tr.Status != reasoning.RoundLimit || tr.Converged || len(tr.Rounds) != 1 || tr.Rounds[0].Reasoning != "6 times 7 is 42" ||
			tr.Rounds[0].Messages[0].Role != "system" || tr.Rounds[0].Messages[0].Content != "Answer in JSON." || tr.Rounds[0].CompletionTokens != 6 {
			t.Errorf("trace %+v", tr)
		}

		models, err := c.client(nil).ListModels(timeout(t))
		if err != nil || len(models.Models) != 1 || models.Models[0].ID != "json" {
			t.Errorf("%v, %+v", err, models)
		}
	})
}

// TestServeStream streams the answer with go-openai.
func TestServeStream(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		temp := 0.0
		c := serveChat(t, b, "json", &reasoning.Settings{Temperature: &temp})
		st, err := c.client(nil).CreateChatCompletionStream(timeout(t), goopenai.ChatCompletionRequest{
			Model: "json", Messages: chatQuestion, Stream: true, StreamOptions: &goopenai.StreamOptions{IncludeUsage: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := servetest.ReadStream(st)
		if err != nil {
			t.Fatal(err)
		}
		if got.Content != "42" || len(got.FinishReasons) != 1 || got.FinishReasons[0] != "stop" || got.Usage == nil || got.Usage.CompletionTokens != 12 {
			t.Fatalf("content %q, finish reasons %v, usage %+v", got.Content, got.FinishReasons, got.Usage)
		}
	})
}

// TestServeTokenBudget sends max_tokens, the budget over all rounds, to the
// endless model: each request asks for what is left, and the budget runs
// out before an answer: no content, finish_reason "length".
func TestServeTokenBudget(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		c := serveChat(t, b, "loop", &reasoning.Settings{Plain: true})
		resp, err := c.client(nil).CreateChatCompletion(timeout(t), goopenai.ChatCompletionRequest{Messages: chatQuestion, MaxTokens: 9})
		if err != nil {
			t.Fatal(err)
		}
		if ch := resp.Choices[0]; ch.Message.Content != "" || ch.FinishReason != goopenai.FinishReasonLength || resp.Usage.CompletionTokens != 9 ||
			resp.Header().Get("Implicit-Status") != "token limit" {
			t.Fatalf("got %+v, %v", resp, resp.Header())
		}
	})
}

func TestServeMissingModel(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		c := serveChat(t, b, "no-such-model", nil)
		_, err := c.client(nil).CreateChatCompletion(timeout(t), goopenai.ChatCompletionRequest{Messages: chatQuestion})
		var e *goopenai.APIError
		if !errors.As(err, &e) || e.HTTPStatusCode != 404 || e.Code != "model_not_found" || !strings.Contains(e.Message, "ollama pull no-such-model") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestServeClientGone drops a request while the endless model generates:
// the loop is canceled, and the server stops generating, so that the
// model's one slot serves the next request at once (as in
// TestCancelMidGeneration).
func TestServeClientGone(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		if _, err := b.new(t, "fixed").Chat(timeout(t), &reasoning.Request{Messages: question}); err != nil {
			t.Fatal(err)
		}
		c := serveChat(t, b, "loop", &reasoning.Settings{Plain: true})
		ctx, cancel := context.WithCancel(timeout(t))
		defer cancel()
		time.AfterFunc(500*time.Millisecond, cancel)
		_, err := c.client(nil).CreateChatCompletion(ctx, goopenai.ChatCompletionRequest{Messages: chatQuestion})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
		if rec := c.logs.Wait("request", time.Minute); rec == nil || rec["loop_status"] != "canceled" {
			t.Errorf("log record %v", rec)
		}
		// Had the server gone on generating, this would wait for the slot.
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := b.new(t, "fixed").Chat(ctx, &reasoning.Request{Messages: question})
		if err != nil || resp.Content != "The answer is 42." {
			t.Fatalf("after the client went: %v, %+v", err, resp)
		}
	})
}
