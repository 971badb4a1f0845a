// Package openai is a reasoning.Model for any server with an
// OpenAI-compatible chat completions API (llama.cpp's llama-server, vLLM,
// LM Studio, Ollama's /v1), through github.com/sashabaranov/go-openai.
//
// It smooths over three differences between such servers: go-openai omits a
// temperature of 0 from the request (omitempty), so this package writes it
// back, as greedy decoding needs it; thinking comes back in "reasoning"
// (Ollama) or "reasoning_content" (llama-server, vLLM), and both are read;
// and the token limit is sent as max_tokens, which all of them honour, while
// Ollama ignores max_completion_tokens (Config.MaxCompletionTokens switches).
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

	// HTTPClient sends the requests. Default a client without a timeout:
	// requests end with their context.
	HTTPClient *http.Client
}

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
	if cfg.EmbedModel == "" {
		cfg.EmbedModel = cfg.Model
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	return &Model{cfg: cfg}, nil
}

// client returns a go-openai client whose requests get the JSON fields in
// set added to their bodies.
func (m *Model) client(set map[string]any) *goopenai.Client {
	c := goopenai.DefaultConfig(m.cfg.APIKey)
	c.BaseURL = m.cfg.BaseURL
	c.HTTPClient = &bodyFields{next: m.cfg.HTTPClient, set: set}
	return goopenai.NewClientWithConfig(c)
}

// chunk is a streamed chat completion chunk, with both names for thinking.
type chunk struct {
	Choices []struct {
		Delta struct {
			Content          string `json:"content"`
			Reasoning        string `json:"reasoning"`
			ReasoningContent string `json:"reasoning_content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// Chat sends req as a streamed chat completion.
func (m *Model) Chat(ctx context.Context, req *reasoning.Request) (*reasoning.Response, error) {
	creq := goopenai.ChatCompletionRequest{
		Model:         m.cfg.Model,
		Stream:        true,
		StreamOptions: &goopenai.StreamOptions{IncludeUsage: true},
		Seed:          req.Seed,
	}
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
	if req.Think != nil {
		// llama-server and vLLM pass enable_thinking to the chat template;
		// Ollama turns thinking off with reasoning_effort "none" (and thinks
		// by default when the model can).
		creq.ChatTemplateKwargs = map[string]any{"enable_thinking": *req.Think}
		if !*req.Think {
			creq.ReasoningEffort = "none"
		}
	}
	set := map[string]any{}
	if req.Temperature != nil {
		set["temperature"] = *req.Temperature
	}

	stream, err := m.client(set).CreateChatCompletionStream(ctx, creq)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, m.classify(err, m.cfg.Model)
	}
	defer stream.Close()

	var content, thinking strings.Builder
	var resp reasoning.Response
	var chunks int
	usage := false
	for {
		raw, err := stream.RecvRaw()
		if errors.Is(err, io.EOF) {
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			return nil, m.classify(err, m.cfg.Model)
		}
		var c chunk
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("openai %s: malformed stream chunk %.200q: %v", m.cfg.BaseURL, raw, err)
		}
		if c.Usage != nil {
			usage = true
			resp.PromptTokens, resp.CompletionTokens = c.Usage.PromptTokens, c.Usage.CompletionTokens
		}
		if len(c.Choices) == 0 {
			continue
		}
		ch := c.Choices[0]
		think := ch.Delta.Reasoning + ch.Delta.ReasoningContent
		content.WriteString(ch.Delta.Content)
		thinking.WriteString(think)
		if ch.Delta.Content != "" || think != "" {
			chunks++
			if req.OnToken != nil {
				req.OnToken(reasoning.Token{Content: ch.Delta.Content, Thinking: think})
			}
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
	if !usage {
		// Servers stream about one token a chunk; an estimate keeps token
		// budgets working where usage is not reported.
		resp.CompletionTokens = chunks
	}
	resp.Content, resp.Thinking = content.String(), thinking.String()
	return &resp, nil
}

// Embed returns the embeddings of texts by EmbedModel.
func (m *Model) Embed(ctx context.Context, texts []string) ([][]float64, error) {
	resp, err := m.client(nil).CreateEmbeddings(ctx, goopenai.EmbeddingRequestStrings{
		Input: texts,
		Model: goopenai.EmbeddingModel(m.cfg.EmbedModel),
	})
	if ctx.Err() != nil {
		return nil, ctx.Err()
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
	case errors.As(err, &ae):
		status, msg = ae.HTTPStatusCode, ae.Message
	case errors.As(err, &re):
		status, msg = re.HTTPStatusCode, strings.TrimSpace(string(re.Body))
		if msg == "" && re.Err != nil {
			msg = re.Err.Error()
		}
	default:
		return wire.Transport("openai", m.cfg.BaseURL, err)
	}
	if status == http.StatusNotFound {
		return fmt.Errorf("openai: %w: %q is not on the server at %s: %s", reasoning.ErrModelNotFound, model, m.cfg.BaseURL, msg)
	}
	if status == 0 {
		// An error object inside a stream carries no HTTP status.
		return fmt.Errorf("openai %s: %s", m.cfg.BaseURL, msg)
	}
	return fmt.Errorf("openai %s: %w", m.cfg.BaseURL, &reasoning.ServerError{StatusCode: status, Message: msg})
}

// bodyFields is an HTTP client that sets fields in JSON request bodies:
// go-openai leaves out zero values, such as a temperature of 0, that a
// request must carry.
type bodyFields struct {
	next goopenai.HTTPDoer
	set  map[string]any
}

func (b *bodyFields) Do(req *http.Request) (*http.Response, error) {
	if len(b.set) == 0 || req.Body == nil {
		return b.next.Do(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, fmt.Errorf("openai: request body is not a JSON object: %w", err)
	}
	for k, v := range b.set {
		if fields[k], err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	if body, err = json.Marshal(fields); err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return b.next.Do(req)
}
