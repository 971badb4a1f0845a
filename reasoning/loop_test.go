package reasoning

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRefineFixedPoint(t *testing.T) {
	m := answers("10", "12", "12.0")
	res, err := Refine(context.Background(), m, "What is 3 times 4?", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != FixedPoint || res.Answer != "12.0" || res.Key != "12" || res.Chosen != 3 || len(res.Rounds) != 3 {
		t.Fatalf("got %s %q (round %d of %d), want fixed point 12.0 at round 3", res.Status, res.Answer, res.Chosen, len(res.Rounds))
	}
	first := m.requests[0].Messages[0].Content
	if !strings.Contains(first, "What is 3 times 4?") || string(m.requests[0].Schema) != AnswerSchema {
		t.Errorf("round 1 request: %q, schema %s", first, m.requests[0].Schema)
	}
	second := m.requests[1].Messages[0].Content
	if !strings.Contains(second, "What is 3 times 4?") || !strings.Contains(second, "answered: 10") ||
		!strings.Contains(second, "because 10") || !strings.Contains(second, "Verify the previous attempt") {
		t.Errorf("round 2 prompt lacks the question, previous answer or reasoning: %q", second)
	}
	if res.Rounds[0].Distance != -1 || res.Rounds[2].Distance != 0 || res.Rounds[1].Distance != 0.5 {
		t.Errorf("distances %v, %v, %v; want -1, 0.5, 0", res.Rounds[0].Distance, res.Rounds[1].Distance, res.Rounds[2].Distance)
	}
	if res.PromptTokens != 30 || res.CompletionTokens != 60 {
		t.Errorf("tokens %d+%d, want 30+60", res.PromptTokens, res.CompletionTokens)
	}
}

func TestRefineUnchangedK(t *testing.T) {
	m := answers("7", "7", "8", "8", "8")
	res, err := Refine(context.Background(), m, "q", &Settings{Stop: []Criterion{Unchanged{K: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != FixedPoint || res.Chosen != 5 {
		t.Fatalf("got %s at round %d, want fixed point at round 5", res.Status, res.Chosen)
	}
}

func TestRefineWithinDistance(t *testing.T) {
	m := answers("the cat sat on a mat", "The cat sat on the mat", "the cat sat on the mat!")
	s := &Settings{Stop: []Criterion{WithinDistance{Tol: 0.1}}}
	res, err := Refine(context.Background(), m, "q", s)
	if err != nil {
		t.Fatal(err)
	}
	// Round 2 differs by "a" → "the" (3 edits in 22 runes); round 3 by "!".
	if res.Status != Close || res.Chosen != 3 {
		t.Fatalf("got %s at round %d (distances %v, %v), want close at 3", res.Status, res.Chosen, res.Rounds[1].Distance, res.Rounds[2].Distance)
	}
}

func TestRefineCycles(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answers []string
		s       Settings
		want    string
		chosen  int
	}{
		{"2-cycle, most frequent", []string{"3", "4", "3"}, Settings{}, "3", 3},
		{"3-cycle", []string{"1", "2", "3", "1"}, Settings{}, "1", 4},
		{"2-cycle, last", []string{"5", "3", "4", "3"}, Settings{Damping: Last{}}, "3", 4},
		{"2-cycle, keep best", []string{"3", "4", "3"}, Settings{Damping: KeepBest{Score: func(_ context.Context, _ string, r Round) (float64, error) {
			if r.Key == "4" {
				return 1, nil
			}
			return 0, nil
		}}}, "4", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Refine(context.Background(), answers(tc.answers...), "q", &tc.s)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != Cycle || res.Answer != tc.want || res.Chosen != tc.chosen {
				t.Fatalf("got %s %q at round %d, want cycle %q at round %d", res.Status, res.Answer, res.Chosen, tc.want, tc.chosen)
			}
		})
	}
}

func TestRefineCycleLongerThanMaxPeriod(t *testing.T) {
	res, err := Refine(context.Background(), answers("1", "2", "3", "1", "5"), "q", &Settings{Stop: []Criterion{Oscillation{MaxPeriod: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != RoundLimit || res.Answer != "5" {
		t.Fatalf("got %s %q, want round limit 5: a 3-cycle is longer than MaxPeriod", res.Status, res.Answer)
	}
}

func TestRefineDampingError(t *testing.T) {
	boom := errors.New("scorer down")
	s := &Settings{Damping: KeepBest{Score: func(context.Context, string, Round) (float64, error) { return 0, boom }}}
	res, err := Refine(context.Background(), answers("3", "4", "3"), "q", s)
	if !errors.Is(err, boom) || res.Status != Failed {
		t.Fatalf("got %v, %s; want the scorer's error and Failed", err, res.Status)
	}
}

func TestRefineRoundLimit(t *testing.T) {
	res, err := Refine(context.Background(), answers("1", "2", "3", "4"), "q", &Settings{MaxRounds: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != RoundLimit || res.Answer != "3" || len(res.Rounds) != 3 {
		t.Fatalf("got %s %q after %d rounds, want round limit 3 after 3", res.Status, res.Answer, len(res.Rounds))
	}
}

func TestRefineTokenBudget(t *testing.T) {
	var limits []int
	reply := func(a string) replyFunc {
		return func(ctx context.Context, req *Request) (*Response, error) {
			limits = append(limits, req.MaxTokens)
			if req.MaxTokens < 20 {
				return &Response{Content: `{"reasoning": "cut sh`, CompletionTokens: req.MaxTokens, FinishReason: FinishLength}, nil
			}
			return jsonReply("r", a)(ctx, &Request{})
		}
	}
	m := &script{replies: []replyFunc{reply("1"), reply("2"), reply("3"), reply("4")}}
	// 20 tokens a reply: rounds 1–4 fit into 70 but for the last, cut at 10.
	res, err := Refine(context.Background(), m, "q", &Settings{TokenBudget: 70, MaxRounds: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != TokenLimit || res.Answer != "3" || res.CompletionTokens != 70 {
		t.Fatalf("got %s %q with %d tokens, want token limit with 3 and 70 tokens", res.Status, res.Answer, res.CompletionTokens)
	}
	if want := []int{70, 50, 30, 10}; !slices.Equal(limits, want) {
		t.Errorf("per-request limits %v, want %v", limits, want)
	}
	// The cut round records why it has no answer: the budget, which
	// MaxTokens would not help.
	if last := res.Rounds[len(res.Rounds)-1]; !strings.Contains(last.Error, "token budget") || strings.Contains(last.Error, "MaxTokens") {
		t.Errorf("cut round's error %q; want it to blame the token budget", last.Error)
	}

	// The budget also stops a loop whose replies fit exactly.
	res, err = Refine(context.Background(), answers("1", "2", "3"), "q", &Settings{TokenBudget: 40})
	if err != nil || res.Status != TokenLimit || res.Answer != "2" {
		t.Fatalf("got %v, %s %q; want token limit with 2", err, res.Status, res.Answer)
	}
}

func TestRefineTimeLimit(t *testing.T) {
	m := &script{replies: []replyFunc{jsonReply("r", "1"), block}}
	res, err := Refine(context.Background(), m, "q", &Settings{TimeLimit: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != TimeLimit || res.Answer != "1" {
		t.Fatalf("got %s %q, want time limit with 1", res.Status, res.Answer)
	}

	// A limit before any answer is an error.
	res, err = Refine(context.Background(), &script{replies: []replyFunc{block}}, "q", &Settings{TimeLimit: 10 * time.Millisecond})
	if !errors.Is(err, ErrNoAnswer) || res.Status != TimeLimit {
		t.Fatalf("got %v, %s; want ErrNoAnswer at the time limit", err, res.Status)
	}
}

func TestRefineCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inFlight := make(chan error, 1)
	m := &script{replies: []replyFunc{jsonReply("r", "1"), func(ctx context.Context, req *Request) (*Response, error) {
		cancel()
		<-ctx.Done() // the request in flight sees the cancellation
		inFlight <- ctx.Err()
		return nil, ctx.Err()
	}}}
	res, err := Refine(ctx, m, "q", nil)
	if !errors.Is(err, context.Canceled) || res.Status != Canceled || res.Answer != "1" {
		t.Fatalf("got %v, %s %q; want context.Canceled, canceled, 1", err, res.Status, res.Answer)
	}
	if e := <-inFlight; !errors.Is(e, context.Canceled) {
		t.Errorf("in-flight request saw %v", e)
	}

	// Canceled before the first round: no request at all.
	m = answers("1")
	res, err = Refine(ctx, m, "q", nil)
	if !errors.Is(err, context.Canceled) || res.Status != Canceled || m.calls() != 0 {
		t.Fatalf("got %v, %s after %d calls", err, res.Status, m.calls())
	}
}

func TestRefineRetries(t *testing.T) {
	s := &Settings{Backoff: time.Millisecond}
	m := &script{replies: []replyFunc{
		failWith(&ServerError{StatusCode: 503}),
		failWith(ErrInterrupted),
		jsonReply("r", "1"),
		jsonReply("r", "1"),
	}}
	res, err := Refine(context.Background(), m, "q", s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rounds[0].Attempts != 3 || res.Rounds[1].Attempts != 1 || res.Status != FixedPoint {
		t.Fatalf("attempts %d, %d; status %s", res.Rounds[0].Attempts, res.Rounds[1].Attempts, res.Status)
	}

	// Bounded: four failures with three retries.
	m = &script{}
	for range 5 {
		m.replies = append(m.replies, failWith(&ServerError{StatusCode: 500, Message: "boom"}))
	}
	res, err = Refine(context.Background(), m, "q", s)
	var se *ServerError
	var re *RoundError
	if !errors.As(err, &se) || se.StatusCode != 500 || !errors.As(err, &re) || re.Round != 1 || m.calls() != 4 || res.Status != Failed {
		t.Fatalf("got %v after %d calls, status %s", err, m.calls(), res.Status)
	}

	// Not transient: no retry.
	for _, e := range []error{&ServerError{StatusCode: 400}, ErrModelNotFound, ErrUnreachable} {
		m = &script{replies: []replyFunc{failWith(e), jsonReply("r", "1")}}
		if _, err := Refine(context.Background(), m, "q", s); !errors.Is(err, e) || m.calls() != 1 {
			t.Errorf("%v: got %v after %d calls, want no retry", e, err, m.calls())
		}
	}
}

func TestRefineRequestTimeout(t *testing.T) {
	s := &Settings{RequestTimeout: 20 * time.Millisecond, Backoff: time.Millisecond, MaxRounds: 1}
	m := &script{replies: []replyFunc{block, jsonReply("r", "1")}}
	res, err := Refine(context.Background(), m, "q", s)
	if err != nil || res.Rounds[0].Attempts != 2 {
		t.Fatalf("got %v; attempts %d, want a retry after the timeout", err, res.Rounds[0].Attempts)
	}
	m = &script{replies: []replyFunc{block, block, block, block}}
	_, err = Refine(context.Background(), m, "q", s)
	if !errors.Is(err, ErrRequestTimeout) || m.calls() != 4 {
		t.Fatalf("got %v after %d calls, want ErrRequestTimeout after 4", err, m.calls())
	}
}

func TestRefineNoAnswer(t *testing.T) {
	m := &script{replies: []replyFunc{textReply("I cannot say.")}}
	res, err := Refine(context.Background(), m, "q", nil)
	var ae *AnswerError
	var re *RoundError
	if !errors.Is(err, ErrNoAnswer) || !errors.As(err, &ae) || !errors.As(err, &re) || re.Round != 1 || res.Status != Failed {
		t.Fatalf("got %v, status %s", err, res.Status)
	}
	if ae.Reply != "I cannot say." || !strings.Contains(err.Error(), "I cannot say.") {
		t.Errorf("error does not show the reply: %v", err)
	}
	if len(res.Rounds) != 1 || res.Rounds[0].Error == "" {
		t.Errorf("the trace should keep the reply without an answer")
	}

	// Cut at the user's MaxTokens: the error says so.
	m = &script{replies: []replyFunc{func(context.Context, *Request) (*Response, error) {
		return &Response{Content: `{"reasoning": "long`, FinishReason: FinishLength}, nil
	}}}
	if _, err := Refine(context.Background(), m, "q", &Settings{MaxTokens: 5}); !strings.Contains(err.Error(), "token limit, 5 tokens; raise MaxTokens") {
		t.Fatalf("got %v", err)
	}
	// A program that sets MaxTokens by another name has the error say it,
	// in the trace too.
	m.requests = nil
	res, err = Refine(context.Background(), m, "q", &Settings{MaxTokens: 5, MaxTokensName: "--max-tokens"})
	if err == nil || !strings.Contains(err.Error(), "raise --max-tokens") || strings.Contains(err.Error(), "MaxTokens") ||
		!strings.Contains(res.Rounds[0].Error, "raise --max-tokens") {
		t.Fatalf("got %v, round error %q", err, res.Rounds[0].Error)
	}
	// Cut where the server stopped it, with no limit asked for.
	m.requests = nil
	if _, err := Refine(context.Background(), m, "q", nil); !strings.Contains(err.Error(), "server's token limit; set MaxTokens") {
		t.Fatalf("got %v", err)
	}
}

func TestRefineFallbackAndPlain(t *testing.T) {
	m := &script{replies: []replyFunc{textReply("So the total is $1,200."), jsonReply("r", "1200")}}
	res, err := Refine(context.Background(), m, "q", nil)
	if err != nil || !res.Rounds[0].Fallback || res.Rounds[0].Answer != "1200" || res.Status != FixedPoint {
		t.Fatalf("got %v, %+v", err, res.Rounds[0])
	}

	m = &script{replies: []replyFunc{textReply("Answer: Paris"), textReply("I checked.\nAnswer: paris")}}
	s := &Settings{Plain: true, Fallback: Pattern{Regexp: regexp.MustCompile(`Answer:\s*(.+)`)}}
	res, err = Refine(context.Background(), m, "Capital of France?", s)
	if err != nil || res.Status != FixedPoint || res.Answer != "paris" {
		t.Fatalf("got %v, %s %q", err, res.Status, res.Answer)
	}
	if m.requests[0].Schema != nil || !strings.Contains(m.requests[0].Messages[0].Content, `"Answer: <answer>"`) {
		t.Errorf("plain request asked for a schema or lacks the format instruction: %+v", m.requests[0])
	}
}

func TestRefineRequestSettings(t *testing.T) {
	temp, seed, think := 0.0, 7, false
	var rounds []int
	var tokens strings.Builder
	s := &Settings{
		Prompts:     Prompts{System: "Be brief.", First: "Q: {{.Question}}", Refine: "Q: {{.Question}} A: {{.Answer}}"},
		Temperature: &temp, Seed: &seed, Think: &think, MaxTokens: 300,
		OnRound: func(r Round) { rounds = append(rounds, r.N) },
		OnToken: func(n int, tk Token) { tokens.WriteString(tk.Content) },
	}
	m := answers("1", "1")
	if _, err := Refine(context.Background(), m, "two?", s); err != nil {
		t.Fatal(err)
	}
	req := m.requests[1]
	if *req.Temperature != 0 || *req.Seed != 7 || *req.Think || req.MaxTokens != 300 {
		t.Errorf("request settings %+v", req)
	}
	if len(req.Messages) != 2 || req.Messages[0] != (Message{"system", "Be brief."}) || req.Messages[1].Content != "Q: two? A: 1" {
		t.Errorf("messages %+v", req.Messages)
	}
	if !slices.Equal(rounds, []int{1, 2}) || !strings.Contains(tokens.String(), `"answer":"1"`) {
		t.Errorf("callbacks saw rounds %v and tokens %q", rounds, tokens.String())
	}
}

func TestSettingsErrors(t *testing.T) {
	for name, s := range map[string]*Settings{
		"bad template":   {Prompts: Prompts{First: "{{.Question"}},
		"unknown field":  {Prompts: Prompts{Refine: "{{.Previous}}"}},
		"negative round": {MaxRounds: -1},
		"negative temp":  {Temperature: new(-1.0)},
		"nil criterion":  {Stop: []Criterion{nil}},
	} {
		if res, err := Refine(context.Background(), answers("1"), "q", s); err == nil || res != nil {
			t.Errorf("%s: got %v, %v; want an error", name, res, err)
		}
	}
	if _, err := Refine(context.Background(), nil, "q", nil); err == nil {
		t.Error("nil model: no error")
	}
}

func TestSelfConsistency(t *testing.T) {
	m := answers("5", "5", "5", "6", "6")
	seed := 10
	res, err := SelfConsistency(context.Background(), m, "q", &Settings{Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	// After three votes for 5, two samples left cannot change the vote.
	if res.Status != VoteSettled || res.Answer != "5" || len(res.Rounds) != 3 || res.Votes["5"] != 3 {
		t.Fatalf("got %s %q after %d samples, votes %v", res.Status, res.Answer, len(res.Rounds), res.Votes)
	}
	for i, req := range m.requests {
		if *req.Seed != 10+i || req.Messages[0].Content != m.requests[0].Messages[0].Content {
			t.Errorf("sample %d: seed %d, prompt differs", i, *req.Seed)
		}
	}

	// Unanswered samples do not vote; a tie goes to the answer given first.
	m = &script{replies: []replyFunc{jsonReply("r", "6"), textReply("no idea"), jsonReply("r", "5"), jsonReply("r", "5"), jsonReply("r", "6")}}
	res, err = SelfConsistency(context.Background(), m, "q", nil)
	if err != nil || res.Status != RoundLimit || res.Answer != "6" || res.Chosen != 1 {
		t.Fatalf("got %v, %s %q from sample %d, votes %v", err, res.Status, res.Answer, res.Chosen, res.Votes)
	}

	// No sample with an answer is an error.
	m = &script{replies: []replyFunc{textReply("?"), textReply("?")}}
	if _, err := SelfConsistency(context.Background(), m, "q", &Settings{MaxRounds: 2}); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("got %v", err)
	}

	// Token budget.
	res, err = SelfConsistency(context.Background(), answers("1", "2", "3", "4", "5"), "q", &Settings{TokenBudget: 40})
	if err != nil || res.Status != TokenLimit || len(res.Rounds) != 2 {
		t.Fatalf("got %v, %s after %d samples", err, res.Status, len(res.Rounds))
	}
}

func TestStatusText(t *testing.T) {
	for st := NotTerminated; st <= Failed; st++ {
		b, _ := st.MarshalText()
		var got Status
		if err := got.UnmarshalText(b); err != nil || got != st {
			t.Errorf("%d: %q → %v, %v", st, b, got, err)
		}
	}
	if Status(99).String() != "Status(99)" {
		t.Error(Status(99).String())
	}
	var s Status
	if err := s.UnmarshalText([]byte("bogus")); err == nil {
		t.Error("no error for an unknown status")
	}
	if !FixedPoint.Converged() || RoundLimit.Converged() {
		t.Error("Converged")
	}
}
