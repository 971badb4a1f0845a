package reasoning

import (
	"context"
	"encoding/json"
)

// Message is one message of a chat.
type Message struct {
	Role    string `json:"role"` // "system", "user" or "assistant"
	Content string `json:"content"`
}

// Request is one chat request to a Model.
type Request struct {
	Messages []Message

	// Schema, if not nil, asks for structured output: a reply that is JSON
	// matching this JSON schema.
	Schema json.RawMessage

	// Think, if not nil, turns the model's separate thinking on or off; nil
	// leaves it to the server.
	Think *bool

	// Temperature, if not nil, sets the sampling temperature; 0 is greedy
	// decoding. Nil leaves it to the server.
	Temperature *float64

	// Seed, if not nil, seeds the server's sampler.
	Seed *int

	// MaxTokens, if positive, limits the tokens generated for the reply.
	MaxTokens int

	// OnToken, if not nil, receives the reply as it is generated; the
	// backends ask for a streamed reply only then.
	OnToken func(Token)
}

// Token is a piece of a reply as it streams in: content or thinking.
type Token struct {
	Content  string `json:"content,omitempty"`
	Thinking string `json:"thinking,omitempty"`
}

// Finish reasons of a Response.
const (
	FinishStop   = "stop"   // the model ended its reply
	FinishLength = "length" // the reply reached the token limit
)

// Response is a model's reply to a Request.
type Response struct {
	Content string
	// Thinking is the separate reasoning content, where the server returns
	// one (Ollama's "thinking", OpenAI-compatible "reasoning" or
	// "reasoning_content").
	Thinking string

	// Token counts, as the server reports them.
	PromptTokens     int
	CompletionTokens int

	// FinishReason is why generation ended: FinishStop, FinishLength, or
	// another reason the server gave.
	FinishReason string
}

// Model answers chat requests. Chat must return promptly once ctx is done,
// abandoning the request in flight.
//
// Implementations report a missing model with an error wrapping
// ErrModelNotFound, a server that cannot be reached with ErrUnreachable, a
// reply cut short with ErrInterrupted, and an error status with a
// *ServerError; the loop retries the transient ones (see Settings.Retries).
type Model interface {
	Chat(ctx context.Context, req *Request) (*Response, error)
}

// Embedder computes embeddings of texts, one vector per text.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float64, error)
}
