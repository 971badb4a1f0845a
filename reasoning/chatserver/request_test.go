package chatserver

import (
	"net/http"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	body := `{"model": "tiny", "messages": [
		{"role": "system", "content": "Be brief."},
		{"role": "developer", "content": [{"type": "text", "text": "Use digits."}]},
		{"role": "user", "name": "ann", "content": [{"type": "text", "text": "What is"}, {"type": "text", "text": "6 times 7?"}]}],
		"rounds": 3, "max_completion_tokens": 500, "temperature": 0, "seed": 7, "stream": true, "stream_options": {"include_usage": true},
		"n": 1, "top_p": 1.0, "stop": [], "response_format": {"type": "text"}, "user": "u-1", "tools": null, "logprobs": false}`
	req, err := parseRequest([]byte(body), "tiny", 5)
	if err != nil {
		t.Fatal(err)
	}
	if req.system != "Be brief.\n\nUse digits." || req.question != "What is\n6 times 7?" || req.rounds != 3 || req.budget != 500 ||
		req.temperature == nil || *req.temperature != 0 || req.seed == nil || *req.seed != 7 || !req.stream || !req.includeUsage {
		t.Fatalf("got %+v", req)
	}
	// No model means the served one; the same budget in both fields is one.
	req, err = parseRequest([]byte(`{"messages": [{"role": "user", "content": "q"}], "max_tokens": 9, "max_completion_tokens": 9}`), "tiny", 5)
	if err != nil || req.model != "tiny" || req.budget != 9 || req.temperature != nil || req.seed != nil || req.rounds != 0 {
		t.Fatalf("got %v, %+v", err, req)
	}
}

func TestParseRequestErrors(t *testing.T) {
	const user = `"messages": [{"role": "user", "content": "q"}]`
	for _, tc := range []struct {
		body   string
		status int
		code   string
		param  string
		want   string // in the message
	}{
		{`{"messages": `, 400, "invalid_json", "", "not a JSON object"},
		{`[1, 2]`, 400, "invalid_json", "", "a JSON array; want an object"},
		{`null`, 400, "invalid_json", "", "null"},
		{`{` + user + `} {}`, 400, "invalid_json", "", "more after"},
		{`{}`, 400, "invalid_value", "messages", "messages is missing"},
		{`{"messages": []}`, 400, "invalid_value", "messages", "empty"},
		{`{"messages": "q"}`, 400, "invalid_value", "messages", "want an array of messages"},
		{`{"messages": [null]}`, 400, "invalid_value", "messages[0]", "not a message object"},
		{`{"messages": [{"content": "q"}]}`, 400, "invalid_value", "messages[0].role", "missing"},
		{`{"messages": [{"role": "user"}]}`, 400, "invalid_value", "messages[0].content", "missing"},
		{`{"messages": [{"role": "user", "content": "  "}]}`, 400, "invalid_value", "messages[0].content", "no text"},
		{`{"messages": [{"role": "user", "content": 7}]}`, 400, "invalid_value", "messages[0].content", "a string or an array of text parts"},
		{`{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}`, 400, "unsupported_value", "messages[0].content[0]", `"image_url"`},
		{`{"messages": [{"role": "system", "content": "s"}]}`, 400, "invalid_value", "messages[0].role", "last message must be the user's question"},
		{`{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}`,
			400, "unsupported_value", "messages[0].role", "answers one question"},
		{`{"messages": [{"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}`, 400, "unsupported_value", "messages[0].role", "earlier turns"},
		{`{"messages": [{"role": "wizard", "content": "c"}]}`, 400, "invalid_value", "messages[0].role", `"wizard"`},
		{`{"messages": [{"role": "user", "content": "c", "tool_calls": []}]}`, 400, "unsupported_parameter", "messages[0].tool_calls", "role, content and name"},
		{`{"model": "big", ` + user + `}`, 404, "model_not_found", "model", `serves "tiny"`},
		{`{"model": 7, ` + user + `}`, 400, "invalid_value", "model", "want a string"},
		{`{"rounds": 0, ` + user + `}`, 400, "invalid_value", "rounds", "want 1 to 5"},
		{`{"rounds": 6, ` + user + `}`, 400, "invalid_value", "rounds", "want 1 to 5"},
		{`{"rounds": 2.5, ` + user + `}`, 400, "invalid_value", "rounds", "whole number"},
		{`{"max_tokens": 0, ` + user + `}`, 400, "invalid_value", "max_tokens", "over all its rounds"},
		{`{"max_tokens": 5, "max_completion_tokens": 6, ` + user + `}`, 400, "invalid_value", "max_tokens", "differ"},
		{`{"temperature": -0.5, ` + user + `}`, 400, "invalid_value", "temperature", "want 0"},
		{`{"temperature": "hot", ` + user + `}`, 400, "invalid_value", "temperature", "want a number"},
		{`{"stream": "yes", ` + user + `}`, 400, "invalid_value", "stream", "true or false"},
		{`{"n": 2, ` + user + `}`, 400, "unsupported_parameter", "n", "one answer"},
		{`{"top_p": 0.9, ` + user + `}`, 400, "unsupported_parameter", "top_p", "top_p"},
		{`{"stop": ["\n"], ` + user + `}`, 400, "unsupported_parameter", "stop", "stop sequences"},
		{`{"tools": [{"type": "function"}], ` + user + `}`, 400, "unsupported_parameter", "tools", "no tools"},
		{`{"response_format": {"type": "json_object"}, ` + user + `}`, 400, "unsupported_parameter", "response_format", "structured output"},
		{`{"logprobs": true, ` + user + `}`, 400, "unsupported_parameter", "logprobs", "log probabilities"},
		{`{"reasoning_effort": "high", ` + user + `}`, 400, "unsupported_parameter", "reasoning_effort", "--think"},
		{`{"frobnicate": 1, ` + user + `}`, 400, "unknown_parameter", "frobnicate", `unknown field "frobnicate"`},
	} {
		_, err := parseRequest([]byte(tc.body), "tiny", 5)
		if err == nil {
			t.Errorf("%s: no error", tc.body)
			continue
		}
		if err.status != tc.status || err.code != tc.code || err.param != tc.param || !strings.Contains(err.message, tc.want) {
			t.Errorf("%s:\ngot  %d %s param %q: %s\nwant %d %s param %q, a message with %q", tc.body, err.status, err.code, err.param, err.message,
				tc.status, tc.code, tc.param, tc.want)
		}
		if tc.status == http.StatusBadRequest && err.typ != typeInvalid {
			t.Errorf("%s: type %s", tc.body, err.typ)
		}
	}
}
