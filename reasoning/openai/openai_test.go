package openai

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

func server(t *testing.T, h http.HandlerFunc) *Model {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", h)
	mux.HandleFunc("/v1/embeddings", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string
			Input []string
		}
		json.NewDecoder(r.Body).Decode(&req)
		if req.Model != "embedder" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"message":"model 'x' not found","type":"api_error"}}`)
			return
		}
		var data []map[string]any
		for i := len(req.Input) - 1; i >= 0; i-- { // out of order, as servers may
			data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": []float32{float32(i), 1}})
		}
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
	})
	srv := wiretest.Serve(t, mux)
	m, err := New(Config{BaseURL: srv.URL + "/v1/", Model: "tiny", EmbedModel: "embedder"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sse(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, e := range events {
		fmt.Fprintf(w, "data: %s\n\n", e)
		w.(http.Flusher).Flush()
	}
}

func TestChat(t *testing.T) {
	var got map[string]any
	m := server(t, func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
		sse(w,
			`{"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"ollama thinks "},"finish_reason":null}]}`,
			`{"choices":[{"index":0,"delta":{"content":"","reasoning_content":"llama-server thinks"},"finish_reason":null}]}`,
			`{"choices":[{"index":0,"delta":{"content":"{\"reasoning\":\"r\",\"answer\":\"4\"}"},"finish_reason":null}]}`,
			`{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}`,
			`{"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":6,"total_tokens":17}}`,
			`[DONE]`)
	})
	temp, seed, think := 0.0, 5, false
	var toks int
	resp, err := m.Chat(context.Background(), &reasoning.Request{
		Messages:    []reasoning.Message{{Role: "system", Content: "s"}, {Role: "user", Content: "q"}},
		Schema:      json.RawMessage(reasoning.AnswerSchema),
		Temperature: &temp, Seed: &seed, Think: &think, MaxTokens: 64,
		OnToken: func(reasoning.Token) { toks++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != `{"reasoning":"r","answer":"4"}` || resp.Thinking != "ollama thinks llama-server thinks" ||
		resp.PromptTokens != 11 || resp.CompletionTokens != 6 || resp.FinishReason != reasoning.FinishLength || toks != 3 {
		t.Fatalf("got %+v, %d tokens", resp, toks)
	}
	// temperature 0 must be on the wire: go-openai alone would drop it.
	if temp, ok := got["temperature"]; !ok || temp != 0.0 {
		t.Errorf("temperature %v (present %v)", temp, ok)
	}
	// Thinking off: "none" as reasoning.effort, which Ollama reads, not as
	// reasoning_effort, which vLLM rejects.
	if r, _ := got["reasoning"].(map[string]any); r["effort"] != "none" || got["reasoning_effort"] != nil {
		t.Errorf("reasoning %v, reasoning_effort %v", got["reasoning"], got["reasoning_effort"])
	}
	if got["max_tokens"] != 64.0 || got["max_completion_tokens"] != nil || got["seed"] != 5.0 || got["stream"] != true ||
		got["model"] != "tiny" {
		t.Errorf("request %v", got)
	}
	if kw, _ := got["chat_template_kwargs"].(map[string]any); kw["enable_thinking"] != false {
		t.Errorf("chat_template_kwargs %v", got["chat_template_kwargs"])
	}
	if so, _ := got["stream_options"].(map[string]any); so["include_usage"] != true {
		t.Errorf("stream_options %v", got["stream_options"])
	}
	rf, _ := json.Marshal(got["response_format"])
	if !strings.Contains(string(rf), `"type":"json_schema"`) || !strings.Contains(string(rf), `"answer"`) {
		t.Errorf("response_format %s", rf)
	}
}

// whole writes a reply that is not streamed.
func whole(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, body)
}

func TestChatWhole(t *testing.T) {
	// Without OnToken the reply is not streamed; thinking is read under
	// both names there too.
	var got map[string]any
	m := server(t, func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
		whole(w, `{"choices":[{"index":0,"message":{"role":"assistant","content":"42","reasoning":"ollama thinks ","reasoning_content":"llama-server thinks"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":6}}`)
	})
	temp := 0.0
	resp, err := m.Chat(context.Background(), &reasoning.Request{Temperature: &temp})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != "42" || resp.Thinking != "ollama thinks llama-server thinks" || resp.PromptTokens != 11 ||
		resp.CompletionTokens != 6 || resp.FinishReason != reasoning.FinishStop {
		t.Fatalf("got %+v", resp)
	}
	if got["stream"] == true || got["stream_options"] != nil || got["temperature"] != 0.0 {
		t.Errorf("request %v", got)
	}
}

func TestChatDefaults(t *testing.T) {
	// No temperature, think or limit asked for: none sent. No usage
	// reported: completion tokens are estimated, from the chunks of a
	// stream and the length of a whole reply.
	var got map[string]any
	m := server(t, func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
		if got["stream"] != true {
			whole(w, `{"choices":[{"message":{"content":"forty-two"},"finish_reason":"stop"}]}`)
			return
		}
		sse(w,
			`{"choices":[{"index":0,"delta":{"content":"4"},"finish_reason":null}]}`,
			`{"choices":[{"index":0,"delta":{"content":"2"},"finish_reason":"stop"}]}`,
			`[DONE]`)
	})
	m.cfg.MaxCompletionTokens = true
	resp, err := m.Chat(context.Background(), &reasoning.Request{MaxTokens: 9, OnToken: func(reasoning.Token) {}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != "42" || resp.CompletionTokens != 2 {
		t.Fatalf("got %+v", resp)
	}
	for _, k := range []string{"temperature", "reasoning", "reasoning_effort", "chat_template_kwargs", "response_format", "max_tokens"} {
		if v, ok := got[k]; ok {
			t.Errorf("%s sent: %v", k, v)
		}
	}
	if got["max_completion_tokens"] != 9.0 {
		t.Errorf("max_completion_tokens %v", got["max_completion_tokens"])
	}
	if resp, err = m.Chat(context.Background(), &reasoning.Request{}); err != nil || resp.CompletionTokens != 3 {
		t.Fatalf("whole reply: got %+v, %v; want 3 tokens for 9 characters", resp, err)
	}
}

func TestChatErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stream  bool // ask for a streamed reply
		h       http.HandlerFunc
		is      error
		status  int
		message string
	}{
		{"missing model", false, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"message":"model 'tiny' not found","type":"api_error"}}`)
		}, reasoning.ErrModelNotFound, 0, `ollama pull tiny`},
		{"500", false, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"error":{"message":"kv cache full","type":"server_error"}}`)
		}, nil, 500, "kv cache full"},
		{"503 not JSON", false, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "Loading model", http.StatusServiceUnavailable)
		}, nil, 503, "Loading model"},
		// llama-server, and vLLM in some versions, send the error as a
		// string; go-openai then loses the status and the message.
		{"503 error string", false, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"Loading model"}`)
		}, nil, 503, "Loading model"},
		{"503 error string streamed", true, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"Loading model"}`)
		}, nil, 503, "Loading model"},
		// vLLM in other versions: the message at the top level.
		{"400 top-level message", false, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"object":"error","message":"max_tokens is too large","type":"BadRequestError","code":400}`)
		}, nil, 400, "max_tokens is too large"},
		{"500 streamed", true, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"error":{"message":"kv cache full","type":"server_error"}}`)
		}, nil, 500, "kv cache full"},
		{"malformed JSON", false, func(w http.ResponseWriter, r *http.Request) {
			whole(w, `{"choices": [oops`)
		}, nil, 0, "oops"},
		{"no choices", false, func(w http.ResponseWriter, r *http.Request) {
			whole(w, `{"choices": []}`)
		}, nil, 0, "without choices"},
		{"reply cut", false, func(w http.ResponseWriter, r *http.Request) {
			wiretest.DropConnection(w, `{"choices":[{"message":{"content":"4`)
		}, reasoning.ErrInterrupted, 0, ""},
		{"malformed chunk", true, func(w http.ResponseWriter, r *http.Request) {
			sse(w, `{"choices":[{"delta":{"content":"a"}}]}`, `{"choices": [oops`)
		}, nil, 0, "malformed stream chunk"},
		{"error in stream", true, func(w http.ResponseWriter, r *http.Request) {
			sse(w, `{"choices":[{"delta":{"content":"a"}}]}`, `{"error":{"message":"context overflow"}}`)
		}, nil, 0, "context overflow"},
		{"error string in stream", true, func(w http.ResponseWriter, r *http.Request) {
			sse(w, `{"choices":[{"delta":{"content":"a"}}]}`, `{"error":"context overflow"}`)
		}, nil, 0, "context overflow"},
		{"stream cut", true, func(w http.ResponseWriter, r *http.Request) {
			sse(w, `{"choices":[{"delta":{"content":"a"},"finish_reason":null}]}`)
		}, reasoning.ErrInterrupted, 0, "ended before its final message"},
		{"connection dropped mid-event", true, func(w http.ResponseWriter, r *http.Request) {
			wiretest.DropConnection(w, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"cho")
		}, reasoning.ErrInterrupted, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := server(t, tc.h)
			req := &reasoning.Request{Messages: []reasoning.Message{{Role: "user", Content: "q"}}}
			if tc.stream {
				req.OnToken = func(reasoning.Token) {}
			}
			_, err := m.Chat(context.Background(), req)
			wiretest.CheckError(t, err, tc.is, tc.status, tc.message)
		})
	}
}

func TestChatWrongPath(t *testing.T) {
	// A base URL without /v1: the path is wrong, not the model.
	m := server(t, func(w http.ResponseWriter, r *http.Request) {})
	m.cfg.BaseURL = strings.TrimSuffix(m.cfg.BaseURL, "/v1")
	_, err := m.Chat(context.Background(), &reasoning.Request{})
	wiretest.CheckError(t, err, nil, http.StatusNotFound, "ends in /v1")
	if errors.Is(err, reasoning.ErrModelNotFound) {
		t.Errorf("%v: a wrong path taken for a missing model", err)
	}
}

func TestChatUnreachable(t *testing.T) {
	addr := wiretest.ClosedAddr(t)
	m, err := New(Config{BaseURL: "http://" + addr + "/v1", Model: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = m.Chat(context.Background(), &reasoning.Request{}); !errors.Is(err, reasoning.ErrUnreachable) {
		t.Fatalf("got %v", err)
	}
}

func TestChatCancel(t *testing.T) {
	for _, streamed := range []bool{false, true} {
		t.Run(fmt.Sprintf("streamed=%v", streamed), func(t *testing.T) {
			started := make(chan struct{})
			// The handler outlives the cancellation, so that the server cannot
			// end the reply before the client notices it was canceled.
			release := make(chan struct{})
			m := server(t, func(w http.ResponseWriter, r *http.Request) {
				if streamed {
					sse(w, `{"choices":[{"delta":{"content":"tick"}}]}`)
				} else {
					fmt.Fprint(w, `{"choices":[`) // a reply still being generated
					w.(http.Flusher).Flush()
				}
				close(started)
				<-release
			})
			t.Cleanup(func() { close(release) }) // before the server closes
			ctx, cancel := context.WithCancel(context.Background())
			go func() { <-started; cancel() }()
			req := &reasoning.Request{}
			if streamed {
				req.OnToken = func(reasoning.Token) {}
			}
			t0 := time.Now()
			if _, err := m.Chat(ctx, req); !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v", err)
			}
			if d := time.Since(t0); d > 5*time.Second {
				t.Errorf("cancellation took %v", d)
			}
		})
	}
}

func TestEmbed(t *testing.T) {
	m := server(t, func(http.ResponseWriter, *http.Request) {})
	v, err := m.Embed(context.Background(), []string{"a", "b", "c"})
	if err != nil || len(v) != 3 || v[2][0] != 2 || v[0][0] != 0 {
		t.Fatalf("got %v, %v", v, err)
	}
	m.cfg.EmbedModel = "x"
	if _, err := m.Embed(context.Background(), []string{"a"}); !errors.Is(err, reasoning.ErrModelNotFound) {
		t.Fatalf("got %v", err)
	}
}

func TestNew(t *testing.T) {
	for _, c := range []Config{{BaseURL: "http://h/v1"}, {Model: "m"}, {Model: "m", BaseURL: "h:1/v1"}} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// protocol is the OpenAI chat completions protocol, for the loop tests of
// wiretest.
var protocol = wiretest.Protocol{
	Model: func(t *testing.T, h http.HandlerFunc) reasoning.Model { return server(t, h) },
	Reply: func(w http.ResponseWriter, content string) {
		c, _ := json.Marshal(content)
		whole(w, `{"choices":[{"index":0,"message":{"content":`+string(c)+`},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":9}}`)
	},
	Busy: func(w http.ResponseWriter) {
		http.Error(w, `{"error":{"message":"Loading model","type":"unavailable_error"}}`, http.StatusServiceUnavailable)
	},
}

func TestRefineThroughOpenAI(t *testing.T) { wiretest.CheckRefine(t, protocol) }

func TestRefineRetriesErrorString(t *testing.T) {
	// A 503 whose body holds the error as a string is retried as any 503.
	p := protocol
	p.Busy = func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":"Loading model"}`)
	}
	wiretest.CheckRefine(t, p)
}

// limited returns server(t, h) with replies limited to 64 KiB.
func limited(t *testing.T, h http.HandlerFunc) reasoning.Model {
	m := server(t, h)
	m.cfg.MaxReplyBytes = 64 << 10
	return m
}

func TestReplyTooLarge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream bool
		reply  http.HandlerFunc
	}{
		{"whole", false, func(w http.ResponseWriter, r *http.Request) {
			wiretest.Long(w, r, `{"choices":[{"message":{"content":"`, "tick ", 4<<20)
		}},
		{"streamed", true, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			wiretest.Long(w, r, "", `data: {"choices":[{"delta":{"content":"tick"},"finish_reason":null}]}`+"\n\n", 4<<20)
		}},
		{"one endless event", true, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			wiretest.Long(w, r, `data: {"choices":[{"delta":{"content":"`, "tick ", 4<<20)
		}},
		{"error reply", false, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			wiretest.Long(w, r, `{"error":"`, "busy ", 4<<20)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { wiretest.CheckReplyTooLarge(t, limited, tc.stream, tc.reply, "64 KiB") })
	}
}

func TestEmbedTooLarge(t *testing.T) {
	wiretest.CheckEmbedTooLarge(t, "/v1/embeddings", `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[`,
		func(url string) (reasoning.Embedder, error) {
			return New(Config{BaseURL: url + "/v1", Model: "tiny", MaxReplyBytes: 1000})
		})
}

func TestMaxReplyBytes(t *testing.T) {
	for _, tc := range []struct{ set, want int64 }{{0, DefaultMaxReplyBytes}, {-1, 0}, {5, 5}} {
		m, err := New(Config{BaseURL: "http://h/v1", Model: "m", MaxReplyBytes: tc.set})
		if err != nil || m.cfg.MaxReplyBytes != tc.want {
			t.Errorf("MaxReplyBytes %d: got %v, %v; want %d", tc.set, m, err, tc.want)
		}
	}
}

func TestRequestTimeout(t *testing.T) {
	wiretest.CheckRequestTimeout(t, protocol, func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusOK) // headers, then nothing
		w.(http.Flusher).Flush()
	})
}

func TestLongError(t *testing.T) { wiretest.CheckLongError(t, protocol) }
