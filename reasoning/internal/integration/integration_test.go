package integration

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/implicitlab/implicit/reasoning"
	"github.com/implicitlab/implicit/reasoning/internal/chainmodel"
	"github.com/implicitlab/implicit/reasoning/internal/ollamatest"
	"github.com/implicitlab/implicit/reasoning/ollama"
	"github.com/implicitlab/implicit/reasoning/openai"
)

// server is the Ollama server shared by the tests; nil when skipped.
var (
	server     *ollamatest.Server
	skipReason string
)

// The chains of the test model. Each model's template ends its prompt with
// a trigger, so each model always says the same thing (think-json: one
// thing in each of Ollama's two steps).
var chains = []chainmodel.Chain{
	{Trigger: "<|fixed|>", Pieces: []string{"The answer", " is", " 42", "."}},
	{Trigger: "<|json|>", Pieces: []string{`{"reasoning": "`, "6 times 7 is 42", `", "answer": "`, "42", `"}`}},
	{Trigger: "<|think|>", Pieces: []string{"<think>", "Six sevens make forty-two.", "</think>", "Final: 42"}},
	{Trigger: "<|loop|>", Pieces: []string{"tick", " tock"}, Loop: true},
}

const plainTemplate = `{{- range .Messages }}{{ .Content }}{{ end }}`

// Ollama infers thinking support, and the <think> tags, from a template that
// renders .Thinking inside the range over .Messages.
const thinkTemplate = `{{- range .Messages }}{{ .Content }}{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}{{ end }}`

// thinkJSONTemplate serves thinking with structured output, which Ollama
// runs as two requests: the first without the schema until the thinking
// ends, the second with the schema and the thinking appended to the chat as
// an assistant message. The template ends the first prompt with the <think>
// trigger and the second, the only one with a message that carries
// thinking, with the JSON one. (The first {{if .Thinking}} only sets
// $thought; Ollama infers the thinking tags from the second, the last with
// text around .Thinking.)
const thinkJSONTemplate = `{{- $thought := false }}{{- range .Messages }}{{ if .Thinking }}{{ $thought = true }}{{ end }}{{ .Content }}{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}{{ end }}{{ if $thought }}<|json|>{{ else }}<|think|>{{ end }}`

var models = map[string]string{
	"fixed":      plainTemplate + "<|fixed|>",
	"json":       plainTemplate + "<|json|>",
	"think":      thinkTemplate + "<|think|>",
	"loop":       plainTemplate + "<|loop|>",
	"think-json": thinkJSONTemplate,
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv(ollamatest.BinEnv) == "" {
		if os.Getenv(ollamatest.RequireEnv) == "1" {
			fmt.Fprintf(os.Stderr, "integration: %v, and %s=1 requires the server\n", ollamatest.ErrNoBinary, ollamatest.RequireEnv)
			return 1
		}
		skipReason = ollamatest.ErrNoBinary.Error()
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "implicit-ollama-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	server, err = ollamatest.Start(ctx, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer server.Stop()

	f, err := chainmodel.Build(chains)
	if err == nil {
		err = f.WriteFile(filepath.Join(dir, "chain.gguf"))
	}
	for name, tmpl := range models {
		if err == nil {
			err = server.Create(ctx, name, filepath.Join(dir, "chain.gguf"), tmpl)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\nserver log:\n%s", err, server.Log())
		return 1
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "server log (last 4000 bytes):\n%s\n", tail(server.Log(), 4000))
	}
	return code
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

type backend struct {
	name string
	new  func(t *testing.T, model string) reasoning.Model
	// wrongURL returns the backend at the other API's address.
	wrongURL func(t *testing.T, model string) reasoning.Model
}

func newNative(t *testing.T, url, model string) reasoning.Model {
	m, err := ollama.New(ollama.Config{URL: url, Model: model})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newV1(t *testing.T, url, model string) reasoning.Model {
	m, err := openai.New(openai.Config{BaseURL: url, Model: model})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// backends are Ollama's native API and its OpenAI-compatible /v1.
var backends = []backend{
	{
		"native",
		func(t *testing.T, model string) reasoning.Model { return newNative(t, server.URL, model) },
		func(t *testing.T, model string) reasoning.Model { return newNative(t, server.URL+"/v1", model) },
	},
	{
		"v1",
		func(t *testing.T, model string) reasoning.Model { return newV1(t, server.URL+"/v1", model) },
		func(t *testing.T, model string) reasoning.Model { return newV1(t, server.URL, model) },
	},
}

// each runs f for each backend, after checking that the server runs.
func each(t *testing.T, f func(t *testing.T, b backend)) {
	if server == nil {
		t.Skip(skipReason)
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			if !server.Alive() {
				t.Fatalf("the server has exited; log:\n%s", tail(server.Log(), 4000))
			}
			f(t, b)
		})
	}
}

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestStructuredOutputFixedPoint(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		temp, seed := 0.0, 1
		res, err := reasoning.Refine(timeout(t), b.new(t, "json"), "What is 6 times 7?", &reasoning.Settings{Temperature: &temp, Seed: &seed})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != reasoning.FixedPoint || res.Answer != "42" || len(res.Rounds) != 2 {
			t.Fatalf("got %s %q after %d rounds", res.Status, res.Answer, len(res.Rounds))
		}
		r := res.Rounds[0]
		if r.Fallback || r.Reasoning != "6 times 7 is 42" || r.FinishReason != reasoning.FinishStop {
			t.Errorf("round 1: %+v", r)
		}
		// Five pieces and the end-of-sequence token; the prompt has more.
		if r.CompletionTokens != 6 || r.PromptTokens < 10 {
			t.Errorf("usage %d prompt, %d completion tokens; want 6 completion", r.PromptTokens, r.CompletionTokens)
		}
	})
}

func TestPlainFallback(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		res, err := reasoning.Refine(timeout(t), b.new(t, "fixed"), "q", &reasoning.Settings{Plain: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != reasoning.FixedPoint || res.Answer != "42" || res.Rounds[0].Reply != "The answer is 42." {
			t.Fatalf("got %s %q, reply %q", res.Status, res.Answer, res.Rounds[0].Reply)
		}
	})
}

func TestThinking(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		think := true
		res, err := reasoning.Refine(timeout(t), b.new(t, "think"), "q", &reasoning.Settings{Plain: true, Think: &think, MaxRounds: 1})
		if err != nil {
			t.Fatal(err)
		}
		r := res.Rounds[0]
		if r.Thinking != "Six sevens make forty-two." || r.Reply != "Final: 42" || res.Answer != "42" {
			t.Fatalf("thinking %q, reply %q, answer %q", r.Thinking, r.Reply, res.Answer)
		}
	})
}

// TestThinkingWithStructuredOutput asks for thinking and a schema at once.
// Ollama then lets the model think unconstrained, and, once the thinking
// ends, asks again with the schema, the thinking in the chat. (A streamed
// reply would show the thinking as it comes; TestStreaming covers that.)
func TestThinkingWithStructuredOutput(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		think := true
		res, err := reasoning.Refine(timeout(t), b.new(t, "think-json"), "What is 6 times 7?", &reasoning.Settings{Think: &think})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != reasoning.FixedPoint || res.Answer != "42" || len(res.Rounds) != 2 {
			t.Fatalf("got %s %q after %d rounds", res.Status, res.Answer, len(res.Rounds))
		}
		r := res.Rounds[0]
		if r.Thinking != "Six sevens make forty-two." || r.Fallback || r.Reasoning != "6 times 7 is 42" || r.FinishReason != reasoning.FinishStop {
			t.Errorf("round 1: thinking %q, reply %q, reasoning %q, fallback %v, finish %q", r.Thinking, r.Reply, r.Reasoning, r.Fallback, r.FinishReason)
		}
		// The usage counts are the second request's alone: the thinking's
		// tokens are not in them (docs/reasoning.md warns of this).
		if r.CompletionTokens != 6 {
			t.Errorf("%d completion tokens; want 6, the JSON reply's", r.CompletionTokens)
		}
	})
}

// TestThinkingOff checks that each backend turns thinking off in the way
// Ollama understands: the <think> block then stays in the reply.
func TestThinkingOff(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		think := false
		resp, err := b.new(t, "think").Chat(timeout(t), &reasoning.Request{
			Messages: question,
			Think:    &think,
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Thinking != "" || resp.Content != "<think>Six sevens make forty-two.</think>Final: 42" {
			t.Fatalf("thinking %q, reply %q", resp.Thinking, resp.Content)
		}
	})
}

func TestStreaming(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		var content, thinking strings.Builder
		var n int
		resp, err := b.new(t, "think").Chat(timeout(t), &reasoning.Request{
			Messages: question,
			OnToken: func(tk reasoning.Token) {
				n++
				content.WriteString(tk.Content)
				thinking.WriteString(tk.Thinking)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if n < 2 || content.String() != resp.Content || thinking.String() != resp.Thinking || resp.Content != "Final: 42" {
			t.Fatalf("%d tokens: %q + %q; reply %+v", n, thinking.String(), content.String(), resp)
		}
	})
}

func TestTokenLimit(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		m := b.new(t, "loop")
		resp, err := m.Chat(timeout(t), &reasoning.Request{Messages: question, MaxTokens: 7})
		if err != nil {
			t.Fatal(err)
		}
		if resp.FinishReason != reasoning.FinishLength || resp.CompletionTokens != 7 || resp.Content != "tick tocktick tocktick tocktick" {
			t.Fatalf("got %+v", resp)
		}

		// Through the loop: a reply cut at the limit has no answer, and the
		// error says why.
		_, err = reasoning.Refine(timeout(t), m, "q", &reasoning.Settings{Plain: true, MaxTokens: 5})
		if !errors.Is(err, reasoning.ErrNoAnswer) || !strings.Contains(err.Error(), "raise MaxTokens") {
			t.Fatalf("got %v", err)
		}
		// A token budget caps the request and stops the loop.
		res, err := reasoning.Refine(timeout(t), m, "q", &reasoning.Settings{Plain: true, TokenBudget: 9})
		if !errors.Is(err, reasoning.ErrNoAnswer) || res.Status != reasoning.TokenLimit || res.CompletionTokens != 9 {
			t.Fatalf("got %v, %s with %d tokens", err, res.Status, res.CompletionTokens)
		}
	})
}

// question is a chat of one message; the test models ignore what it says.
var question = []reasoning.Message{{Role: "user", Content: "q"}}

// TestCancelMidGeneration cancels the loop while the server generates a
// reply that never ends by itself (until Ollama's cap of ten times the
// context, 20,480 tokens, some tens of seconds here), and checks that the
// loop returns at once and the server stops generating: the model's one
// slot (OLLAMA_NUM_PARALLEL is 1) is free for the next request.
//
// The reply is not streamed, as the loop's are unless tokens are asked for:
// dropping a streamed reply can wedge Ollama v0.17.4 (see ollama.Model.Chat),
// which an earlier version of this test did about once in ten runs.
func TestCancelMidGeneration(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		// The models share one runner: loading it first makes sure that
		// the loop model is generating when canceled.
		if _, err := b.new(t, "fixed").Chat(timeout(t), &reasoning.Request{Messages: question}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(timeout(t))
		defer cancel()
		const after = 500 * time.Millisecond
		time.AfterFunc(after, cancel)
		t0 := time.Now()
		res, err := reasoning.Refine(ctx, b.new(t, "loop"), "q", &reasoning.Settings{Plain: true})
		if !errors.Is(err, context.Canceled) || res.Status != reasoning.Canceled || len(res.Rounds) != 0 {
			t.Fatalf("got %v, %s with %d rounds", err, res.Status, len(res.Rounds))
		}
		if d := time.Since(t0) - after; d > 5*time.Second {
			t.Errorf("returned %v after the cancellation", d)
		}

		// Had the server gone on generating, this would wait for the slot.
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := b.new(t, "fixed").Chat(ctx, &reasoning.Request{Messages: question})
		if err != nil || resp.Content != "The answer is 42." {
			t.Fatalf("after cancellation: %v, %+v", err, resp)
		}
	})
}

func TestMissingModel(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		_, err := reasoning.Refine(timeout(t), b.new(t, "no-such-model"), "q", nil)
		if !errors.Is(err, reasoning.ErrModelNotFound) || !strings.Contains(err.Error(), "no-such-model") {
			t.Fatalf("got %v", err)
		}
		if !strings.Contains(err.Error(), `ollama pull no-such-model`) {
			t.Errorf("error does not say how to pull the model: %v", err)
		}

		// The other API's address: a URL to check, not a model to pull.
		_, err = b.wrongURL(t, "json").Chat(timeout(t), &reasoning.Request{Messages: question})
		var se *reasoning.ServerError
		if !errors.As(err, &se) || se.StatusCode != 404 || errors.Is(err, reasoning.ErrModelNotFound) {
			t.Fatalf("wrong URL: got %v", err)
		}
	})
}

func TestEmbeddingDistance(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		d := reasoning.EmbeddingDistance{Embedder: b.new(t, "fixed").(reasoning.Embedder)}
		// Trigger tokens have one-hot embeddings: the same one is at
		// distance 0, two different ones at 1.
		same, err := d.Distance(timeout(t), "<|fixed|>", "<|fixed|>")
		if err != nil {
			t.Fatal(err)
		}
		diff, err := d.Distance(timeout(t), "<|fixed|>", "<|json|>")
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(same) > 1e-3 || math.Abs(diff-1) > 1e-3 {
			t.Fatalf("distances %v (same), %v (different); want 0 and 1", same, diff)
		}
	})
}

func TestSelfConsistency(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		temp := 0.8
		res, err := reasoning.SelfConsistency(timeout(t), b.new(t, "json"), "q", &reasoning.Settings{Temperature: &temp})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != reasoning.VoteSettled || res.Answer != "42" || res.Votes["42"] != 3 || len(res.Rounds) != 3 {
			t.Fatalf("got %s %q, votes %v", res.Status, res.Answer, res.Votes)
		}
	})
}

// TestEnvURL reaches the server through OLLAMA_HOST as Ollama's own
// clients write it, a host and port without a scheme, on both APIs (the
// command line's default for --backend openai is /v1 there).
func TestEnvURL(t *testing.T) {
	if server == nil {
		t.Skip(skipReason)
	}
	t.Setenv("OLLAMA_HOST", strings.TrimPrefix(server.URL, "http://"))
	for _, m := range []reasoning.Model{newNative(t, ollama.EnvURL(), "fixed"), newV1(t, ollama.EnvURL()+"/v1", "fixed")} {
		resp, err := m.Chat(timeout(t), &reasoning.Request{Messages: question})
		if err != nil || resp.Content != "The answer is 42." {
			t.Fatalf("OLLAMA_HOST=%s: %v, %+v", os.Getenv("OLLAMA_HOST"), err, resp)
		}
	}
}

// TestReplyTooLarge limits replies to fewer bytes than the server's reply
// takes: the loop fails at once, without retries, and the model serves the
// next request (the reply is not streamed, so dropping it is safe).
func TestReplyTooLarge(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		var m reasoning.Model
		var err error
		if b.name == "native" {
			m, err = ollama.New(ollama.Config{URL: server.URL, Model: "fixed", MaxReplyBytes: 100})
		} else {
			m, err = openai.New(openai.Config{BaseURL: server.URL + "/v1", Model: "fixed", MaxReplyBytes: 100})
		}
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		_, err = reasoning.Refine(timeout(t), m, "q", &reasoning.Settings{Plain: true})
		if !errors.Is(err, reasoning.ErrReplyTooLarge) || !strings.Contains(err.Error(), "100 bytes") || strings.Contains(err.Error(), "attempts") {
			t.Fatalf("got %v, want %v after one attempt", err, reasoning.ErrReplyTooLarge)
		}
		t.Logf("%v in %v", err, time.Since(t0))
		resp, err := b.new(t, "fixed").Chat(timeout(t), &reasoning.Request{Messages: question})
		if err != nil || resp.Content != "The answer is 42." {
			t.Fatalf("after a reply too large: %v, %+v", err, resp)
		}
	})
}
