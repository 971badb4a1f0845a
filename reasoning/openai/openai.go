// Package openai is a reasoning.Model for any server with an
// OpenAI-compatible chat completions API (llama.cpp's llama-server, vLLM,
// LM Studio, Ollama's /v1), through github.com/sashabaranov/go-openai.
//
// It smooths over the differences between such servers: go-openai omits a
// temperature of 0 from the request (omitempty), so this package writes it
// back, as greedy decoding needs it; thinking comes back in "reasoning"
// (Ollama) or "reasoning_content" (llama-server, vLLM), and both are read;
// thinking is turned off with chat_template_kwargs (llama-server, vLLM) and
// reasoning.effort "none" (Ollama); and the token limit is sent as
// max_tokens, which all of them honour, while Ollama ignores
// max_completion_tokens (Config.MaxCompletionTokens switches).
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/implicitlab/implicit/reasoning"
	"github.com/implicitlab/implicit/reasoning/internal/wire"
)

// Config configures a Model.
type Config struct {
	// BaseURL is the API's base, up to and including /v1, as in
	// "http://127.0.0.1:8080/v1" (llama-server) or
	// "http://127.0.0.1:11434/v1" (Ollama).
	BaseURL string

	// APIKey is sent as a bearer token, if not empty.
	APIKey string

	// Model is the model's name on the server.
	Model string

	// EmbedModel is the model that computes embeddings. Default Model.
	EmbedModel string

	// MaxCompletionTokens sends the token limit as max_completion_tokens,
	// which OpenAI's reasoning models require, instead of max_tokens.
	MaxCompletionTokens bool

	// MaxReplyBytes limits the size of a reply in bytes, as it comes from
	// the server: its JSON and, streamed, the framing of every piece. A
	// reply over it fails with an error wrapping reasoning.ErrReplyTooLarge,
	// which is not retried. Default DefaultMaxReplyBytes; negative means no
	// limit.
	MaxReplyBytes int64

	// HTTPClient sends the requests. Default a client without a timeout:
	// requests end with their context.
	HTTPClient *http.Client
}

// DefaultMaxReplyBytes is the default of Config.MaxReplyBytes, 64 MiB: a
// streamed reply of about 300,000 tokens, a whole one of millions.
const DefaultMaxReplyBytes = wire.DefaultMaxReplyBytes

// Model is a model on an OpenAI-compatible server. It implements
// reasoning.Model and reasoning.Embedder, and is safe for concurrent use.
type Model struct {
	cfg Config
}

// New returns the Model that cfg describes.
func New(cfg Config) (*Model, error) {
	if cfg.Model == "" {
		return nil, errors.New("openai: no model name")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai: base URL %q: want http://host:port/v1", cfg.BaseURL)
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	cfg.MaxReplyBytes = wire.MaxReplyBytes(cfg.MaxReplyBytes)
	if cfg.EmbedModel == "" {
		cfg.EmbedModel = cfg.Model
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	return &Model{cfg: cfg}, nil
}

// client returns a go-openai client whose requests get the JSON fields in
// set added to their bodies, and whose reply bodies are copied to body if it
// is not nil, and watched by the Reply it returns too.
func (m *Model) client(set map[string]any, body *bytes.Buffer) (*goopenai.Client, *wire.Reply) {
	c := goopenai.DefaultConfig(m.cfg.APIKey)
	c.BaseURL = m.cfg.BaseURL
	watch := &wire.Reply{Limit: m.cfg.MaxReplyBytes}
	c.HTTPClient = &bodyFields{next: m.cfg.HTTPClient, set: set, reply: body, watch: watch}
	return goopenai.NewClientWithConfig(c), watch
}

// message is a reply's message, or a streamed delta of one, with both names
// for thinking; go-openai's types know only reasoning_content.
type message struct {
	Content          string `json:"content"`
	Reasoning        string `json:"reasoning"`
	ReasoningContent string `json:"reasoning_content"`
}

func (m message) thinking() string { return m.Reasoning + m.ReasoningContent }

// usage is a reply's token counts.
type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// completion is a whole chat completion.
type completion struct {
	Choices []struct {
		Message      message `json:"message"`
		FinishReason string  `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage `json:"usage"`
}

// chunk is a streamed chat completion chunk.
type chunk struct {
	Choices []struct {
		Delta        message `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage `json:"usage"`
}

// Chat sends req as a chat completion, streamed if req.OnToken is set (see
// the ollama package's Model.Chat for why replies are not streamed
// otherwise: Ollama's /v1 shares the race).
func (m *Model) Chat(ctx context.Context, req *reasoning.Request) (*reasoning.Response, error) {
	creq := goopenai.ChatCompletionRequest{Model: m.cfg.Model, Seed: req.Seed}
	for _, msg := range req.Messages {
		creq.Messages = append(creq.Messages, goopenai.ChatCompletionMessage{Role: msg.Role, Content: msg.Content})
	}
	if req.MaxTokens > 0 {
		if m.cfg.MaxCompletionTokens {
			creq.MaxCompletionTokens = req.MaxTokens
		} else {
			creq.MaxTokens = req.MaxTokens
		}
	}
	if req.Schema != nil {
		creq.ResponseFormat = &goopenai.ChatCompletionResponseFormat{
			Type: goopenai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &goopenai.ChatCompletionResponseFormatJSONSchema{
				Name:   "answer",
				Schema: json.RawMessage(req.Schema),
				Strict: true,
			},
		}
	}
	set := map[string]any{}
	if req.Temperature != nil {
		set["temperature"] = *req.Temperature
	}
	if req.Think != nil {
		// llama-server and vLLM pass enable_thinking to the chat template.
		// Ollama ignores that, thinks by default when the model can, and
		// turns thinking off with an effort of "none", which it reads from
		// reasoning.effort as well as from reasoning_effort. It goes in the
		// first: vLLM rejects a reasoning_effort other than low, medium or
		// high, and ignores fields it does not know.
		creq.ChatTemplateKwargs = map[string]any{"enable_thinking": *req.Think}
		if !*req.Think {
			set["reasoning"] = map[string]string{"effort": "none"}
		}
	}
	if req.OnToken == nil {
		return m.complete(ctx, creq, set)
	}
	return m.stream(ctx, creq, set, req.OnToken)
}

// complete sends creq for a whole reply. go-openai decodes the reply into
// types without "reasoning", so the copy of the body is read here.
func (m *Model) complete(ctx context.Context, creq goopenai.ChatCompletionRequest, set map[string]any) (*reasoning.Response, error) {
	var body bytes.Buffer
	client, watch := m.client(set, &body)
	if _, err := client.CreateChatCompletion(ctx, creq); err != nil {
		if err := watch.Err(ctx, "openai", m.cfg.BaseURL); err != nil {
			return nil, err
		}
		// A body that is not JSON, with a status of success.
		var ae *goopenai.APIError
		var re *goopenai.RequestError
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		if !errors.As(err, &ae) && !errors.As(err, &re) && (errors.As(err, &syntax) || errors.As(err, &typ)) {
			return nil, fmt.Errorf("openai %s: malformed reply %.200q: %v", m.cfg.BaseURL, body.Bytes(), err)
		}
		return nil, m.classify(err, m.cfg.Model)
	}
	var c completion
	if err := json.Unmarshal(body.Bytes(), &c); err != nil {
		return nil, fmt.Errorf("openai %s: malformed reply %.200q: %v", m.cfg.BaseURL, body.Bytes(), err)
	}
	if len(c.Choices) == 0 {
		return nil, fmt.Errorf("openai %s: reply without choices: %.200q", m.cfg.BaseURL, body.Bytes())
	}
	ch := c.Choices[0]
	resp := &reasoning.Response{Content: ch.Message.Content, Thinking: ch.Message.thinking(), FinishReason: ch.FinishReason}
	if c.Usage != nil {
		resp.PromptTokens, resp.CompletionTokens = c.Usage.PromptTokens, c.Usage.CompletionTokens
	} else {
		// An estimate, at about four characters a token, keeps token
		// budgets working where usage is not reported.
		resp.CompletionTokens = (len(resp.Content) + len(resp.Thinking) + 3) / 4
	}
	return resp, nil
}

// stream sends creq for a streamed reply, passing its pieces to onToken.
func (m *Model) stream(ctx context.Context, creq goopenai.ChatCompletionRequest, set map[string]any, onToken func(reasoning.Token)) (*reasoning.Response, error) {
	creq.Stream = true
	creq.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
	client, watch := m.client(set, nil)
	stream, err := client.CreateChatCompletionStream(ctx, creq)
	if err != nil {
		if err := watch.Err(ctx, "openai", m.cfg.BaseURL); err != nil {
			return nil, err
		}
		return nil, m.classify(err, m.cfg.Model)
	}
	defer stream.Close()

	var content, thinking strings.Builder
	var resp reasoning.Response
	var chunks int
	counted := false
	for {
		raw, err := stream.RecvRaw()
		if errors.Is(err, io.EOF) {
			break
		}
		if err := watch.Err(ctx, "openai", m.cfg.BaseURL); err != nil {
			return nil, err
		}
		if err != nil {
			return nil, m.classify(err, m.cfg.Model)
		}
		if len(raw) == 0 {
			// go-openai reads an error event whose "error" is a string,
			// as llama-server sends, as an empty chunk.
			if line := watch.ErrorLine(); line != nil {
				return nil, fmt.Errorf("openai %s: %s", m.cfg.BaseURL, errorMessage(line))
			}
		}
		var c chunk
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("openai %s: malformed stream chunk %.200q: %v", m.cfg.BaseURL, raw, err)
		}
		if c.Usage != nil {
			counted = true
			resp.PromptTokens, resp.CompletionTokens = c.Usage.PromptTokens, c.Usage.CompletionTokens
		}
		if len(c.Choices) == 0 {
			continue
		}
		ch := c.Choices[0]
		think := ch.Delta.thinking()
		content.WriteString(ch.Delta.Content)
		thinking.WriteString(think)
		if ch.Delta.Content != "" || think != "" {
			chunks++
			onToken(reasoning.Token{Content: ch.Delta.Content, Thinking: think})
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			resp.FinishReason = *ch.FinishReason
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// go-openai reports a stream cut short as a plain end of stream.
	if resp.FinishReason == "" {
		return nil, wire.Incomplete("openai", m.cfg.BaseURL)
	}
	if !counted {
		// Servers stream about one token a chunk; an estimate keeps token
		// budgets working where usage is not reported.
		resp.CompletionTokens = chunks
	}
	resp.Content, resp.Thinking = content.String(), thinking.String()
	return &resp, nil
}

// Embed returns the embeddings of texts by EmbedModel.
func (m *Model) Embed(ctx context.Context, texts []string) ([][]float64, error) {
	client, watch := m.client(nil, nil)
	resp, err := client.CreateEmbeddings(ctx, goopenai.EmbeddingRequestStrings{
		Input: texts,
		Model: goopenai.EmbeddingModel(m.cfg.EmbedModel),
	})
	if err := watch.Err(ctx, "openai", m.cfg.BaseURL); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, m.classify(err, m.cfg.EmbedModel)
	}
	if len(resp.Data) != len(texts) {
		return nil, fmt.Errorf("openai: %d embeddings for %d texts", len(resp.Data), len(texts))
	}
	out := make([][]float64, len(texts))
	for _, d := range resp.Data {
		if d.Index < 0 || d.Index >= len(texts) || out[d.Index] != nil {
			return nil, fmt.Errorf("openai: embedding index %d out of place", d.Index)
		}
		out[d.Index] = wire.Float64s(d.Embedding)
	}
	return out, nil
}

func (m *Model) classify(err error, model string) error {
	status, msg := 0, ""
	var ae *goopenai.APIError
	var re *goopenai.RequestError
	switch {
	// First the RequestError, which go-openai returns, with the status,
	// for a body it cannot read as {"error": {...}}; it may wrap an empty
	// APIError.
	case errors.As(err, &re):
		status, msg = re.HTTPStatusCode, errorMessage(re.Body)
		if msg == "" && re.Err != nil {
			msg = re.Err.Error()
		}
	case errors.As(err, &ae):
		status, msg = ae.HTTPStatusCode, ae.Message
	default:
		return wire.Transport("openai", m.cfg.BaseURL, err)
	}
	msg = wire.Clip(msg)
	if status == http.StatusNotFound && wire.ModelMissing(msg) {
		return fmt.Errorf("openai: %w: %q is not on the server at %s (on Ollama, pull it with \"ollama pull %s\"; other servers serve the models they were started with): %s",
			reasoning.ErrModelNotFound, model, m.cfg.BaseURL, model, msg)
	}
	if status == http.StatusNotFound {
		return fmt.Errorf("openai %s: %w (is this the API's base URL? On most servers it ends in /v1)",
			m.cfg.BaseURL, &reasoning.ServerError{StatusCode: status, Message: msg})
	}
	if status == 0 {
		// An error object inside a stream carries no HTTP status.
		return fmt.Errorf("openai %s: %s", m.cfg.BaseURL, msg)
	}
	return fmt.Errorf("openai %s: %w", m.cfg.BaseURL, &reasoning.ServerError{StatusCode: status, Message: msg})
}

// errorMessage returns the message of an error reply's body, as servers
// word it: {"error": "…"} (llama-server, vLLM in some versions),
// {"error": {"message": "…"}} (OpenAI, Ollama) or {"message": "…"} (vLLM in
// others); else the body itself.
func errorMessage(body []byte) string {
	var e struct {
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
	}
	var obj struct {
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil {
		if s := jsonString(e.Error); s != "" {
			return s
		}
		if json.Unmarshal(e.Error, &obj) == nil {
			if s := jsonString(obj.Message); s != "" {
				return s
			}
		}
		if s := jsonString(e.Message); s != "" {
			return s
		}
	}
	return strings.TrimSpace(string(body))
}

// jsonString returns v if it is a JSON string, else "".
func jsonString(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}

// bodyFields is an HTTP client that sets fields in JSON request bodies, as
// go-openai leaves out zero values, such as a temperature of 0, that a
// request must carry; that has watch watch the reply bodies; and that
// copies them to reply, if not nil, for the fields that go-openai's types
// lack.
type bodyFields struct {
	next  goopenai.HTTPDoer
	set   map[string]any
	reply *bytes.Buffer
	watch *wire.Reply
}

func (b *bodyFields) Do(req *http.Request) (*http.Response, error) {
	if len(b.set) > 0 && req.Body != nil {
		if err := wire.SetFields(req, b.set); err != nil {
			return nil, fmt.Errorf("openai: %w", err)
		}
	}
	resp, err := b.next.Do(req)
	if err == nil {
		resp.Body = b.watch.Body(resp.Body)
	}
	if err == nil && b.reply != nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(resp.Body, b.reply), resp.Body}
	}
	return resp, err
}
