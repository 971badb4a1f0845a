package chatserver

import (
	"fmt"
	"net/http"

	"github.com/implicitlab/implicit/reasoning/internal/wire"
)

// Fields is an HTTP client for go-openai (as its ClientConfig.HTTPClient)
// that sets fields in every JSON request body: this server's extension
// field "rounds", which go-openai's request type has no place for, or a
// temperature of 0, which go-openai leaves out (omitempty).
//
//	cfg := openai.DefaultConfig("")
//	cfg.BaseURL = "http://127.0.0.1:8081/v1"
//	cfg.HTTPClient = chatserver.Fields{Set: map[string]any{"rounds": 3, "temperature": 0}}
type Fields struct {
	Set    map[string]any
	Client *http.Client // sends the requests; default http.DefaultClient
}

// Do sends req with f.Set in its body, if it has one.
func (f Fields) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && len(f.Set) > 0 {
		if err := wire.SetFields(req, f.Set); err != nil {
			return nil, fmt.Errorf("chatserver.Fields: %w", err)
		}
	}
	c := f.Client
	if c == nil {
		c = http.DefaultClient
	}
	return c.Do(req)
}
