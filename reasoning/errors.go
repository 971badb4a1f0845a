package reasoning

import (
	"errors"
	"fmt"
	"net/http"
)

var (
	// ErrModelNotFound means the server does not have the model asked for.
	ErrModelNotFound = errors.New("model not found")

	// ErrUnreachable means no connection to the server could be made.
	ErrUnreachable = errors.New("server unreachable")

	// ErrInterrupted means a reply stopped before it was complete: the
	// connection broke or the stream ended early. It is transient.
	ErrInterrupted = errors.New("reply interrupted")

	// ErrRequestTimeout means a reply took longer than
	// Settings.RequestTimeout. It is transient.
	ErrRequestTimeout = errors.New("no reply within the request timeout")

	// ErrReplyTooLarge means a reply was larger than the backend's limit on
	// a reply's size (MaxReplyBytes in its Config). It is not transient: the
	// same request would most likely get the same reply.
	ErrReplyTooLarge = errors.New("reply too large")

	// ErrNoAnswer means no answer could be read from a reply, or the loop
	// stopped before any reply had one.
	ErrNoAnswer = errors.New("no answer")
)

// ServerError is an error status returned by a model server.
type ServerError struct {
	StatusCode int
	Message    string
}

func (e *ServerError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("server error: %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	return fmt.Sprintf("server error: %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Temporary reports whether the same request may succeed later: a timeout,
// too many requests, or a server-side failure.
func (e *ServerError) Temporary() bool {
	return e.StatusCode == http.StatusRequestTimeout ||
		e.StatusCode == http.StatusTooManyRequests ||
		e.StatusCode >= 500
}

// AnswerError reports a reply from which no answer could be read.
type AnswerError struct {
	Reply        string // the reply's content
	FinishReason string // why generation ended
	Err          error  // the extractor's error, wrapping ErrNoAnswer

	// BudgetLimit is set when the request's token limit was what was left of
	// Settings.TokenBudget rather than Settings.MaxTokens, so that a reply
	// cut there calls for a larger budget, not a larger MaxTokens.
	BudgetLimit bool

	// MaxTokens is the request's token limit; 0 if it had none.
	MaxTokens int

	// limitName is what the message calls Settings.MaxTokens (its
	// MaxTokensName); "MaxTokens" if empty.
	limitName string
}

func (e *AnswerError) Error() string {
	msg := e.Err.Error()
	name := e.limitName
	if name == "" {
		name = "MaxTokens"
	}
	switch {
	case e.FinishReason != FinishLength:
	case e.BudgetLimit:
		msg += " (the reply was cut at what was left of the token budget)"
	case e.MaxTokens > 0:
		msg += fmt.Sprintf(" (the reply was cut at the token limit, %d tokens; raise %s)", e.MaxTokens, name)
	default:
		msg += fmt.Sprintf(" (the reply was cut at the server's token limit; set %s)", name)
	}
	return fmt.Sprintf("%s; reply: %q", msg, truncate(e.Reply, 200))
}

func (e *AnswerError) Unwrap() error { return e.Err }

// RoundError is an error in one round of a loop.
type RoundError struct {
	Round int
	Err   error
}

func (e *RoundError) Error() string { return fmt.Sprintf("round %d: %v", e.Round, e.Err) }

func (e *RoundError) Unwrap() error { return e.Err }

// retryable reports whether err is worth another attempt at the request.
func retryable(err error) bool {
	if errors.Is(err, ErrInterrupted) || errors.Is(err, ErrRequestTimeout) {
		return true
	}
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
