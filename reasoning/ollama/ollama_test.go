package ollama

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/implicitlab/implicit/reasoning"
	"github.com/implicitlab/implicit/reasoning/internal/wiretest"
)

// server starts an httptest server whose /api/chat handler is h, and
// returns a Model for it.
func server(t *testing.T, h http.HandlerFunc) *Model {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/chat", h)
	mux.HandleFunc("/api/embed", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string
			Input []string
		}
		json.NewDecoder(r.Body).Decode(&req)
		if req.Model != "embedder" {
			http.Error(w, `{"error":"model 'x' not found"}`, http.StatusNotFound)
			return
		}
		var out [][]float32
		for i := range req.Input {
			out = append(out, []float32{float32(i), 1})
		}
		json.NewEncoder(w).Encode(map[string]any{"embeddings": out})
	})
	srv := wiretest.Serve(t, mux)
	m, err := New(Config{URL: srv.URL, Model: "tiny", EmbedModel: "embedder", Options: map[string]any{"num_ctx": 512}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func lines(w http.ResponseWriter, ls ...string) {
	for _, l := range ls {
		fmt.Fprintln(w, l)
		w.(http.Flusher).Flush()
	}
}

func TestChat(t *testing.T) {
	var got map[string]any
	m := server(t, func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
		lines(w,
			`{"message":{"role":"assistant","content":"","thinking":"hmm "},"done":false}`,
			`{"message":{"role":"assistant","content":"{\"reasoning\":\"r\","},"done":false}`,
			`{"message":{"role":"assistant","content":"\"answer\":\"4\"}"},"done":true,"done_reason":"stop","prompt_eval_count":12,"eval_count":7}`)
	})
	temp, seed, think := 0.0, 3, true
	var toks []reasoning.Token
	resp, err := m.Chat(context.Background(), &reasoning.Request{
		Messages:    []reasoning.Message{{Role: "user", Content: "2+2?"}},
		Schema:      json.RawMessage(reasoning.AnswerSchema),
		Temperature: &temp, Seed: &seed, Think: &think, MaxTokens: 50,
		OnToken: func(tk reasoning.Token) { toks = append(toks, tk) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != `{"reasoning":"r","answer":"4"}` || resp.Thinking != "hmm " || resp.PromptTokens != 12 ||
		resp.CompletionTokens != 7 || resp.FinishReason != reasoning.FinishStop || len(toks) != 3 {
		t.Fatalf("got %+v, %d tokens", resp, len(toks))
	}
	opts := got["options"].(map[string]any)
	if got["model"] != "tiny" || got["think"] != true || got["stream"] != true || opts["temperature"] != 0.0 ||
		opts["seed"] != 3.0 || opts["num_predict"] != 50.0 || opts["num_ctx"] != 512.0 {
		t.Errorf("request %v", got)
	}
	if f, _ := json.Marshal(got["format"]); !strings.Contains(string(f), `"answer"`) {
		t.Errorf("format %s", f)
	}
}

func TestChatNotStreamed(t *testing.T) {
	// Without OnToken the reply is not streamed (see Model.Chat for why).
	var got map[string]any
	m := server(t, func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
		lines(w, `{"message":{"role":"assistant","content":"42","thinking":"hmm"},"done":true,"done_reason":"stop","eval_count":2}`)
	})
	resp, err := m.Chat(context.Background(), &reasoning.Request{})
	if err != nil || resp.Content != "42" || resp.Thinking != "hmm" || resp.CompletionTokens != 2 {
		t.Fatalf("got %+v, %v", resp, err)
	}
	if got["stream"] != false {
		t.Errorf("stream %v", got["stream"])
	}
}

func TestChatErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		h       http.HandlerFunc
		is      error
		status  int
		message string
	}{
		{"missing model", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":"model 'tiny' not found"}`)
		}, reasoning.ErrModelNotFound, 0, `ollama pull tiny`},
		{"500", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"error":"runner crashed"}`)
		}, nil, 500, "runner crashed"},
		{"500 not JSON", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "upstream failure", http.StatusBadGateway)
		}, nil, 502, "upstream failure"},
		{"malformed JSON", func(w http.ResponseWriter, r *http.Request) {
			lines(w, `{"message":{"content":"a"},"done":false}`, `{"message": nope`)
		}, nil, 0, `nope`},
		{"error in stream", func(w http.ResponseWriter, r *http.Request) {
			lines(w, `{"message":{"content":"a"},"done":false}`, `{"error":"out of memory"}`)
		}, nil, 0, "out of memory"},
		{"stream cut", func(w http.ResponseWriter, r *http.Request) {
			lines(w, `{"message":{"content":"a"},"done":false}`)
			// The handler returns with no final message.
		}, reasoning.ErrInterrupted, 0, "ended before its final message"},
		{"connection dropped mid-line", func(w http.ResponseWriter, r *http.Request) {
			wiretest.DropConnection(w, `{"message":{"content":"a"},"done":false}`+"\n"+`{"message":{"cont`)
		}, reasoning.ErrInterrupted, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := server(t, tc.h)
			_, err := m.Chat(context.Background(), &reasoning.Request{Messages: []reasoning.Message{{Role: "user", Content: "q"}}})
			wiretest.CheckError(t, err, tc.is, tc.status, tc.message)
		})
	}
}

func TestChatWrongPath(t *testing.T) {
	// A 404 about the path, not the model, as the /v1 URL gets: not a model
	// to pull, but a URL to check.
	m := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "404 page not found", http.StatusNotFound)
	})
	_, err := m.Chat(context.Background(), &reasoning.Request{})
	wiretest.CheckError(t, err, nil, http.StatusNotFound, "not under /v1")
	if errors.Is(err, reasoning.ErrModelNotFound) {
		t.Errorf("%v: a wrong path taken for a missing model", err)
	}
}

func TestChatUnreachable(t *testing.T) {
	addr := wiretest.ClosedAddr(t)
	m, err := New(Config{URL: "http://" + addr, Model: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Chat(context.Background(), &reasoning.Request{})
	if !errors.Is(err, reasoning.ErrUnreachable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("got %v", err)
	}
}

func TestChatCancel(t *testing.T) {
	started := make(chan struct{})
	m := server(t, func(w http.ResponseWriter, r *http.Request) {
		lines(w, `{"message":{"content":"tick"},"done":false}`)
		close(started)
		<-r.Context().Done() // a generation that never ends
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	t0 := time.Now()
	_, err := m.Chat(ctx, &reasoning.Request{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("cancellation took %v", d)
	}
}

// protocol is Ollama's chat protocol, for the loop tests of wiretest.
var protocol = wiretest.Protocol{
	Model: func(t *testing.T, h http.HandlerFunc) reasoning.Model { return server(t, h) },
	Reply: func(w http.ResponseWriter, content string) {
		b, _ := json.Marshal(map[string]any{
			"message": map[string]string{"role": "assistant", "content": content},
			"done":    true, "done_reason": "stop", "eval_count": 9,
		})
		lines(w, string(b))
	},
	Busy: func(w http.ResponseWriter) { http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable) },
}

func TestRefineThroughOllama(t *testing.T) { wiretest.CheckRefine(t, protocol) }

func TestRequestTimeout(t *testing.T) {
	wiretest.CheckRequestTimeout(t, protocol, func(http.ResponseWriter) {}) // no headers even
}

// limited returns server(t, h) with replies limited to 64 KiB.
func limited(t *testing.T, h http.HandlerFunc) reasoning.Model {
	m := server(t, h)
	m.cfg.MaxReplyBytes = 64 << 10
	return m
}

func TestReplyTooLarge(t *testing.T) {
	piece := `{"message":{"role":"assistant","content":"tick"},"done":false}` + "\n"
	for _, tc := range []struct {
		name   string
		stream bool
		reply  http.HandlerFunc
	}{
		{"whole", false, func(w http.ResponseWriter, r *http.Request) {
			wiretest.Long(w, r, `{"message":{"role":"assistant","content":"`, "tick ", 4<<20)
		}},
		{"streamed", true, func(w http.ResponseWriter, r *http.Request) {
			wiretest.Long(w, r, "", piece, 4<<20)
		}},
		{"error reply", false, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			wiretest.Long(w, r, `{"error":"`, "busy ", 4<<20)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { wiretest.CheckReplyTooLarge(t, limited, tc.stream, tc.reply, "64 KiB") })
	}
}

func TestReplyLineTooLong(t *testing.T) {
	// The api package reads lines of less than 8 MB, and stops quietly at a
	// longer one: not an interrupted reply, to be downloaded again.
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("streamed=%v", stream), func(t *testing.T) {
			wiretest.CheckReplyTooLarge(t, func(t *testing.T, h http.HandlerFunc) reasoning.Model { return server(t, h) }, stream,
				func(w http.ResponseWriter, r *http.Request) {
					wiretest.Long(w, r, `{"message":{"role":"assistant","content":"`, "tick ", MaxLineBytes+1<<20)
				}, "8 MB")
		})
	}
}

func TestEmbedTooLarge(t *testing.T) {
	wiretest.CheckEmbedTooLarge(t, "/api/embed", `{"embeddings":[[`, func(url string) (reasoning.Embedder, error) {
		return New(Config{URL: url, Model: "tiny", MaxReplyBytes: 1000})
	})
}

func TestEmbed(t *testing.T) {
	m := server(t, func(http.ResponseWriter, *http.Request) {})
	v, err := m.Embed(context.Background(), []string{"a", "b"})
	if err != nil || len(v) != 2 || v[1][0] != 1 {
		t.Fatalf("got %v, %v", v, err)
	}
	m.cfg.EmbedModel = "x"
	if _, err := m.Embed(context.Background(), []string{"a"}); !errors.Is(err, reasoning.ErrModelNotFound) {
		t.Fatalf("got %v", err)
	}
}

func TestNew(t *testing.T) {
	for _, c := range []Config{{}, {Model: "m", URL: "localhost:11434"}, {Model: "m", URL: "ftp://x"}} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	m, err := New(Config{Model: "m"})
	if err != nil || m.url != DefaultURL {
		t.Errorf("default URL: %v, %v", m, err)
	}
	for _, tc := range []struct{ set, want int64 }{{0, DefaultMaxReplyBytes}, {-1, 0}, {5, 5}} {
		m, err := New(Config{Model: "m", MaxReplyBytes: tc.set})
		if err != nil || m.cfg.MaxReplyBytes != tc.want {
			t.Errorf("MaxReplyBytes %d: got %v, %v; want %d", tc.set, m, err, tc.want)
		}
	}
}

func TestLongError(t *testing.T) { wiretest.CheckLongError(t, protocol) }

func TestEnvURL(t *testing.T) {
	for host, want := range map[string]string{
		"":                           DefaultURL,
		"127.0.0.1":                  "http://127.0.0.1:11434", // not port 80
		"0.0.0.0":                    "http://0.0.0.0:11434",
		"example.com":                "http://example.com:11434",
		"example.com:8080":           "http://example.com:8080",
		"http://example.com":         "http://example.com:80",
		"https://example.com":        "https://example.com:443",
		"https://example.com/ollama": "https://example.com:443/ollama",
		"[::1]:9000":                 "http://[::1]:9000",
		`"10.0.0.2:1234"`:            "http://10.0.0.2:1234", // quotes, as a shell file may leave them
	} {
		t.Setenv("OLLAMA_HOST", host)
		if got := EnvURL(); got != want {
			t.Errorf("OLLAMA_HOST=%s: got %s, want %s", host, got, want)
		}
		if _, err := New(Config{URL: EnvURL(), Model: "m"}); err != nil {
			t.Errorf("OLLAMA_HOST=%s: %v", host, err)
		}
	}
}
