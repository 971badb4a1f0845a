package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/implicitlab/implicit/reasoning/chatserver"
)

// defaultServeTimeLimit is the default of "reason serve --time-limit", the
// deadline of each request's loop.
const defaultServeTimeLimit = 10 * time.Minute

// serveFlags are the flags of "reason serve" beside the loop's.
type serveFlags struct {
	addr                       string
	maxRounds, maxConcurrent   int
	maxRequestBytes            int64
	ioTimeout, shutdownTimeout time.Duration
	log                        logFlags
}

func newReasonServeCmd() *cobra.Command {
	var (
		f  reasonFlags
		sf serveFlags
	)
	cmd := &cobra.Command{
		Use:   "serve --backend ollama|openai --model NAME [--addr 127.0.0.1:8081]",
		Short: "Serve the refinement loop as an OpenAI-compatible chat completions API",
		Long: `Serve answers OpenAI chat completion requests (POST /v1/chat/completions) with
the refinement loop run to its fixed point on the model named by --model, and
lists that model at GET /v1/models. The question is the last user message; the
system messages are the loop's system prompt. A request may set "rounds" (an
extension field), "max_tokens" (the token budget over all rounds),
"temperature" and "seed"; the other flags set the loop for every request. The
reply's message is the final answer, its usage is summed over all rounds, and
its extension field "implicit" holds the loop's trace. With "stream": true the
answer is sent as server-sent events once the loop has finished.

SIGTERM or Ctrl-C stops accepting connections and lets the requests in flight
finish (up to --shutdown-timeout); a second one stops at once. See
docs/reasoning.md.`,
		Example: `  implicit reason serve --model qwen3:1.7b
  curl -s http://127.0.0.1:8081/v1/chat/completions -d '{"model": "qwen3:1.7b", "rounds": 3, "messages": [{"role": "user", "content": "What is 17 times 23?"}]}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReasonServe(cmd.Context(), cmd.ErrOrStderr(), &f, &sf)
		},
	}
	f.register(cmd, 5)
	// The loop's flags are the defaults of requests that do not say.
	for name, usage := range map[string]string{
		"rounds":       `round limit of a request without "rounds"`,
		"token-budget": "token budget of a request without max_tokens (0: none)",
		"temperature":  "sampling temperature of a request without one, 0 for greedy decoding (-1: the backend's default; go-openai leaves out a temperature of 0)",
		"seed":         "sampling seed of a request without one (-1: none)",
		"time-limit":   "deadline of each request's loop: it stops there with the answer so far (504 if it has none yet); 0: none",
	} {
		cmd.Flags().Lookup(name).Usage = usage
	}
	// A server wants a deadline on each request.
	cmd.Flags().Lookup("time-limit").DefValue = defaultServeTimeLimit.String()
	f.timeLimit = defaultServeTimeLimit

	fl := cmd.Flags()
	fl.StringVar(&sf.addr, "addr", "127.0.0.1:8081", "address to listen on (host:port; port 0 picks a free one)")
	fl.IntVar(&sf.maxRounds, "max-rounds", chatserver.DefaultMaxRounds, `most rounds a request may ask for with "rounds"`)
	fl.IntVar(&sf.maxConcurrent, "max-concurrent", chatserver.DefaultMaxConcurrent, "most chat completions served at once; more get 503")
	fl.Int64Var(&sf.maxRequestBytes, "max-request-bytes", chatserver.DefaultMaxRequestBytes, "limit on a request body's size; larger ones get 413")
	fl.DurationVar(&sf.ioTimeout, "io-timeout", chatserver.DefaultIOTimeout, "limit on reading a request and on writing a reply (not on the loop: --time-limit)")
	fl.DurationVar(&sf.shutdownTimeout, "shutdown-timeout", 0, "on SIGTERM or Ctrl-C, how long to wait for the requests in flight before cutting them short (0: as long as they take)")
	sf.log.register(fl, "each request; debug adds each round")
	return cmd
}

// runReasonServe serves until ctx is done or a signal comes, then shuts
// down gracefully. Logs go to logw.
func runReasonServe(ctx context.Context, logw io.Writer, f *reasonFlags, sf *serveFlags) error {
	log, err := sf.log.logger(logw)
	if err != nil {
		return err
	}
	if err := sf.check(f.rounds); err != nil {
		return err
	}
	m, s, err := f.build()
	if err != nil {
		return err
	}
	srv, err := chatserver.New(chatserver.Config{
		Model: m, Name: f.model, Settings: s,
		MaxRounds: sf.maxRounds, MaxRequestBytes: sf.maxRequestBytes, MaxConcurrent: sf.maxConcurrent,
		IOTimeout: sf.ioTimeout, ShutdownTimeout: sf.shutdownTimeout, Logger: log,
	})
	if err != nil {
		return err
	}

	// The first signal shuts down gracefully, a second at once. (main's
	// Ctrl-C, which ends ctx, comes here too.)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer onSignals(ctx, log, cancel, func() { srv.Close() })()

	l, err := net.Listen("tcp", sf.addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", sf.addr, err)
	}
	log.Info("listening", "url", "http://"+l.Addr().String()+"/v1", "model", f.model, "backend", f.backend,
		"backend_url", reasonURL(f.backend, f.url), "time_limit", s.TimeLimit.String())
	return srv.Serve(ctx, l)
}

// check checks the flags of serving against each other; rounds is
// --rounds.
func (sf *serveFlags) check(rounds int) error {
	switch {
	case sf.maxRounds < 1:
		return fmt.Errorf("--max-rounds %d: want 1 or more", sf.maxRounds)
	case rounds > sf.maxRounds:
		return fmt.Errorf("--rounds %d is more than --max-rounds %d, the most a request may ask for", rounds, sf.maxRounds)
	case sf.maxConcurrent < 1:
		return fmt.Errorf("--max-concurrent %d: want 1 or more", sf.maxConcurrent)
	case sf.maxRequestBytes < 1:
		return fmt.Errorf("--max-request-bytes %d: want 1 or more", sf.maxRequestBytes)
	case sf.ioTimeout <= 0:
		return fmt.Errorf("--io-timeout %v: want more than 0", sf.ioTimeout)
	case sf.shutdownTimeout < 0:
		return fmt.Errorf("--shutdown-timeout %v: want 0 (no limit) or more", sf.shutdownTimeout)
	}
	return nil
}
