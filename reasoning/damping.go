package reasoning

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// A Damping policy chooses the answer of a loop that oscillates. Choose
// returns the index, in rounds, of the round whose answer to keep.
type Damping interface {
	Choose(ctx context.Context, question string, rounds []Round) (int, error)
}

// MostFrequent keeps the most frequent normalised answer over the whole
// trajectory; of answers equally frequent, the one given last. It returns
// the last round with that answer. It is the default.
type MostFrequent struct{}

func (MostFrequent) Choose(_ context.Context, _ string, rounds []Round) (int, error) {
	if len(rounds) == 0 {
		return 0, errNoRounds
	}
	count := make(map[string]int)
	last := make(map[string]int)
	for i, r := range rounds {
		count[r.Key]++
		last[r.Key] = i
	}
	best := -1
	// Visiting each answer at its last round, in order, makes the later of
	// equally frequent answers win.
	for i, r := range rounds {
		if last[r.Key] == i && (best < 0 || count[r.Key] >= count[rounds[best].Key]) {
			best = i
		}
	}
	return best, nil
}

// Last keeps the last answer.
type Last struct{}

func (Last) Choose(_ context.Context, _ string, rounds []Round) (int, error) {
	if len(rounds) == 0 {
		return 0, errNoRounds
	}
	return len(rounds) - 1, nil
}

// KeepBest keeps the answer that Score rates highest; of equal scores, the
// later. Score sees the question and a round (its answer, reasoning and
// trace); it may call a model, for example as a verifier.
type KeepBest struct {
	Score func(ctx context.Context, question string, r Round) (float64, error)
}

func (k KeepBest) Choose(ctx context.Context, question string, rounds []Round) (int, error) {
	if k.Score == nil {
		return 0, errors.New("KeepBest has no Score function")
	}
	if len(rounds) == 0 {
		return 0, errNoRounds
	}
	best, bestScore := -1, math.Inf(-1)
	for i, r := range rounds {
		s, err := k.Score(ctx, question, r)
		if err != nil {
			return 0, fmt.Errorf("scoring round %d: %w", r.N, err)
		}
		if math.IsNaN(s) {
			return 0, fmt.Errorf("scoring round %d: score is NaN", r.N)
		}
		if best < 0 || s >= bestScore {
			best, bestScore = i, s
		}
	}
	return best, nil
}

var errNoRounds = errors.New("no rounds to choose from")
