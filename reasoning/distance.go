package reasoning

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/agnivade/levenshtein"
)

// A Distance measures how far apart two answers are; 0 means the same.
type Distance interface {
	Distance(ctx context.Context, a, b string) (float64, error)
}

// EditDistance is the Levenshtein distance between two strings, in
// characters, divided by the length of the longer: 0 for equal strings, 1
// for strings with nothing in common. It is the default.
type EditDistance struct{}

func (EditDistance) Distance(_ context.Context, a, b string) (float64, error) {
	n := max(len([]rune(a)), len([]rune(b)))
	if n == 0 {
		return 0, nil
	}
	return float64(levenshtein.ComputeDistance(a, b)) / float64(n), nil
}

// EmbeddingDistance is one minus the cosine similarity of the answers'
// embeddings, from the server's embedding endpoint: 0 for answers that mean
// the same, up to 2.
type EmbeddingDistance struct {
	Embedder Embedder
}

func (e EmbeddingDistance) Distance(ctx context.Context, a, b string) (float64, error) {
	if e.Embedder == nil {
		return 0, errors.New("EmbeddingDistance has no Embedder")
	}
	v, err := e.Embedder.Embed(ctx, []string{a, b})
	if err != nil {
		return 0, fmt.Errorf("embedding answers: %w", err)
	}
	if len(v) != 2 {
		return 0, fmt.Errorf("embedding answers: got %d embeddings for 2 texts", len(v))
	}
	c, err := cosine(v[0], v[1])
	if err != nil {
		return 0, fmt.Errorf("embedding answers: %w", err)
	}
	return 1 - c, nil
}

func cosine(x, y []float64) (float64, error) {
	if len(x) != len(y) || len(x) == 0 {
		return 0, fmt.Errorf("embeddings of lengths %d and %d", len(x), len(y))
	}
	var dot, xx, yy float64
	for i := range x {
		dot += x[i] * y[i]
		xx += x[i] * x[i]
		yy += y[i] * y[i]
	}
	if xx == 0 || yy == 0 {
		return 0, errors.New("an embedding is zero, so cosine similarity is undefined")
	}
	c := dot / math.Sqrt(xx*yy)
	return max(-1, min(1, c)), nil
}
