package chatserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// chatRequest is what the loop takes from a chat completion request.
type chatRequest struct {
	model    string
	system   string // the system and developer messages, joined; "" if none
	question string // the last message, a user message

	stream       bool
	includeUsage bool // stream_options.include_usage

	rounds      int // "rounds"; 0 if not given
	budget      int // max_tokens or max_completion_tokens; 0 if not given
	budgetField string
	temperature *float64
	seed        *int
}

// ignored are the request fields that ask nothing of the answer and are
// accepted and ignored: who the end user is, and labels.
var ignored = []string{"user", "safety_identifier", "metadata", "prompt_cache_key", "parallel_tool_calls", "service_tier"}

// unsupported are the standard fields that the loop cannot honour, and why.
// They are accepted only with the value that asks nothing (see neutral).
var unsupported = map[string]string{
	"n":                  "the loop gives one answer (n must be 1)",
	"top_p":              "the loop's requests do not carry top_p (it must be 1)",
	"presence_penalty":   "the loop's requests do not carry penalties (it must be 0)",
	"frequency_penalty":  "the loop's requests do not carry penalties (it must be 0)",
	"logit_bias":         "the loop's requests do not carry a logit bias",
	"logprobs":           "the answer is read from the replies, so it has no log probabilities",
	"top_logprobs":       "the answer is read from the replies, so it has no log probabilities",
	"stop":               "stop sequences would cut the loop's replies, whose answers are read from their end",
	"tools":              "the loop calls no tools",
	"tool_choice":        "the loop calls no tools",
	"functions":          "the loop calls no functions",
	"function_call":      "the loop calls no functions",
	"response_format":    "the loop asks for its own structured output, and the answer is text (only {\"type\": \"text\"} is accepted)",
	"store":              "this server stores nothing (store must be false)",
	"reasoning_effort":   "the server sets thinking for every request (Settings.Think; implicit reason serve --think)",
	"modalities":         "the answer is text (only [\"text\"] is accepted)",
	"audio":              "the answer is text",
	"prediction":         "the loop writes every round afresh",
	"web_search_options": "the loop searches nothing",
}

// neutral lists, for each field of unsupported, the JSON values that ask
// nothing of the loop and are accepted; null is accepted for every field.
var neutral = map[string][]string{
	"n":                 {"1"},
	"top_p":             {"1", "1.0"},
	"presence_penalty":  {"0", "0.0"},
	"frequency_penalty": {"0", "0.0"},
	"logit_bias":        {"{}"},
	"logprobs":          {"false"},
	"top_logprobs":      {"0"},
	"stop":              {"[]"},
	"tools":             {"[]"},
	"tool_choice":       {`"none"`},
	"functions":         {"[]"},
	"function_call":     {`"none"`},
	"response_format":   {`{"type":"text"}`},
	"store":             {"false"},
	"modalities":        {`["text"]`},
}

// parseRequest reads a chat completion request. served is the served
// model's name, maxRounds the most rounds a request may ask for.
func parseRequest(body []byte, served string, maxRounds int) (*chatRequest, *apiError) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, invalidJSON("the request body is a JSON %s; want an object", te.Value)
		}
		return nil, invalidJSON("the request body is not a JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalidJSON("the request body has more after its JSON object")
	}
	if fields == nil {
		return nil, invalidJSON("the request body is null; want a JSON object")
	}
	req := &chatRequest{}
	// Fields in a fixed order, so that the first error is always the same.
	names := make([]string, 0, len(fields))
	for name, raw := range fields {
		if !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if err := req.field(name, fields[name], maxRounds); err != nil {
			return nil, err
		}
	}
	if req.question == "" { // only when messages is missing: else it is set or an error
		return nil, badValue("messages", "messages is missing; want the conversation, ending with a user message")
	}
	if req.model != "" && req.model != served {
		return nil, &apiError{status: http.StatusNotFound, typ: typeInvalid, code: "model_not_found", param: "model",
			message: fmt.Sprintf("model %q is not served here; this server serves %q (GET /v1/models)", req.model, served)}
	}
	req.model = served
	return req, nil
}

// field reads one field of a request, not null.
func (req *chatRequest) field(name string, raw json.RawMessage, maxRounds int) *apiError {
	switch name {
	case "model":
		return decode(name, raw, &req.model, "a string")
	case "messages":
		return req.messages(raw)
	case "stream":
		return decode(name, raw, &req.stream, "true or false")
	case "stream_options":
		var o struct {
			IncludeUsage *bool `json:"include_usage"`
		}
		if err := decode(name, raw, &o, `an object such as {"include_usage": true}`); err != nil {
			return err
		}
		req.includeUsage = o.IncludeUsage != nil && *o.IncludeUsage
		return nil
	case "max_tokens", "max_completion_tokens":
		n, err := wholeNumber(name, raw)
		if err != nil {
			return err
		}
		if n < 1 {
			return badValue(name, fmt.Sprintf("%s %d: want 1 or more, the tokens the loop may generate over all its rounds", name, n))
		}
		if req.budget != 0 && req.budget != n {
			return badValue(name, fmt.Sprintf("max_tokens %d and max_completion_tokens %d differ; both are the loop's token budget, so give one", req.budget, n))
		}
		req.budget, req.budgetField = n, name
		return nil
	case "temperature":
		var t float64
		if err := decode(name, raw, &t, "a number"); err != nil {
			return err
		}
		if t < 0 {
			return badValue(name, fmt.Sprintf("temperature %g: want 0 (greedy decoding) or more", t))
		}
		req.temperature = &t
		return nil
	case "seed":
		s, err := wholeNumber(name, raw)
		req.seed = &s
		return err
	case "rounds":
		n, err := wholeNumber(name, raw)
		if err != nil {
			return err
		}
		if n < 1 || n > maxRounds {
			return badValue(name, fmt.Sprintf("rounds %d: want 1 to %d, the most this server allows", n, maxRounds))
		}
		req.rounds = n
		return nil
	}
	if slices.Contains(ignored, name) {
		return nil
	}
	if why, ok := unsupported[name]; ok {
		if compact := compactJSON(raw); slices.Contains(neutral[name], compact) {
			return nil
		}
		return &apiError{status: http.StatusBadRequest, typ: typeInvalid, code: "unsupported_parameter", param: name,
			message: fmt.Sprintf("%s is not supported here: %s", name, why)}
	}
	return &apiError{status: http.StatusBadRequest, typ: typeInvalid, code: "unknown_parameter", param: name,
		message: fmt.Sprintf("unknown field %q: not a chat completion field that this server reads (see docs/reasoning.md)", name)}
}

// messages reads the conversation: system (or developer) messages, which
// become the loop's system prompt, and last a user message, the question.
// The loop answers one question, so any other message is refused.
func (req *chatRequest) messages(raw json.RawMessage) *apiError {
	var msgs []map[string]json.RawMessage
	if err := decode("messages", raw, &msgs, "an array of messages"); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return badValue("messages", "messages is empty; want the conversation, ending with a user message")
	}
	var system []string
	for i, m := range msgs {
		at := fmt.Sprintf("messages[%d]", i)
		if m == nil {
			return badValue(at, at+" is not a message object")
		}
		var role string
		if err := decode(at+".role", m["role"], &role, `"system", "developer" or "user"`); err != nil {
			return err
		}
		for key := range m {
			if key != "role" && key != "content" && key != "name" {
				return &apiError{status: http.StatusBadRequest, typ: typeInvalid, code: "unsupported_parameter", param: at + "." + key,
					message: fmt.Sprintf("%s.%s is not supported here: the loop reads only role, content and name", at, key)}
			}
		}
		last := i == len(msgs)-1
		switch {
		case role == "system" || role == "developer":
			if last {
				return badValue(at+".role", fmt.Sprintf("%s is a %s message; the last message must be the user's question", at, role))
			}
			text, err := content(at, m["content"])
			if err != nil {
				return err
			}
			system = append(system, text)
		case role == "user" && last:
			text, err := content(at, m["content"])
			if err != nil {
				return err
			}
			if strings.TrimSpace(text) == "" {
				return badValue(at+".content", at+" has no text; the last user message is the loop's question")
			}
			req.question = text
		case role == "user" || role == "assistant" || role == "tool" || role == "function":
			return &apiError{status: http.StatusBadRequest, typ: typeInvalid, code: "unsupported_value", param: at + ".role",
				message: fmt.Sprintf("%s is a %s message before the last one: the refinement loop answers one question, the last user message, "+
					"and cannot carry earlier turns (put what they say into the question, or send system messages)", at, role)}
		default:
			return badValue(at+".role", fmt.Sprintf("%s has role %q; want system, developer or user", at, role))
		}
	}
	req.system = strings.Join(system, "\n\n")
	return nil
}

// content reads a message's content: a string, or an array of text parts,
// which are joined with newlines.
func content(at string, raw json.RawMessage) (string, *apiError) {
	field := at + ".content"
	if raw == nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return "", badValue(field, field+" is missing")
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return text, nil
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if err := decode(field, raw, &parts, "a string or an array of text parts"); err != nil {
		return "", err
	}
	texts := make([]string, len(parts))
	for j, p := range parts {
		if p.Type != "text" || p.Text == nil {
			return "", &apiError{status: http.StatusBadRequest, typ: typeInvalid, code: "unsupported_value", param: fmt.Sprintf("%s[%d]", field, j),
				message: fmt.Sprintf("%s[%d] is a part of type %q; only text parts ({\"type\": \"text\", \"text\": …}) are supported", field, j, p.Type)}
		}
		texts[j] = *p.Text
	}
	return strings.Join(texts, "\n"), nil
}

// decode unmarshals a field's value into v, or names the field and what
// it should be.
func decode(name string, raw json.RawMessage, v any, want string) *apiError {
	if raw == nil {
		return badValue(name, fmt.Sprintf("%s is missing; want %s", name, want))
	}
	if json.Unmarshal(raw, v) != nil {
		// raw is JSON, read from the body: the error is of type.
		return badValue(name, fmt.Sprintf("%s is %.100s; want %s", name, compactJSON(raw), want))
	}
	return nil
}

func wholeNumber(name string, raw json.RawMessage) (int, *apiError) {
	var n int
	return n, decode(name, raw, &n, "a whole number")
}

// compactJSON returns raw without white space, for comparison with the
// neutral values.
func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

func badValue(param, message string) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: typeInvalid, code: "invalid_value", param: param, message: message}
}

func invalidJSON(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: typeInvalid, code: "invalid_json", message: fmt.Sprintf(format, args...)}
}
