// Package ollama is a reasoning.Model for Ollama's native API, through
// github.com/ollama/ollama/api: chat with structured output (a JSON schema
// as the format), thinking, sampling options and streaming; embeddings.
// See Model.Chat for why replies are streamed only on request.
package ollama

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/ollama/ollama/api"
	"github.com/ollama/ollama/envconfig"
	"github.com/ollama/ollama/format"

	"github.com/implicitlab/implicit/reasoning"
	"github.com/implicitlab/implicit/reasoning/internal/wire"
)

// DefaultURL is where Ollama listens unless told otherwise.
const DefaultURL = "http://127.0.0.1:11434"

// EnvURL returns the server's address as Ollama's own clients read it from
// the environment variable OLLAMA_HOST, with Ollama's envconfig.Host: a
// host alone, as in "127.0.0.1" or "0.0.0.0", means http and port 11434;
// "http://host" means port 80 and "https://host" port 443; a path is kept.
// It returns DefaultURL if OLLAMA_HOST is not set. Config.URL does not
// default to it: call it to honour the variable.
func EnvURL() string { return envconfig.Host().String() }

// Config configures a Model.
type Config struct {
	// URL is the server's address. Default DefaultURL; EnvURL reads it
	// from OLLAMA_HOST as Ollama does.
	URL string

	// Model is the model's name, as in "ollama pull NAME".
	Model string

	// EmbedModel is the model that computes embeddings. Default Model.
	EmbedModel string

	// Options are further Ollama model options, such as "num_ctx"; a
	// Request's settings take precedence.
	Options map[string]any

	// HTTPClient sends the requests. Default a client without a timeout:
	// requests end with their context.
	HTTPClient *http.Client

	// MaxReplyBytes limits the size of a reply in bytes, as it comes from
	// the server: its JSON and, streamed, that of every piece. A reply over
	// it fails with an error wrapping reasoning.ErrReplyTooLarge, which is
	// not retried. Default DefaultMaxReplyBytes; negative means no limit.
	// Whatever it says, the api package reads lines of less than 8 MB
	// (MaxLineBytes), and an unstreamed reply is one line: a longer line
	// fails the same way.
	MaxReplyBytes int64
}

// DefaultMaxReplyBytes is the default of Config.MaxReplyBytes, 64 MiB: a
// streamed reply of about 500,000 tokens.
const DefaultMaxReplyBytes = wire.DefaultMaxReplyBytes

// MaxLineBytes is the length of a reply line that the api package does not
// read: it stops there as if the reply had ended.
const MaxLineBytes = 8 * format.MegaByte

// Model is a model served by Ollama. It implements reasoning.Model and
// reasoning.Embedder, and is safe for concurrent use.
type Model struct {
	base *url.URL
	url  string
	cfg  Config
}

// New returns the Model that cfg describes.
func New(cfg Config) (*Model, error) {
	if cfg.Model == "" {
		return nil, errors.New("ollama: no model name")
	}
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("ollama: URL %q: want http://host:port", cfg.URL)
	}
	if cfg.EmbedModel == "" {
		cfg.EmbedModel = cfg.Model
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	cfg.MaxReplyBytes = wire.MaxReplyBytes(cfg.MaxReplyBytes)
	return &Model{base: u, url: cfg.URL, cfg: cfg}, nil
}

// client returns an api client for one request, whose reply the Reply it
// returns too watches.
func (m *Model) client() (*api.Client, *wire.Reply) {
	watch := &wire.Reply{Limit: m.cfg.MaxReplyBytes}
	return api.NewClient(m.base, watch.Client(m.cfg.HTTPClient)), watch
}

// Chat sends req as a chat request, streamed if req.OnToken is set.
//
// Replies are streamed only when tokens are asked for, because of a race in
// Ollama (seen in v0.17.4, server/routes.go): when a client drops a
// streamed reply, the server's writer may stop reading while its generator
// is about to hand it the next token; the generator then blocks for good,
// holding the model's only slot, and later requests to that model wait (in
// our tests, until they timed out). The loop drops replies on every
// cancellation, time limit and request timeout. A reply that is not
// streamed is read to its end by the server itself, so it ends cleanly
// when the client goes.
func (m *Model) Chat(ctx context.Context, req *reasoning.Request) (*reasoning.Response, error) {
	opts := maps.Clone(m.cfg.Options)
	if opts == nil {
		opts = make(map[string]any)
	}
	if req.Temperature != nil {
		opts["temperature"] = *req.Temperature
	}
	if req.Seed != nil {
		opts["seed"] = *req.Seed
	}
	if req.MaxTokens > 0 {
		opts["num_predict"] = req.MaxTokens
	}
	stream := req.OnToken != nil
	creq := &api.ChatRequest{
		Model:   m.cfg.Model,
		Stream:  &stream,
		Format:  req.Schema,
		Options: opts,
	}
	for _, msg := range req.Messages {
		creq.Messages = append(creq.Messages, api.Message{Role: msg.Role, Content: msg.Content})
	}
	if req.Think != nil {
		creq.Think = &api.ThinkValue{Value: *req.Think}
	}

	var content, thinking strings.Builder
	var final *api.ChatResponse
	client, watch := m.client()
	err := client.Chat(ctx, creq, func(r api.ChatResponse) error {
		content.WriteString(r.Message.Content)
		thinking.WriteString(r.Message.Thinking)
		if req.OnToken != nil && (r.Message.Content != "" || r.Message.Thinking != "") {
			req.OnToken(reasoning.Token{Content: r.Message.Content, Thinking: r.Message.Thinking})
		}
		if r.Done {
			final = &r
		}
		return nil
	})
	if err := watch.Err(ctx, "ollama", m.url); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, m.classify(err, m.cfg.Model)
	}
	// The api package ends a stream quietly when the connection drops, and
	// when a line is too long for it.
	if final == nil && watch.Longest() >= MaxLineBytes {
		return nil, fmt.Errorf("ollama: %w: the reply from %s has a line of 8 MB or more, more than the api package reads (an unstreamed reply is a single line)",
			reasoning.ErrReplyTooLarge, m.url)
	}
	if final == nil {
		return nil, wire.Incomplete("ollama", m.url)
	}
	return &reasoning.Response{
		Content:          content.String(),
		Thinking:         thinking.String(),
		PromptTokens:     final.PromptEvalCount,
		CompletionTokens: final.EvalCount,
		FinishReason:     final.DoneReason,
	}, nil
}

// Embed returns the embeddings of texts by EmbedModel.
func (m *Model) Embed(ctx context.Context, texts []string) ([][]float64, error) {
	client, watch := m.client()
	resp, err := client.Embed(ctx, &api.EmbedRequest{Model: m.cfg.EmbedModel, Input: texts})
	if err := watch.Err(ctx, "ollama", m.url); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, m.classify(err, m.cfg.EmbedModel)
	}
	if len(resp.Embeddings) != len(texts) {
		return nil, fmt.Errorf("ollama: %d embeddings for %d texts", len(resp.Embeddings), len(texts))
	}
	out := make([][]float64, len(texts))
	for i, e := range resp.Embeddings {
		out[i] = wire.Float64s(e)
	}
	return out, nil
}

func (m *Model) classify(err error, model string) error {
	var se api.StatusError
	var ae api.AuthorizationError
	switch {
	case errors.As(err, &se):
		msg := wire.Clip(se.ErrorMessage)
		switch {
		case se.StatusCode == http.StatusNotFound && wire.ModelMissing(msg):
			return fmt.Errorf("ollama: %w: %q is not on the server at %s (pull it with \"ollama pull %s\"): %s",
				reasoning.ErrModelNotFound, model, m.url, model, msg)
		case se.StatusCode == http.StatusNotFound:
			return fmt.Errorf("ollama %s: %w (is this the address of an Ollama server? Its native API is at the root, not under /v1)",
				m.url, &reasoning.ServerError{StatusCode: se.StatusCode, Message: msg})
		}
		return fmt.Errorf("ollama %s: %w", m.url, &reasoning.ServerError{StatusCode: se.StatusCode, Message: msg})
	case errors.As(err, &ae):
		return fmt.Errorf("ollama %s: %w", m.url, &reasoning.ServerError{StatusCode: ae.StatusCode, Message: ae.Status})
	case strings.HasPrefix(err.Error(), "{"):
		// The api package returns a line it cannot parse as the error
		// itself; most often it is the last, cut-off line of a dropped
		// connection.
		return fmt.Errorf("ollama: %w: malformed line in the reply from %s: %.200q", reasoning.ErrInterrupted, m.url, err.Error())
	}
	return wire.Transport("ollama", m.url, err)
}
