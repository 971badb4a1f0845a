// Package wire classifies transport errors for the model backends, so that
// both report an unreachable server and a broken reply the same way.
package wire

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/implicitlab/implicit/reasoning"
)

// Transport wraps an error from sending a request to, or reading a reply
// from, the server at url: a failed connection wraps
// reasoning.ErrUnreachable, a connection lost mid-reply
// reasoning.ErrInterrupted. Other errors are wrapped as they are.
func Transport(backend, url string, err error) error {
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("%s: %w: cannot connect to %s (is the server running?): %v", backend, reasoning.ErrUnreachable, url, err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return fmt.Errorf("%s: %w: connection to %s lost: %v", backend, reasoning.ErrInterrupted, url, err)
	}
	return fmt.Errorf("%s %s: %w", backend, url, err)
}

// Incomplete is the error for a reply stream that ended without its final
// message.
func Incomplete(backend, url string) error {
	return fmt.Errorf("%s: %w: the reply from %s ended before its final message", backend, reasoning.ErrInterrupted, url)
}

// ModelMissing reports whether the message of a 404 reply is about the
// model, as servers word it ("model 'x' not found", "The model `x` does not
// exist"), rather than about the path, as a wrong URL gets it ("404 page not
// found"): only the first means that the model should be pulled.
func ModelMissing(message string) bool {
	return strings.Contains(strings.ToLower(message), "model")
}

// Float64s converts an embedding to float64.
func Float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
