package chatserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/implicitlab/implicit/reasoning"
)

// Error types, as OpenAI names them.
const (
	typeInvalid = "invalid_request_error"
	typeServer  = "server_error"
)

// apiError is an error reply: an HTTP status and an OpenAI-style error
// object, with the loop's trace where a loop ran.
type apiError struct {
	status  int
	typ     string
	code    string
	param   string // the request field at fault, if any
	message string
	result  *reasoning.Result
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

// errorBody is the JSON of an error reply.
type errorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    string  `json:"code"`
	} `json:"error"`
	Implicit *trace `json:"implicit,omitempty"`
}

func (e *apiError) body() *errorBody {
	b := &errorBody{}
	b.Error.Message, b.Error.Type, b.Error.Code = e.message, e.typ, e.code
	if e.param != "" {
		b.Error.Param = &e.param
	}
	if e.result != nil {
		b.Implicit = newTrace(e.result, e.message)
	}
	return b
}

// loopError maps the error of a loop that ran to an error reply: the
// server's model missing, 404; the backend unreachable, 503; the backend
// failing or its reply unusable, 502; no answer in time, 504; anything
// else, 500. timeLimit is the loop's time limit, for the message.
func loopError(err error, res *reasoning.Result, timeLimit string) *apiError {
	e := &apiError{status: http.StatusBadGateway, typ: typeServer, message: err.Error(), result: res}
	var answer *reasoning.AnswerError
	var server *reasoning.ServerError
	switch {
	case errors.Is(err, reasoning.ErrModelNotFound):
		e.status, e.typ, e.code = http.StatusNotFound, typeInvalid, "model_not_found"
	case errors.Is(err, reasoning.ErrUnreachable):
		e.status, e.code = http.StatusServiceUnavailable, "backend_unreachable"
	case errors.Is(err, reasoning.ErrRequestTimeout):
		e.status, e.code = http.StatusGatewayTimeout, "backend_timeout"
	case res.Status == reasoning.TimeLimit && errors.Is(err, reasoning.ErrNoAnswer):
		e.status, e.code = http.StatusGatewayTimeout, "time_limit"
		e.message += " (the server's time limit on a request is " + timeLimit + ")"
	case errors.As(err, &answer):
		e.code = "no_answer"
	case errors.Is(err, reasoning.ErrReplyTooLarge):
		e.code = "reply_too_large"
	case errors.Is(err, reasoning.ErrInterrupted):
		e.code = "backend_interrupted"
	case errors.As(err, &server):
		e.code = "backend_error"
	default:
		e.status, e.code = http.StatusInternalServerError, "internal_error"
	}
	return e
}

// clientGone reports whether the loop stopped because the request's
// context ended: the client went away, or the server closed its
// connection.
func clientGone(ctx context.Context, res *reasoning.Result) bool {
	return ctx.Err() != nil && (res == nil || res.Status == reasoning.Canceled)
}

// trace is the "implicit" extension object: the loop's Result (question,
// answer, key, status, chosen, rounds, prompt_tokens, completion_tokens,
// duration_ns), whether it converged, and the error if it failed.
type trace struct {
	*reasoning.Result
	Converged bool   `json:"converged"`
	Error     string `json:"error,omitempty"`
}

func newTrace(res *reasoning.Result, errMsg string) *trace {
	if res.Rounds == nil {
		res.Rounds = []reasoning.Round{} // [], not null, before any round
	}
	return &trace{Result: res, Converged: res.Status.Converged(), Error: errMsg}
}

// usage is the token counts summed over all rounds.
type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func usageOf(res *reasoning.Result) *usage {
	return &usage{res.PromptTokens, res.CompletionTokens, res.PromptTokens + res.CompletionTokens}
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// delta is a streamed piece of the message.
type delta struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content,omitempty"`
}

type choice struct {
	Index        int             `json:"index"`
	Message      *message        `json:"message,omitempty"`
	Delta        *delta          `json:"delta,omitempty"`
	Logprobs     json.RawMessage `json:"logprobs"`      // always null
	FinishReason *string         `json:"finish_reason"` // null in a chunk that does not end the answer
}

// completion is a chat.completion object, or a chat.completion.chunk.
type completion struct {
	ID       string   `json:"id"`
	Object   string   `json:"object"`
	Created  int64    `json:"created"`
	Model    string   `json:"model"`
	Choices  []choice `json:"choices"`
	Usage    *usage   `json:"usage,omitempty"`
	Implicit *trace   `json:"implicit,omitempty"`
}

var null = json.RawMessage("null")

// finishReason is "length" when the token budget stopped the loop, else
// "stop"; the trace's status says which rule stopped it.
func finishReason(res *reasoning.Result) string {
	if res.Status == reasoning.TokenLimit {
		return "length"
	}
	return "stop"
}

// setTraceHeaders puts the loop's status and rounds into the reply's
// headers too, for clients (such as go-openai) that hide unknown fields.
func setTraceHeaders(h http.Header, res *reasoning.Result) {
	h.Set("Implicit-Status", res.Status.String())
	h.Set("Implicit-Rounds", strconv.Itoa(len(res.Rounds)))
}

// reply is a finished loop's reply; errMsg is the loop's error message,
// where it stopped at the token budget before any answer.
type reply struct {
	id      string
	created int64
	model   string
	res     *reasoning.Result
	errMsg  string
}

func (r *reply) completion() *completion {
	fr := finishReason(r.res)
	return &completion{
		ID: r.id, Object: "chat.completion", Created: r.created, Model: r.model,
		Choices:  []choice{{Message: &message{Role: "assistant", Content: r.res.Answer}, Logprobs: null, FinishReason: &fr}},
		Usage:    usageOf(r.res),
		Implicit: newTrace(r.res, r.errMsg),
	}
}

// chunks returns the chat.completion.chunk objects of a streamed reply:
// the role, the answer, the finish reason with the trace, and with
// includeUsage a last chunk of usage alone, as OpenAI sends it.
func (r *reply) chunks(includeUsage bool) []*completion {
	chunk := func(c ...choice) *completion {
		return &completion{ID: r.id, Object: "chat.completion.chunk", Created: r.created, Model: r.model, Choices: c}
	}
	fr := finishReason(r.res)
	out := []*completion{
		chunk(choice{Delta: &delta{Role: "assistant"}, Logprobs: null}),
		chunk(choice{Delta: &delta{Content: r.res.Answer}, Logprobs: null}),
		chunk(choice{Delta: &delta{}, Logprobs: null, FinishReason: &fr}),
	}
	out[2].Implicit = newTrace(r.res, r.errMsg)
	if includeUsage {
		u := chunk()
		u.Choices = []choice{}
		u.Usage = usageOf(r.res)
		out = append(out, u)
	}
	return out
}
