package reasoning

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Round is one round of a loop: one request and its reply.
type Round struct {
	N        int       `json:"round"` // 1, 2, …
	Messages []Message `json:"messages"`

	Reply     string `json:"reply"`              // the reply's content, as sent
	Thinking  string `json:"thinking,omitempty"` // separate thinking content, if any
	Reasoning string `json:"reasoning"`          // the reasoning read with the answer
	Answer    string `json:"answer"`             // the answer read from the reply
	Key       string `json:"key"`                // Answer normalised, for comparison
	Fallback  bool   `json:"fallback,omitempty"` // read by Settings.Fallback, not as JSON

	// Error says why no answer could be read; Answer is then empty.
	Error string `json:"error,omitempty"`

	PromptTokens     int           `json:"prompt_tokens"`
	CompletionTokens int           `json:"completion_tokens"`
	FinishReason     string        `json:"finish_reason"`
	Duration         time.Duration `json:"duration_ns"` // including retries
	Attempts         int           `json:"attempts"`    // 1 plus retries

	// Distance to the previous round's answer, by Settings.Distance; -1
	// where there is none (round 1, and every sample of SelfConsistency).
	Distance float64 `json:"distance"`
}

// Result is the outcome of a loop, with its full trace.
type Result struct {
	Question string `json:"question"`
	Answer   string `json:"answer"` // the final answer; empty if no round had one
	Key      string `json:"key"`    // Answer normalised
	Status   Status `json:"status"` // why the loop stopped
	Chosen   int    `json:"chosen"` // the round whose answer is Answer; 0 if none

	Rounds []Round `json:"rounds"`

	// Votes counts the samples of SelfConsistency by normalised answer.
	Votes map[string]int `json:"votes,omitempty"`

	PromptTokens     int           `json:"prompt_tokens"`
	CompletionTokens int           `json:"completion_tokens"`
	Duration         time.Duration `json:"duration_ns"`
}

// Refine iterates m on question: round 1 answers it, each later round asks
// m to verify and refine the previous answer, until a criterion of
// s.Stop or a limit stops the loop. A nil s means the defaults.
//
// Refine returns a Result with the trace so far in every case but invalid
// settings. The error is nil when the loop stopped by a criterion or a limit
// and had an answer; otherwise it says why: the context's error
// (Result.Status is Canceled), a *RoundError for a round that failed
// (Failed), or ErrNoAnswer when a limit came before any answer.
func Refine(ctx context.Context, m Model, question string, s *Settings) (*Result, error) {
	r, err := start(ctx, m, question, s)
	if err != nil {
		return nil, err
	}
	defer r.cancel()
	for n := 1; ; n++ {
		if st := r.limit(n); st != NotTerminated {
			return r.finish(st, r.ctxErr(st))
		}
		var d promptData
		t := r.c.first
		d.Question = question
		if n > 1 {
			prev := r.res.Rounds[len(r.res.Rounds)-1]
			t, d.Answer, d.Reasoning = r.c.refine, prev.Answer, prev.Reasoning
		}
		text, err := r.c.prompt(t, d)
		if err != nil {
			return r.finish(Failed, &RoundError{Round: n, Err: err})
		}
		round, err := r.ask(n, text, r.c.Seed)
		if err != nil {
			return r.stopOn(n, err)
		}
		if round.Error != "" {
			r.add(round)
			if r.budgetCut(round) {
				return r.finish(TokenLimit, nil)
			}
			return r.finish(Failed, &RoundError{Round: n, Err: r.answerErr})
		}
		if n > 1 {
			prev := r.res.Rounds[len(r.res.Rounds)-1]
			if round.Distance, err = r.distance(prev.Key, round.Key); err != nil {
				r.add(round) // the reply belongs in the trace all the same
				if st := r.interrupted(); st != NotTerminated {
					return r.finish(st, r.ctxErr(st))
				}
				return r.finish(Failed, &RoundError{Round: n, Err: fmt.Errorf("distance: %w", err)})
			}
		}
		r.add(round)
		for _, c := range r.c.Stop {
			if st := c.Check(r.res.Rounds); st != NotTerminated {
				return r.finish(st, nil)
			}
		}
	}
}

// SelfConsistency draws s.MaxRounds independent answers to question from m
// and returns the most frequent (of equally frequent answers, the one given
// first). It stops early once no remaining sample could change the vote,
// and at s.TokenBudget and s.TimeLimit. Samples need a positive temperature
// to differ; replies without an answer do not vote. It returns as Refine
// does, but a reply without an answer is not an error.
func SelfConsistency(ctx context.Context, m Model, question string, s *Settings) (*Result, error) {
	r, err := start(ctx, m, question, s)
	if err != nil {
		return nil, err
	}
	defer r.cancel()
	r.res.Votes = make(map[string]int)
	text, err := r.c.prompt(r.c.first, promptData{Question: question})
	if err != nil {
		return r.finish(Failed, &RoundError{Round: 1, Err: err})
	}
	for n := 1; ; n++ {
		if st := r.limit(n); st != NotTerminated {
			return r.finish(st, r.ctxErr(st))
		}
		seed := r.c.Seed
		if seed != nil {
			v := *seed + n - 1
			seed = &v
		}
		round, err := r.ask(n, text, seed)
		if err != nil {
			return r.stopOn(n, err)
		}
		r.add(round)
		if round.Error == "" {
			r.res.Votes[round.Key]++
		}
		if leader, runnerUp := top2(r.res.Votes); leader-runnerUp > r.c.MaxRounds-n && n < r.c.MaxRounds {
			return r.finish(VoteSettled, nil)
		}
	}
}

// top2 returns the two largest counts.
func top2(votes map[string]int) (first, second int) {
	for _, v := range votes {
		if v > first {
			first, second = v, first
		} else if v > second {
			second = v
		}
	}
	return first, second
}

// run is the state of one loop.
type run struct {
	parent context.Context // the caller's
	ctx    context.Context // parent with the time limit
	cancel context.CancelFunc
	m      Model
	c      *config
	res    *Result
	start  time.Time

	answerErr error // why the last reply had no answer
}

// maxBackoff caps the wait between retries.
const maxBackoff = 30 * time.Second

// errTimeLimit is the cause of run.ctx ending at Settings.TimeLimit.
var errTimeLimit = errors.New("time limit")

func start(ctx context.Context, m Model, question string, s *Settings) (*run, error) {
	if m == nil {
		return nil, errors.New("reasoning: nil Model")
	}
	c, err := s.config()
	if err != nil {
		return nil, err
	}
	r := &run{parent: ctx, m: m, c: c, start: time.Now(), res: &Result{Question: question}}
	if c.TimeLimit > 0 {
		r.ctx, r.cancel = context.WithTimeoutCause(ctx, c.TimeLimit, errTimeLimit)
	} else {
		r.ctx, r.cancel = context.WithCancel(ctx)
	}
	return r, nil
}

// limit returns the limit that stops the loop before round n, if any.
func (r *run) limit(n int) Status {
	if st := r.interrupted(); st != NotTerminated {
		return st
	}
	if n > r.c.MaxRounds {
		return RoundLimit
	}
	if r.c.TokenBudget > 0 && r.res.CompletionTokens >= r.c.TokenBudget {
		return TokenLimit
	}
	return NotTerminated
}

// interrupted reports whether the caller canceled or the time limit passed.
func (r *run) interrupted() Status {
	switch {
	case r.parent.Err() != nil:
		return Canceled
	case r.ctx.Err() != nil && context.Cause(r.ctx) == errTimeLimit:
		return TimeLimit
	}
	return NotTerminated
}

func (r *run) ctxErr(st Status) error {
	if st == Canceled {
		return context.Cause(r.parent)
	}
	return nil
}

// stopOn ends the loop after round n's request failed.
func (r *run) stopOn(n int, err error) (*Result, error) {
	if st := r.interrupted(); st != NotTerminated {
		return r.finish(st, r.ctxErr(st))
	}
	return r.finish(Failed, &RoundError{Round: n, Err: err})
}

// budgetCut reports whether round was cut short by the token budget rather
// than by the user's MaxTokens.
func (r *run) budgetCut(round Round) bool {
	return round.FinishReason == FinishLength && r.c.TokenBudget > 0 &&
		r.res.CompletionTokens >= r.c.TokenBudget
}

// ask sends round n's request, retrying transient failures, and reads the
// answer from the reply. A reply without an answer is a Round with Error
// set, and r.answerErr saying why.
func (r *run) ask(n int, prompt string, seed *int) (Round, error) {
	var msgs []Message
	if r.c.Prompts.System != "" {
		msgs = append(msgs, Message{Role: "system", Content: r.c.Prompts.System})
	}
	msgs = append(msgs, Message{Role: "user", Content: prompt})
	req := &Request{
		Messages:    msgs,
		Think:       r.c.Think,
		Temperature: r.c.Temperature,
		Seed:        seed,
		MaxTokens:   r.c.MaxTokens,
	}
	if !r.c.Plain {
		req.Schema = []byte(AnswerSchema)
	}
	budgetCapped := false
	if left := r.c.TokenBudget - r.res.CompletionTokens; r.c.TokenBudget > 0 && (req.MaxTokens == 0 || left < req.MaxTokens) {
		req.MaxTokens, budgetCapped = left, true
	}
	if r.c.OnToken != nil {
		req.OnToken = func(t Token) { r.c.OnToken(n, t) }
	}

	round := Round{N: n, Messages: msgs, Distance: -1}
	t0 := time.Now()
	resp, err := r.chat(req, &round.Attempts)
	round.Duration = time.Since(t0)
	if err != nil {
		return round, err
	}
	round.Reply, round.Thinking = resp.Content, resp.Thinking
	round.PromptTokens, round.CompletionTokens = resp.PromptTokens, resp.CompletionTokens
	round.FinishReason = resp.FinishReason

	answer, reasoning, fallback, err := r.extract(resp.Content)
	if err != nil {
		r.answerErr = &AnswerError{Reply: resp.Content, FinishReason: resp.FinishReason, Err: err,
			BudgetLimit: budgetCapped, MaxTokens: req.MaxTokens, limitName: r.c.MaxTokensName}
		round.Error = r.answerErr.Error()
		return round, nil
	}
	round.Answer, round.Reasoning, round.Fallback = answer, reasoning, fallback
	round.Key = r.c.Normalize(answer)
	return round, nil
}

// chat sends req with retries and a timeout for each attempt.
func (r *run) chat(req *Request, attempts *int) (*Response, error) {
	wait := r.c.Backoff
	for {
		*attempts++
		ctx, cancel := r.requestContext()
		resp, err := r.m.Chat(ctx, req)
		timedOut := ctx.Err() != nil && context.Cause(ctx) == ErrRequestTimeout
		cancel()
		if err == nil && resp == nil {
			err = errors.New("model returned no reply and no error")
		}
		if err == nil {
			return resp, nil
		}
		if r.ctx.Err() != nil {
			return nil, err
		}
		if timedOut {
			err = fmt.Errorf("%w (%v)", ErrRequestTimeout, r.c.RequestTimeout)
		}
		if !retryable(err) || *attempts > r.c.Retries {
			if *attempts > 1 {
				err = fmt.Errorf("%w (after %d attempts)", err, *attempts)
			}
			return nil, err
		}
		select {
		case <-time.After(wait):
		case <-r.ctx.Done():
			return nil, err
		}
		wait = min(2*wait, maxBackoff)
	}
}

// requestContext returns the context of one request to a server: the
// loop's, limited to Settings.RequestTimeout.
func (r *run) requestContext() (context.Context, context.CancelFunc) {
	if r.c.RequestTimeout > 0 {
		return context.WithTimeoutCause(r.ctx, r.c.RequestTimeout, ErrRequestTimeout)
	}
	return context.WithCancel(r.ctx)
}

// distance measures two answers by Settings.Distance, within the request
// timeout: an embedding server that does not answer must not hang the loop.
func (r *run) distance(a, b string) (float64, error) {
	ctx, cancel := r.requestContext()
	defer cancel()
	d, err := r.c.Distance.Distance(ctx, a, b)
	if err != nil && context.Cause(ctx) == ErrRequestTimeout {
		err = fmt.Errorf("%w (%v): %w", ErrRequestTimeout, r.c.RequestTimeout, err)
	}
	return d, err
}

// extract reads the answer from a reply: as AnswerSchema's JSON unless
// Settings.Plain, else (or failing that) with Settings.Fallback.
func (r *run) extract(reply string) (answer, reasoning string, fallback bool, err error) {
	if !r.c.Plain {
		answer, reasoning, jsonErr := JSONAnswer{}.Extract(reply)
		if jsonErr == nil {
			return answer, reasoning, false, nil
		}
		answer, reasoning, err = r.c.Fallback.Extract(reply)
		if err != nil {
			return "", "", true, fmt.Errorf("%w; %w", jsonErr, err)
		}
		return answer, reasoning, true, nil
	}
	answer, reasoning, err = r.c.Fallback.Extract(reply)
	return answer, reasoning, true, err
}

func (r *run) add(round Round) {
	r.res.Rounds = append(r.res.Rounds, round)
	r.res.PromptTokens += round.PromptTokens
	r.res.CompletionTokens += round.CompletionTokens
	if r.c.OnRound != nil {
		r.c.OnRound(round)
	}
}

// finish sets the final answer and status. err, if not nil, is returned.
func (r *run) finish(st Status, err error) (*Result, error) {
	res := r.res
	res.Status = st
	res.Duration = time.Since(r.start)
	var answered []int // indices of rounds with an answer
	for i, round := range res.Rounds {
		if round.Error == "" {
			answered = append(answered, i)
		}
	}
	chosen := -1
	switch {
	case len(answered) == 0:
	case res.Votes != nil:
		chosen = majority(res.Rounds, res.Votes)
	case st == Cycle:
		rounds := make([]Round, len(answered))
		for i, j := range answered {
			rounds[i] = res.Rounds[j]
		}
		k, derr := r.c.Damping.Choose(r.ctx, res.Question, rounds)
		if derr != nil || k < 0 || k >= len(rounds) {
			if derr == nil {
				derr = fmt.Errorf("chose round index %d of %d", k, len(rounds))
			}
			res.Status = Failed
			err = fmt.Errorf("damping: %w", derr)
			chosen = answered[len(answered)-1]
			break
		}
		chosen = answered[k]
	default:
		chosen = answered[len(answered)-1]
	}
	if chosen >= 0 {
		res.Answer, res.Key, res.Chosen = res.Rounds[chosen].Answer, res.Rounds[chosen].Key, res.Rounds[chosen].N
	}
	if err == nil && chosen < 0 {
		err = fmt.Errorf("%w: stopped at %s before any reply had an answer", ErrNoAnswer, st)
		if r.answerErr != nil {
			err = fmt.Errorf("%w: stopped at %s; last reply: %v", ErrNoAnswer, st, r.answerErr)
		}
	}
	// The caller's own context error comes back as it is.
	if err != nil && st != Canceled {
		err = fmt.Errorf("reasoning: %w", err)
	}
	return res, err
}

// majority returns the first round with the most voted answer.
func majority(rounds []Round, votes map[string]int) int {
	best := -1
	for i, r := range rounds {
		if r.Error == "" && (best < 0 || votes[r.Key] > votes[rounds[best].Key]) {
			best = i
		}
	}
	return best
}
