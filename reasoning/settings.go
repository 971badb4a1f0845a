package reasoning

import (
	"fmt"
	"strings"
	"text/template"
	"time"
)

// Settings configure Refine and SelfConsistency. The zero value is ready to
// use: each zero field takes the default given in its comment.
type Settings struct {
	// Prompts are the templates of the user messages; zero fields take the
	// defaults of DefaultPrompts.
	Prompts Prompts

	// Plain turns structured output off, for models or servers without JSON
	// schema support: replies are free text, read by Fallback. By default
	// replies follow AnswerSchema, and Fallback reads those that do not.
	Plain bool

	// Fallback reads answers from replies that are not AnswerSchema's JSON.
	// Default LastNumber{}; use Pattern for answers that are not numbers.
	Fallback Extractor

	// Normalize gives the form in which answers are compared. Default
	// Normalize.
	Normalize func(answer string) string

	// Stop lists the convergence criteria, checked in order after each
	// round of Refine; the first that stops the loop names the Status.
	// Nil means Unchanged{K: 1} then Oscillation{}; an empty, non-nil list
	// runs every round up to the limits.
	Stop []Criterion

	// Damping chooses the answer when Oscillation stops the loop. Default
	// MostFrequent{}.
	Damping Damping

	// Distance measures successive answers (Round.Distance), for
	// WithinDistance. Default EditDistance{}.
	Distance Distance

	// MaxRounds limits the rounds of Refine, and is the number of samples
	// of SelfConsistency. Default 5.
	MaxRounds int

	// TokenBudget, if positive, limits the generated tokens, by the
	// server's counts, summed over all rounds. A round never asks for more
	// than the budget left. (Ollama's counts leave out the thinking when a
	// request has both Think and a schema: it serves those in two steps and
	// counts only the second.)
	TokenBudget int

	// TimeLimit, if positive, limits the loop's wall-clock time; the round
	// in flight when it passes is abandoned.
	TimeLimit time.Duration

	// Sampling, sent with every request; see Request.
	Temperature *float64
	Seed        *int // SelfConsistency uses Seed, Seed+1, … for its samples
	MaxTokens   int  // limit on each reply's generated tokens
	Think       *bool

	// MaxTokensName is what errors call MaxTokens, such as a command-line
	// flag that sets it; default "MaxTokens".
	MaxTokensName string

	// Retries is how many times a request that failed transiently (see
	// Model) is tried again, waiting Backoff, then twice as long each time
	// up to 30s. Default 3 retries and 500ms; a negative Retries means none.
	Retries int
	Backoff time.Duration

	// RequestTimeout limits each request; a request that takes longer is
	// retried. Default 10 minutes; negative means no limit.
	RequestTimeout time.Duration

	// OnRound, if not nil, is called with each round as it completes.
	OnRound func(Round)

	// OnToken, if not nil, receives each round's reply as it streams in.
	// A retried request streams again. Replies are streamed only when it is
	// set: Ollama (v0.17.4) can leave a model stuck when a client drops a
	// streamed reply, as a cancellation, time limit or request timeout does
	// (see the ollama package).
	OnToken func(round int, t Token)
}

// Prompts are text/template templates of the user messages. They see
// .Question; the refine prompt also sees the previous round's .Answer and
// .Reasoning; both see .Format, the reply format instruction that suits
// Settings.Plain.
type Prompts struct {
	System string // system message; none if empty
	First  string // round 1 of Refine, and every sample of SelfConsistency
	Refine string // rounds 2, 3, … of Refine
}

const (
	defaultFirst = `{{.Question}}

Solve this problem step by step. {{.Format}}`

	// The refine prompt asks for verification before any change: in the
	// literature on self-correction, prompts that let a model revise freely
	// turn right answers into wrong ones about as often as the reverse.
	defaultRefine = `Problem:
{{.Question}}

A previous attempt reasoned:
{{.Reasoning}}

and answered: {{.Answer}}

Verify the previous attempt before changing anything: check each step and the final answer against the problem. If they are correct, give the same answer again. Change the answer only if you found a specific error, and then correct it. {{.Format}}`

	formatJSON  = `Reply with a JSON object whose "reasoning" field holds your working and whose "answer" field holds only the final answer.`
	formatPlain = `End your reply with the final answer on its own line, as "Answer: <answer>".`
)

// DefaultPrompts returns the default prompts: a step-by-step first prompt,
// and a refine prompt that asks the model to verify the previous attempt
// before changing anything.
func DefaultPrompts() Prompts {
	return Prompts{First: defaultFirst, Refine: defaultRefine}
}

// promptData is what the prompt templates see.
type promptData struct {
	Question  string
	Answer    string
	Reasoning string
	Format    string
}

// config is Settings with defaults filled in and templates parsed.
type config struct {
	Settings
	first, refine *template.Template
	format        string
}

func (s *Settings) config() (*config, error) {
	c := &config{}
	if s != nil {
		c.Settings = *s
	}
	d := DefaultPrompts()
	if c.Prompts.First == "" {
		c.Prompts.First = d.First
	}
	if c.Prompts.Refine == "" {
		c.Prompts.Refine = d.Refine
	}
	var err error
	if c.first, err = parsePrompt("first", c.Prompts.First); err != nil {
		return nil, err
	}
	if c.refine, err = parsePrompt("refine", c.Prompts.Refine); err != nil {
		return nil, err
	}
	c.format = formatJSON
	if c.Plain {
		c.format = formatPlain
	}
	if c.Fallback == nil {
		c.Fallback = LastNumber{}
	}
	if c.MaxTokensName == "" {
		c.MaxTokensName = "MaxTokens"
	}
	if c.Normalize == nil {
		c.Normalize = Normalize
	}
	if c.Stop == nil {
		c.Stop = []Criterion{Unchanged{K: 1}, Oscillation{}}
	}
	for i, cr := range c.Stop {
		if cr == nil {
			return nil, fmt.Errorf("reasoning: Settings.Stop[%d] is nil", i)
		}
	}
	if c.Damping == nil {
		c.Damping = MostFrequent{}
	}
	if c.Distance == nil {
		c.Distance = EditDistance{}
	}
	if c.MaxRounds == 0 {
		c.MaxRounds = 5
	}
	switch {
	case c.MaxRounds < 0:
		return nil, fmt.Errorf("reasoning: Settings.MaxRounds is %d; want a positive number", c.MaxRounds)
	case c.TokenBudget < 0:
		return nil, fmt.Errorf("reasoning: Settings.TokenBudget is %d; want 0 (none) or a positive number", c.TokenBudget)
	case c.MaxTokens < 0:
		return nil, fmt.Errorf("reasoning: Settings.MaxTokens is %d; want 0 (server default) or a positive number", c.MaxTokens)
	case c.Temperature != nil && *c.Temperature < 0:
		return nil, fmt.Errorf("reasoning: Settings.Temperature is %g; want 0 or more", *c.Temperature)
	}
	if c.Retries == 0 {
		c.Retries = 3
	}
	c.Retries = max(c.Retries, 0)
	if c.Backoff <= 0 {
		c.Backoff = 500 * time.Millisecond
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Minute
	}
	return c, nil
}

func parsePrompt(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("reasoning: %s prompt: %w", name, err)
	}
	// Execute once on sample data so that a template naming a field that
	// does not exist fails here, not in the middle of a loop.
	if err := t.Execute(&strings.Builder{}, promptData{}); err != nil {
		return nil, fmt.Errorf("reasoning: %s prompt: %w", name, err)
	}
	return t, nil
}

func (c *config) prompt(t *template.Template, d promptData) (string, error) {
	d.Format = c.format
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("reasoning: %s prompt: %w", t.Name(), err)
	}
	return b.String(), nil
}
