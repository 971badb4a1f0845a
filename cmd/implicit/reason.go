package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/implicitlab/implicit/internal/atomicfile"
	"github.com/implicitlab/implicit/reasoning"
	"github.com/implicitlab/implicit/reasoning/gsm8k"
	"github.com/implicitlab/implicit/reasoning/ollama"
	"github.com/implicitlab/implicit/reasoning/openai"
)

// reasonFlags are the settings shared by "reason" and "reason eval".
type reasonFlags struct {
	backend, url, model, embedModel, apiKey string

	rounds, k, maxPeriod            int
	tol                             float64
	distance, damping               string
	tokenBudget, maxTokens, retries int
	timeLimit, requestTimeout       time.Duration
	temperature                     float64
	seed                            int
	think                           string
	plain                           bool
	pattern                         string
}

func (f *reasonFlags) register(cmd *cobra.Command, rounds int) {
	fl := cmd.Flags()
	fl.StringVar(&f.backend, "backend", "ollama", "server API: ollama (native) or openai (any OpenAI-compatible server)")
	fl.StringVar(&f.url, "url", "", "server address (default $OLLAMA_HOST, read as Ollama reads it, else "+ollama.DefaultURL+
		"); for --backend openai, the base URL up to /v1 (default $OPENAI_BASE_URL, else Ollama's /v1 at that address)")
	fl.StringVar(&f.model, "model", "", "model name, as on the server (required)")
	fl.StringVar(&f.embedModel, "embed-model", "", "model for --distance embedding (default --model)")
	fl.StringVar(&f.apiKey, "api-key", "", "API key for --backend openai (default $OPENAI_API_KEY)")
	fl.IntVar(&f.rounds, "rounds", rounds, "round limit")
	fl.IntVar(&f.k, "k", 1, "fixed point: stop when the answer is unchanged for k consecutive rounds")
	fl.Float64Var(&f.tol, "tol", 0, "also stop when successive answers are within this distance (0: off)")
	fl.StringVar(&f.distance, "distance", "edit", "distance between answers: edit (normalised edit distance) or embedding (1 − cosine similarity, from the server)")
	fl.IntVar(&f.maxPeriod, "max-period", 0, "longest answer cycle to detect (0: any)")
	fl.StringVar(&f.damping, "damping", "most-frequent", "answer on a cycle: most-frequent or last")
	fl.IntVar(&f.tokenBudget, "token-budget", 0, "limit on generated tokens over all rounds (0: none)")
	fl.DurationVar(&f.timeLimit, "time-limit", 0, "wall-clock limit (0: none)")
	fl.IntVar(&f.maxTokens, "max-tokens", defaultReasonMaxTokens, "limit on each reply's generated tokens (0: the server's, which may be none)")
	fl.Float64Var(&f.temperature, "temperature", -1, "sampling temperature, 0 for greedy decoding (-1: the server's default)")
	fl.IntVar(&f.seed, "seed", -1, "sampling seed (-1: none)")
	fl.StringVar(&f.think, "think", "", "separate thinking: true or false (default: the server's)")
	fl.BoolVar(&f.plain, "plain", false, "no structured output: read answers from free text (for servers without JSON schema support)")
	fl.StringVar(&f.pattern, "pattern", "", "regular expression that reads the answer from free text (first group, else the match; default: the last number)")
	fl.IntVar(&f.retries, "retries", 3, "retries of a request that failed transiently (a 5xx status, a broken stream, a timeout), with doubling waits from 0.5s")
	fl.DurationVar(&f.requestTimeout, "request-timeout", 10*time.Minute, "limit on each request, after which it is retried (0: none)")
}

// defaultReasonMaxTokens is the default of --max-tokens: room for the
// working of a hard problem, and at 10 tokens a second, a CPU's pace for a
// small model, 7 minutes; without a limit, a model that never closes its
// JSON runs on until the request timeout, four times over.
const defaultReasonMaxTokens = 4096

// build returns the model and the settings that the flags describe.
func (f *reasonFlags) build() (reasoning.Model, *reasoning.Settings, error) {
	m, emb, err := f.modelFor()
	if err != nil {
		return nil, nil, err
	}
	s, err := f.settings(emb)
	return m, s, err
}

// modelFor returns the model the flags name, and its embedder.
func (f *reasonFlags) modelFor() (reasoning.Model, reasoning.Embedder, error) {
	if f.model == "" {
		return nil, nil, errors.New("no model: pass --model, for example --model qwen3:1.7b")
	}
	url := reasonURL(f.backend, f.url)
	switch f.backend {
	case "ollama":
		m, err := ollama.New(ollama.Config{URL: url, Model: f.model, EmbedModel: f.embedModel})
		return m, m, err
	case "openai":
		key := f.apiKey
		if key == "" {
			key = os.Getenv("OPENAI_API_KEY")
		}
		m, err := openai.New(openai.Config{BaseURL: url, APIKey: key, Model: f.model, EmbedModel: f.embedModel})
		return m, m, err
	}
	return nil, nil, fmt.Errorf("--backend %q: want ollama or openai", f.backend)
}

// reasonURL returns the server's address for backend: the --url flag's
// value if set; else, for ollama, $OLLAMA_HOST as Ollama reads it (a host
// alone means port 11434), default http://127.0.0.1:11434; for openai,
// $OPENAI_BASE_URL, else Ollama's OpenAI-compatible API: /v1 at that same
// address.
func reasonURL(backend, flag string) string {
	if flag != "" {
		return flag
	}
	if backend == "openai" {
		if u := strings.TrimSpace(os.Getenv("OPENAI_BASE_URL")); u != "" {
			return u
		}
		return strings.TrimSuffix(ollama.EnvURL(), "/") + "/v1"
	}
	return ollama.EnvURL()
}

// settings turns the flags into reasoning.Settings.
func (f *reasonFlags) settings(emb reasoning.Embedder) (*reasoning.Settings, error) {
	s := &reasoning.Settings{
		MaxRounds:      f.rounds,
		TokenBudget:    f.tokenBudget,
		TimeLimit:      f.timeLimit,
		MaxTokens:      f.maxTokens,
		MaxTokensName:  "--max-tokens",
		Plain:          f.plain,
		Retries:        f.retries,
		RequestTimeout: f.requestTimeout,
	}
	// In Settings, zero means the default and negative means none.
	if f.retries <= 0 {
		s.Retries = -1
	}
	if f.requestTimeout <= 0 {
		s.RequestTimeout = -1
	}
	if f.rounds < 1 {
		return nil, fmt.Errorf("--rounds %d: want 1 or more", f.rounds)
	}
	if f.k < 1 {
		return nil, fmt.Errorf("--k %d: want 1 or more", f.k)
	}
	if f.tol < 0 {
		return nil, fmt.Errorf("--tol %v: want 0 or more", f.tol)
	}
	if f.maxTokens < 0 {
		return nil, fmt.Errorf("--max-tokens %d: want 0 (the server's limit) or more", f.maxTokens)
	}
	if f.tokenBudget < 0 {
		return nil, fmt.Errorf("--token-budget %d: want 0 (none) or more", f.tokenBudget)
	}
	s.Stop = []reasoning.Criterion{reasoning.Unchanged{K: f.k}, reasoning.Oscillation{MaxPeriod: f.maxPeriod}}
	if f.tol > 0 {
		s.Stop = append(s.Stop, reasoning.WithinDistance{Tol: f.tol})
	}
	switch f.distance {
	case "edit":
	case "embedding":
		s.Distance = reasoning.EmbeddingDistance{Embedder: emb}
	default:
		return nil, fmt.Errorf("--distance %q: want edit or embedding", f.distance)
	}
	switch f.damping {
	case "most-frequent":
	case "last":
		s.Damping = reasoning.Last{}
	default:
		return nil, fmt.Errorf("--damping %q: want most-frequent or last", f.damping)
	}
	if f.temperature >= 0 {
		s.Temperature = &f.temperature
	}
	if f.seed >= 0 {
		s.Seed = &f.seed
	}
	switch f.think {
	case "":
	case "true", "false":
		b := f.think == "true"
		s.Think = &b
	default:
		return nil, fmt.Errorf("--think %q: want true or false", f.think)
	}
	if f.pattern != "" {
		re, err := regexp.Compile(f.pattern)
		if err != nil {
			return nil, fmt.Errorf("--pattern: %w", err)
		}
		s.Fallback = reasoning.Pattern{Regexp: re}
	}
	return s, nil
}

func newReasonCmd() *cobra.Command {
	var (
		f       reasonFlags
		trace   string
		stream  bool
		samples int
	)
	cmd := &cobra.Command{
		Use:   `reason [flags] "question"`,
		Short: "Refine an LLM's answer to a question until it reaches a fixed point",
		Long: `Reason asks a model (on Ollama or an OpenAI-compatible server) a question,
then shows it the question and its previous answer and asks it to verify and
refine the answer, round after round, until the answer stops changing (a fixed
point), cycles, or a limit on rounds, tokens or time is reached. It prints each
round as it completes, then the final answer and why the loop stopped.`,
		Example: `  ollama pull qwen3:1.7b
  implicit reason --model qwen3:1.7b "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total does it take?"
  implicit reason --backend openai --url http://127.0.0.1:8080/v1 --model local --trace trace.json "…"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, s, err := f.build()
			if err != nil {
				return err
			}
			// Progress goes where the trace does not.
			out, progress := cmd.OutOrStdout(), cmd.OutOrStdout()
			if trace == "-" {
				progress = cmd.ErrOrStderr()
			}
			// A streamed reply shows itself; else, on a terminal, a spinner
			// shows the round in flight.
			var spin *reasonSpinner
			if !stream && isTerminal(progress) {
				spin = startReasonSpinner(progress, reasonSpinnerEvery)
			}
			spin.show("round 1")
			s.OnRound = func(r reasoning.Round) {
				spin.hide()
				printReasonRound(progress, r)
				spin.show(fmt.Sprintf("round %d", r.N+1))
			}
			if stream {
				st := &reasonStream{w: progress}
				s.OnToken = func(_ int, t reasoning.Token) { st.token(t) }
				s.OnRound = func(r reasoning.Round) { st.end(); printReasonRound(progress, r) }
			}
			run := reasoning.Refine
			if samples > 0 {
				s.MaxRounds = samples
				run = reasoning.SelfConsistency
			}
			res, err := run(cmd.Context(), m, args[0], s)
			spin.stop()
			if res != nil {
				printReasonResult(progress, res)
				err = errors.Join(err, writeReasonTrace(out, trace, res))
			}
			return reasonInterrupted(cmd.Context(), err)
		},
	}
	f.register(cmd, 5)
	cmd.Flags().StringVar(&trace, "trace", "", `write the full trace as JSON to this file ("-": standard output)`)
	cmd.Flags().BoolVar(&stream, "stream", false, "print the replies as they are generated (on Ollama, interrupting a streamed reply can leave the model stuck, later requests to it hanging; see docs/reasoning.md)")
	cmd.Flags().IntVar(&samples, "self-consistency", 0, "instead of refining, draw this many independent answers and take a majority vote")
	cmd.AddCommand(newReasonEvalCmd(), newReasonServeCmd())
	return cmd
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// reasonSpinnerEvery is how often the spinner turns.
const reasonSpinnerEvery = 125 * time.Millisecond

// reasonSpinner shows, on one line of a terminal, what is in flight with a
// spinner and the time it has taken so far, until it is hidden. A nil
// *reasonSpinner shows nothing.
type reasonSpinner struct {
	w    io.Writer
	mu   sync.Mutex
	what string // "" while hidden
	t0   time.Time
	turn int
	quit chan struct{}
	done chan struct{}
}

var reasonSpinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func startReasonSpinner(w io.Writer, every time.Duration) *reasonSpinner {
	p := &reasonSpinner{w: w, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-tick.C:
				p.draw()
			}
		}
	}()
	return p
}

// show starts showing what, timed from now.
func (p *reasonSpinner) show(what string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.what, p.t0 = what, time.Now()
}

func (p *reasonSpinner) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.what == "" {
		return
	}
	p.turn++
	fmt.Fprintf(p.w, "\r\x1b[K%s %s: waiting for the reply, %s", reasonSpinnerFrames[p.turn%len(reasonSpinnerFrames)], p.what,
		time.Since(p.t0).Truncate(time.Second))
}

// hide clears the spinner's line, if it is shown, for other output.
func (p *reasonSpinner) hide() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.what != "" && p.turn > 0 {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	p.what, p.turn = "", 0
}

// stop hides the spinner for good.
func (p *reasonSpinner) stop() {
	if p == nil {
		return
	}
	close(p.quit)
	<-p.done
	p.hide()
}

// reasonStream prints a reply as it streams in, its separate thinking
// between <think> and </think>, as models write it, so that it stands apart
// from the content.
type reasonStream struct {
	w        io.Writer
	thinking bool // within a thinking block
}

func (p *reasonStream) token(t reasoning.Token) {
	if t.Thinking != "" {
		if !p.thinking {
			fmt.Fprint(p.w, "<think>")
			p.thinking = true
		}
		fmt.Fprint(p.w, t.Thinking)
	}
	if t.Content != "" {
		p.closeThinking()
		fmt.Fprint(p.w, t.Content)
	}
}

func (p *reasonStream) closeThinking() {
	if p.thinking {
		fmt.Fprint(p.w, "</think>\n")
		p.thinking = false
	}
}

// end ends the reply of a round.
func (p *reasonStream) end() {
	p.closeThinking()
	fmt.Fprintln(p.w)
}

// reasonInterrupted turns the error of a run that Ctrl-C stopped into
// errInterrupted (exit status 130, no message), as for the other commands:
// what had run is printed, and its trace written, by then.
func reasonInterrupted(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return errInterrupted
	}
	return err
}

func printReasonRound(w io.Writer, r reasoning.Round) {
	answer := r.Answer
	if r.Error != "" {
		answer = "(" + r.Error + ")"
	}
	dist := ""
	if r.Distance >= 0 {
		dist = fmt.Sprintf(", distance %.3g", r.Distance)
	}
	fmt.Fprintf(w, "round %d: %s  [%d tokens, %.1fs%s]\n", r.N, answer, r.CompletionTokens, r.Duration.Seconds(), dist)
}

func printReasonResult(w io.Writer, res *reasoning.Result) {
	if res.Answer == "" {
		fmt.Fprintf(w, "no answer (%s after %d rounds)\n", res.Status, len(res.Rounds))
		return
	}
	fmt.Fprintf(w, "answer: %s\nstopped: %s after %d rounds (answer from round %d), %d tokens generated, %.1fs\n",
		res.Answer, res.Status, len(res.Rounds), res.Chosen, res.CompletionTokens, res.Duration.Seconds())
}

// writeReasonTrace writes v as indented JSON to path, atomically, or to w if path
// is "-"; nowhere if path is empty.
func writeReasonTrace(w io.Writer, path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = w.Write(b)
		return err
	}
	return atomicfile.WriteFile(path, b, 0o644)
}

func newReasonEvalCmd() *cobra.Command {
	var (
		f             reasonFlags
		data, trace   string
		n, offset     int
		scTemperature float64
	)
	cmd := &cobra.Command{
		Use:   "eval --data gsm8k --model NAME [--n N]",
		Short: "Measure accuracy against test-time compute on GSM8K",
		Long: `Eval runs the refinement loop on GSM8K test problems (embedded in the binary)
and prints, side by side: accuracy after round 1, 2, …, R; accuracy at the
fixed-point stop, with the mean rounds and tokens it used; and self-consistency
(independent samples, majority vote) given the same token budget, problem by
problem. Every round runs, so that the accuracy of each round is measured; the
fixed-point stop is where the stopping rules would have stopped the loop.

An answer is right if its last number equals the number after "####" in the
reference, compared as numbers.`,
		Example: `  ollama pull qwen3:1.7b
  implicit reason eval --data gsm8k --n 100 --model qwen3:1.7b`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if data != "gsm8k" {
				return fmt.Errorf("--data %q: the only data set is gsm8k", data)
			}
			problems, err := gsm8k.Test()
			if err != nil {
				return err
			}
			if offset < 0 || offset >= len(problems) {
				return fmt.Errorf("--offset %d: want 0 to %d", offset, len(problems)-1)
			}
			problems = problems[offset:]
			if n <= 0 || n > len(problems) {
				return fmt.Errorf("--n %d: want 1 to %d", n, len(problems))
			}
			problems = problems[:n]
			m, s, err := f.build()
			if err != nil {
				return err
			}
			sc := *s
			sc.Temperature = &scTemperature
			var spin *reasonSpinner
			if isTerminal(cmd.ErrOrStderr()) {
				spin = startReasonSpinner(cmd.ErrOrStderr(), reasonSpinnerEvery)
			}
			ev, err := runReasonEval(cmd.Context(), cmd.ErrOrStderr(), spin, m, problems, s, &sc)
			spin.stop()
			if ev != nil {
				ev.Model = f.model + " (" + f.backend + ")"
				ev.print(cmd.OutOrStdout())
				err = errors.Join(err, writeReasonTrace(cmd.OutOrStdout(), trace, ev))
			}
			return reasonInterrupted(cmd.Context(), err)
		},
	}
	f.register(cmd, 3)
	cmd.Flags().StringVar(&data, "data", "gsm8k", "data set: gsm8k (the GSM8K test split, MIT, OpenAI)")
	cmd.Flags().IntVar(&n, "n", 50, "number of problems")
	cmd.Flags().IntVar(&offset, "offset", 0, "index of the first problem")
	cmd.Flags().Float64Var(&scTemperature, "sc-temperature", 0.7, "sampling temperature of self-consistency")
	cmd.Flags().StringVar(&trace, "trace", "", `write every problem's traces as JSON to this file ("-": standard output)`)
	return cmd
}

// reasonEvalProblem is the outcome of one problem.
type reasonEvalProblem struct {
	Question string            `json:"question"`
	Gold     string            `json:"gold"`
	Refine   *reasoning.Result `json:"refine"`
	RefineOK []bool            `json:"refine_correct"` // after rounds 1…R
	StopAt   int               `json:"stop_round"`     // rounds the stopping rules would use
	Stop     string            `json:"stop_status"`
	StopOK   bool              `json:"stop_correct"`
	StopTok  int               `json:"stop_tokens"`
	SC       *reasoning.Result `json:"self_consistency"`
	SCOK     bool              `json:"self_consistency_correct"`
	Error    string            `json:"error,omitempty"`
}

// reasonEvaluation is the outcome of an reasonEvaluation.
type reasonEvaluation struct {
	Model    string              `json:"model"`
	Rounds   int                 `json:"rounds"`
	Problems []reasonEvalProblem `json:"problems"`
}

// runReasonEval runs every problem for s.MaxRounds rounds, then replays s.Stop on
// the trace to find where the loop would have stopped, and runs
// self-consistency (settings sc) with the tokens that the stopped loop used.
// spin, if not nil, shows the round in flight.
func runReasonEval(ctx context.Context, progress io.Writer, spin *reasonSpinner, m reasoning.Model, problems []gsm8k.Problem, s, sc *reasoning.Settings) (*reasonEvaluation, error) {
	stop := s.Stop
	all := *s
	all.Stop = []reasoning.Criterion{} // every round runs; stop is replayed below
	ev := &reasonEvaluation{Rounds: s.MaxRounds}
	for i, p := range problems {
		ep := reasonEvalProblem{Question: p.Question, Gold: p.Answer}
		spinning := func(what string) func(reasoning.Round) {
			spin.show(fmt.Sprintf("problem %d/%d, %s 1", i+1, len(problems), what))
			return func(r reasoning.Round) {
				spin.show(fmt.Sprintf("problem %d/%d, %s %d", i+1, len(problems), what, r.N+1))
			}
		}
		all.OnRound = spinning("refine round")
		res, err := reasoning.Refine(ctx, m, p.Question, &all)
		if ctx.Err() != nil {
			return ev, ctx.Err()
		}
		if errors.Is(err, reasoning.ErrModelNotFound) || errors.Is(err, reasoning.ErrUnreachable) {
			return ev, err
		}
		if res == nil {
			return ev, err
		}
		if err != nil {
			ep.Error = err.Error()
		}
		ep.Refine = res
		ep.RefineOK, ep.StopAt, ep.Stop, ep.StopOK, ep.StopTok = replayStop(ctx, res, stop, s.Damping, all.MaxRounds, p.Answer)

		scs := *sc
		scs.MaxRounds = 4 * all.MaxRounds
		if ep.StopTok > 0 {
			scs.TokenBudget = ep.StopTok
		} else {
			scs.MaxRounds = max(ep.StopAt, 1)
		}
		scs.OnRound = spinning("self-consistency sample")
		scRes, err := reasoning.SelfConsistency(ctx, m, p.Question, &scs)
		if ctx.Err() != nil {
			return ev, ctx.Err()
		}
		if err != nil && ep.Error == "" {
			ep.Error = "self-consistency: " + err.Error()
		}
		ep.SC = scRes
		ep.SCOK = scRes != nil && gsm8k.Correct(scRes.Answer, p.Answer)
		ev.Problems = append(ev.Problems, ep)
		spin.hide()
		fmt.Fprintf(progress, "problem %d/%d: gold %s; refine %s (%s at round %d); self-consistency %s\n",
			i+1, len(problems), p.Answer, rightOrWrong(ep.StopOK), ep.Stop, ep.StopAt, rightOrWrong(ep.SCOK))
	}
	return ev, nil
}

func rightOrWrong(ok bool) string {
	if ok {
		return "right"
	}
	return "wrong"
}

// replayStop scores a full trace round by round, and finds where the stopping
// rules would have stopped it and with which answer.
func replayStop(ctx context.Context, res *reasoning.Result, stop []reasoning.Criterion, damping reasoning.Damping, rounds int, gold string) (ok []bool, stopAt int, status string, stopOK bool, stopTok int) {
	var answered []reasoning.Round // answered rounds, in order, until the first without an answer
	for _, r := range res.Rounds {
		if r.Error != "" {
			break
		}
		answered = append(answered, r)
	}
	ok = make([]bool, rounds)
	for i := range ok {
		// After a failed round, the last answer stands.
		if j := min(i, len(answered)-1); j >= 0 {
			ok[i] = gsm8k.Correct(answered[j].Answer, gold)
		}
	}
	if len(answered) == 0 {
		return ok, len(res.Rounds), "no answer", false, res.CompletionTokens
	}
	stopAt, st := len(answered), reasoning.RoundLimit
	if len(answered) < len(res.Rounds) {
		st = reasoning.Failed
	}
search:
	for n := 1; n <= len(answered); n++ {
		for _, c := range stop {
			if s := c.Check(answered[:n]); s != reasoning.NotTerminated {
				stopAt, st = n, s
				break search
			}
		}
	}
	chosen := stopAt - 1
	if st == reasoning.Cycle {
		if damping == nil {
			damping = reasoning.MostFrequent{}
		}
		if k, err := damping.Choose(ctx, res.Question, answered[:stopAt]); err == nil {
			chosen = k
		}
	}
	for _, r := range res.Rounds[:stopAt] {
		stopTok += r.CompletionTokens
	}
	return ok, stopAt, st.String(), gsm8k.Correct(answered[chosen].Answer, gold), stopTok
}

func (ev *reasonEvaluation) print(w io.Writer) {
	n := len(ev.Problems)
	if n == 0 {
		return
	}
	pct := func(k int) string { return fmt.Sprintf("%.1f%%", 100*float64(k)/float64(n)) }
	mean := func(x int) string { return fmt.Sprintf("%.2f", float64(x)/float64(n)) }
	fmt.Fprintf(w, "GSM8K test, %d problems, %s, up to %d rounds\n\n", n, ev.Model, ev.Rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\taccuracy\tmean rounds\tmean tokens")
	for r := range ev.Rounds {
		right, tokens := 0, 0
		for _, p := range ev.Problems {
			if p.RefineOK[r] {
				right++
			}
			for _, round := range p.Refine.Rounds[:min(r+1, len(p.Refine.Rounds))] {
				tokens += round.CompletionTokens
			}
		}
		fmt.Fprintf(tw, "refine, after round %d\t%s\t%d\t%s\n", r+1, pct(right), r+1, mean(tokens))
	}
	right, rounds, tokens, scRight, scRounds, scTokens, errs := 0, 0, 0, 0, 0, 0, 0
	for _, p := range ev.Problems {
		if p.StopOK {
			right++
		}
		rounds += p.StopAt
		tokens += p.StopTok
		if p.SCOK {
			scRight++
		}
		if p.SC != nil {
			scRounds += len(p.SC.Rounds)
			scTokens += p.SC.CompletionTokens
		}
		if p.Error != "" {
			errs++
		}
	}
	fmt.Fprintf(tw, "refine, fixed-point stop\t%s\t%s\t%s\n", pct(right), mean(rounds), mean(tokens))
	fmt.Fprintf(tw, "self-consistency, same tokens\t%s\t%s\t%s\n", pct(scRight), mean(scRounds), mean(scTokens))
	tw.Flush()
	if errs > 0 {
		fmt.Fprintf(w, "\n%d problems had errors (counted wrong where no answer); see --trace\n", errs)
	}
}
