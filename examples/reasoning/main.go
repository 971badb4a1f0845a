// Command reasoning uses the reasoning package as a library: it refines a
// local model's answer to a question until it reaches a fixed point, and
// prints the trace.
//
//	ollama pull qwen3:1.7b
//	go run ./examples/reasoning -model qwen3:1.7b "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?"
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/implicitlab/implicit/reasoning"
	"github.com/implicitlab/implicit/reasoning/ollama"
)

func main() {
	url := flag.String("url", ollama.DefaultURL, "Ollama server")
	model := flag.String("model", "qwen3:1.7b", "model name")
	rounds := flag.Int("rounds", 4, "round limit")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: reasoning [-url URL] [-model NAME] [-rounds N] \"question\"")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	m, err := ollama.New(ollama.Config{URL: *url, Model: *model})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	temperature := 0.0 // greedy: a deterministic operator on answers
	res, err := reasoning.Refine(ctx, m, flag.Arg(0), &reasoning.Settings{
		MaxRounds:   *rounds,
		Temperature: &temperature,
		OnRound: func(r reasoning.Round) {
			fmt.Fprintf(os.Stderr, "round %d: %s (%d tokens)\n", r.N, r.Answer, r.CompletionTokens)
		},
	})
	if res != nil {
		trace, _ := json.MarshalIndent(res, "", "  ")
		fmt.Println(string(trace))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
