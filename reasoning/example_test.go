package reasoning_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"

	"github.com/implicitlab/implicit/reasoning"
)

// halfway is a stand-in for a language model: it answers 40 at first, then
// moves its previous answer halfway towards 42 (rounding up). A real program
// would use ollama.New or openai.New.
type halfway struct{}

var previous = regexp.MustCompile(`answered: (\d+)`)

func (halfway) Chat(_ context.Context, req *reasoning.Request) (*reasoning.Response, error) {
	answer := 40
	if m := previous.FindStringSubmatch(req.Messages[len(req.Messages)-1].Content); m != nil {
		prev, _ := strconv.Atoi(m[1])
		answer = (prev + 42 + 1) / 2
	}
	reply := fmt.Sprintf(`{"reasoning": "checked", "answer": "%d"}`, answer)
	return &reasoning.Response{Content: reply, CompletionTokens: 10, FinishReason: reasoning.FinishStop}, nil
}

func ExampleRefine() {
	res, err := reasoning.Refine(context.Background(), halfway{}, "What is 6 times 7?", &reasoning.Settings{
		OnRound: func(r reasoning.Round) { fmt.Printf("round %d: %s\n", r.N, r.Answer) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s after %d rounds: %s (%d tokens)\n", res.Status, len(res.Rounds), res.Answer, res.CompletionTokens)
	// Output:
	// round 1: 40
	// round 2: 41
	// round 3: 42
	// round 4: 42
	// fixed point after 4 rounds: 42 (40 tokens)
}

// flipper flips between two answers, as a model unsure of itself may do.
type flipper struct{ n int }

func (f *flipper) Chat(context.Context, *reasoning.Request) (*reasoning.Response, error) {
	f.n++
	answer := []string{"3", "4", "3", "4"}[(f.n-1)%4]
	return &reasoning.Response{Content: `{"reasoning": "", "answer": "` + answer + `"}`}, nil
}

func ExampleOscillation() {
	// The default criteria detect the 2-cycle 3, 4, 3, and the default
	// damping keeps the most frequent answer.
	res, err := reasoning.Refine(context.Background(), &flipper{}, "question", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %s (from round %d)\n", res.Status, res.Answer, res.Chosen)

	// Keep the last answer instead.
	res, _ = reasoning.Refine(context.Background(), &flipper{n: 1}, "question", &reasoning.Settings{Damping: reasoning.Last{}})
	fmt.Printf("%s: %s (from round %d)\n", res.Status, res.Answer, res.Chosen)
	// Output:
	// cycle: 3 (from round 3)
	// cycle: 4 (from round 3)
}
