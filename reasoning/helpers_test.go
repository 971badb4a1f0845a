package reasoning

import (
	"context"
	"encoding/json"
	"sync"
)

// script is a Model that replies from a list, one reply per call, and
// records the requests. A reply func may block or fail.
type script struct {
	mu       sync.Mutex
	replies  []func(ctx context.Context, req *Request) (*Response, error)
	requests []*Request
}

func (s *script) Chat(ctx context.Context, req *Request) (*Response, error) {
	s.mu.Lock()
	i := len(s.requests)
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	if i >= len(s.replies) {
		return jsonReply("out of script", "none")(ctx, req)
	}
	return s.replies[i](ctx, req)
}

func (s *script) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

type replyFunc = func(ctx context.Context, req *Request) (*Response, error)

// jsonReply replies in the form of AnswerSchema, streaming the content in
// two tokens, with 10 prompt and 20 completion tokens.
func jsonReply(reasoning, answer string) replyFunc {
	b, _ := json.Marshal(map[string]string{"reasoning": reasoning, "answer": answer})
	return textReply(string(b))
}

func textReply(content string) replyFunc {
	return func(ctx context.Context, req *Request) (*Response, error) {
		if req.OnToken != nil {
			half := len(content) / 2
			req.OnToken(Token{Content: content[:half]})
			req.OnToken(Token{Content: content[half:]})
		}
		return &Response{Content: content, PromptTokens: 10, CompletionTokens: 20, FinishReason: FinishStop}, nil
	}
}

func answers(as ...string) *script {
	s := &script{}
	for _, a := range as {
		s.replies = append(s.replies, jsonReply("because "+a, a))
	}
	return s
}

func failWith(err error) replyFunc {
	return func(context.Context, *Request) (*Response, error) { return nil, err }
}

// block waits for the request's context to end.
func block(ctx context.Context, _ *Request) (*Response, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func keys(rs []Round) []string {
	var k []string
	for _, r := range rs {
		k = append(k, r.Key)
	}
	return k
}
