package reasoning

import (
	"context"
	"errors"
	"math"
	"regexp"
	"testing"
	"time"
)

func TestJSONAnswer(t *testing.T) {
	for _, tc := range []struct{ reply, answer, reasoning string }{
		{`{"reasoning": "2+2", "answer": "4"}`, "4", "2+2"},
		{`{"reasoning": "r", "answer": 4.5}`, "4.5", "r"},
		{"```json\n{\"reasoning\": \"r\", \"answer\": \" x \"}\n```", "x", "r"},
	} {
		a, r, err := JSONAnswer{}.Extract(tc.reply)
		if err != nil || a != tc.answer || r != tc.reasoning {
			t.Errorf("%q: got %q, %q, %v", tc.reply, a, r, err)
		}
	}
	for _, bad := range []string{`{"reasoning": "r"}`, `{"answer": ""}`, `{"answer": [1]}`, `{"answer": "4"`, "four"} {
		if _, _, err := (JSONAnswer{}).Extract(bad); !errors.Is(err, ErrNoAnswer) {
			t.Errorf("%q: got %v, want ErrNoAnswer", bad, err)
		}
	}
}

func TestLastNumber(t *testing.T) {
	for reply, want := range map[string]string{
		"She makes 9 * 2 = $18 every day.": "18",
		"Total: $1,234.50.":                "1234.50",
		"It drops to -3 degrees":           "-3",
		"42":                               "42",
		"first 1, then 2\nAnswer: 3.":      "3",
	} {
		if got, _, err := (LastNumber{}).Extract(reply); err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", reply, got, err, want)
		}
	}
	if _, _, err := (LastNumber{}).Extract("no digits here"); !errors.Is(err, ErrNoAnswer) {
		t.Errorf("got %v, want ErrNoAnswer", err)
	}
}

func TestPattern(t *testing.T) {
	p := Pattern{Regexp: regexp.MustCompile(`Answer:\s*(\w+)`)}
	if got, _, err := p.Extract("Answer: no\nAnswer: yes"); err != nil || got != "yes" {
		t.Errorf("got %q, %v", got, err)
	}
	whole := Pattern{Regexp: regexp.MustCompile(`[A-D]\)`)}
	if got, _, err := whole.Extract("I pick B)"); err != nil || got != "B)" {
		t.Errorf("got %q, %v", got, err)
	}
	for _, p := range []Pattern{{}, p} {
		if _, _, err := p.Extract("nothing"); !errors.Is(err, ErrNoAnswer) {
			t.Errorf("%v: got %v, want ErrNoAnswer", p.Regexp, err)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"1,000":                            "1000",
		"$1000.00":                         "1000",
		" 18. ":                            "18",
		"-0":                               "0",
		"0.50":                             "0.5",
		".5":                               "0.5",
		"3.14159":                          "3.14159",
		"  The   Cat. ":                    "the cat",
		"Paris":                            "paris",
		"NaN":                              "nan",
		"Inf":                              "inf",
		"1/2":                              "1/2",
		"18 dollars":                       "18",
		"$18":                              "18",
		"7 red apples.":                    "7",
		"25%":                              "25",
		"1,200 km":                         "1200",
		"3 apples and 2 oranges":           "3 apples and 2 oranges",
		"4 of the 5 cats":                  "4 of the 5 cats",
		"5 km/h":                           "5 km/h",
		"1969 was the year of the landing": "1969 was the year of the landing",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		a, b string
		want float64
	}{{"", "", 0}, {"abc", "abc", 0}, {"abc", "abd", 1.0 / 3}, {"ab", "cdef", 1}, {"héllo", "hello", 0.2}} {
		if got, err := (EditDistance{}).Distance(ctx, tc.a, tc.b); err != nil || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("(%q, %q) = %v, %v; want %v", tc.a, tc.b, got, err, tc.want)
		}
	}
}

type embedderFunc func(ctx context.Context, texts []string) ([][]float64, error)

func (f embedderFunc) Embed(ctx context.Context, texts []string) ([][]float64, error) {
	return f(ctx, texts)
}

func TestEmbeddingDistance(t *testing.T) {
	vec := map[string][]float64{"cat": {1, 0}, "kitten": {1, 1}, "dog": {0, 1}, "void": {0, 0}}
	e := EmbeddingDistance{Embedder: embedderFunc(func(_ context.Context, texts []string) ([][]float64, error) {
		var out [][]float64
		for _, t := range texts {
			out = append(out, vec[t])
		}
		return out, nil
	})}
	ctx := context.Background()
	if d, err := e.Distance(ctx, "cat", "kitten"); err != nil || math.Abs(d-(1-1/math.Sqrt2)) > 1e-12 {
		t.Errorf("cat/kitten: %v, %v", d, err)
	}
	if d, err := e.Distance(ctx, "cat", "dog"); err != nil || d != 1 {
		t.Errorf("cat/dog: %v, %v", d, err)
	}
	if _, err := e.Distance(ctx, "cat", "void"); err == nil {
		t.Error("zero embedding: no error")
	}
	boom := errors.New("boom")
	bad := EmbeddingDistance{Embedder: embedderFunc(func(context.Context, []string) ([][]float64, error) { return nil, boom })}
	if _, err := bad.Distance(ctx, "a", "b"); !errors.Is(err, boom) {
		t.Errorf("got %v", err)
	}
	short := EmbeddingDistance{Embedder: embedderFunc(func(context.Context, []string) ([][]float64, error) { return [][]float64{{1}}, nil })}
	if _, err := short.Distance(ctx, "a", "b"); err == nil {
		t.Error("one embedding for two texts: no error")
	}
	if _, err := (EmbeddingDistance{}).Distance(ctx, "a", "b"); err == nil {
		t.Error("no embedder: no error")
	}

	// Through the loop: the cosine distance stops it.
	s := &Settings{Distance: e, Stop: []Criterion{WithinDistance{Tol: 0.5}}}
	res, err := Refine(ctx, answers("dog", "cat", "kitten"), "q", s)
	if err != nil || res.Status != Close || res.Answer != "kitten" {
		t.Fatalf("got %v, %s %q", err, res.Status, res.Answer)
	}
}

func rounds(keys ...string) []Round {
	var rs []Round
	for i, k := range keys {
		rs = append(rs, Round{N: i + 1, Key: k, Answer: k})
	}
	return rs
}

func TestCyclePeriod(t *testing.T) {
	for _, tc := range []struct {
		keys      []string
		maxPeriod int
		want      int
	}{
		{[]string{"a", "b", "a"}, 0, 2},
		{[]string{"a", "b", "c", "a"}, 0, 3},
		{[]string{"a", "b", "c", "a"}, 2, 0},
		{[]string{"a", "b", "c", "d", "e", "a"}, 0, 5},
		{[]string{"a", "a", "a"}, 0, 0}, // a fixed point is not a cycle
		{[]string{"a", "b"}, 0, 0},
		{[]string{"a", "b", "c"}, 0, 0},
		{[]string{"x", "a", "b", "a", "b"}, 0, 2},
	} {
		if got := CyclePeriod(rounds(tc.keys...), tc.maxPeriod); got != tc.want {
			t.Errorf("%v (max %d): period %d, want %d", tc.keys, tc.maxPeriod, got, tc.want)
		}
	}
}

func TestCriteria(t *testing.T) {
	if (Unchanged{}).Check(rounds("a")) != NotTerminated || (Unchanged{}).Check(rounds("b", "a", "a")) != FixedPoint {
		t.Error("Unchanged{}")
	}
	if (Unchanged{K: 3}).Check(rounds("a", "a", "a")) != NotTerminated || (Unchanged{K: 3}).Check(rounds("a", "a", "a", "a")) != FixedPoint {
		t.Error("Unchanged{K: 3}")
	}
	rs := rounds("a", "b")
	rs[1].Distance = 0.3
	if (WithinDistance{Tol: 0.2}).Check(rs) != NotTerminated || (WithinDistance{Tol: 0.3}).Check(rs) != Close {
		t.Error("WithinDistance")
	}
	if (WithinDistance{Tol: 1}).Check(rounds("a")) != NotTerminated {
		t.Error("WithinDistance on one round")
	}
}

func TestDamping(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		d    Damping
		keys []string
		want int
	}{
		{MostFrequent{}, []string{"a", "a", "a", "b", "c", "b"}, 2},
		{MostFrequent{}, []string{"a", "b", "a", "b"}, 3}, // tie: the later
		{MostFrequent{}, []string{"b", "a", "b", "a", "c"}, 3},
		{Last{}, []string{"a", "a", "a", "b", "c", "b"}, 5},
		{KeepBest{Score: func(_ context.Context, _ string, r Round) (float64, error) { return float64(len(r.Answer)), nil }},
			[]string{"aaa", "b", "cc", "ddd"}, 3},
	} {
		if got, err := tc.d.Choose(ctx, "q", rounds(tc.keys...)); err != nil || got != tc.want {
			t.Errorf("%T %v: got %d, %v; want %d", tc.d, tc.keys, got, err, tc.want)
		}
	}
	for _, d := range []Damping{MostFrequent{}, Last{}, KeepBest{Score: func(context.Context, string, Round) (float64, error) { return 0, nil }}} {
		if _, err := d.Choose(ctx, "q", nil); err == nil {
			t.Errorf("%T: no error on no rounds", d)
		}
	}
	if _, err := (KeepBest{}).Choose(ctx, "q", rounds("a")); err == nil {
		t.Error("KeepBest without Score: no error")
	}
	nan := KeepBest{Score: func(context.Context, string, Round) (float64, error) { return math.NaN(), nil }}
	if _, err := nan.Choose(ctx, "q", rounds("a")); err == nil {
		t.Error("NaN score: no error")
	}
}

func TestServerError(t *testing.T) {
	for code, want := range map[int]bool{400: false, 404: false, 408: true, 429: true, 500: true, 503: true} {
		e := &ServerError{StatusCode: code, Message: "m"}
		if e.Temporary() != want || retryable(e) != want {
			t.Errorf("%d: temporary %v", code, e.Temporary())
		}
	}
	if (&ServerError{StatusCode: 502}).Error() != "server error: 502 Bad Gateway" {
		t.Error((&ServerError{StatusCode: 502}).Error())
	}
}

func TestRefineDistanceError(t *testing.T) {
	boom := errors.New("embedding server down")
	s := &Settings{Distance: EmbeddingDistance{Embedder: embedderFunc(func(context.Context, []string) ([][]float64, error) { return nil, boom })}}
	res, err := Refine(context.Background(), answers("1", "2"), "q", s)
	var re *RoundError
	if !errors.Is(err, boom) || !errors.As(err, &re) || re.Round != 2 || res.Status != Failed || len(res.Rounds) != 2 {
		t.Fatalf("got %v, %s with %d rounds", err, res.Status, len(res.Rounds))
	}
}

func TestRefineDistanceTimeout(t *testing.T) {
	// An embedding server that never answers: the request timeout ends the
	// wait.
	hang := embedderFunc(func(ctx context.Context, _ []string) ([][]float64, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	s := &Settings{Distance: EmbeddingDistance{Embedder: hang}, RequestTimeout: 20 * time.Millisecond}
	// Without the timeout, the test's own deadline would end it as canceled.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := Refine(ctx, answers("1", "2"), "q", s)
	if !errors.Is(err, ErrRequestTimeout) || res.Status != Failed || len(res.Rounds) != 2 {
		t.Fatalf("got %v, %s with %d rounds", err, res.Status, len(res.Rounds))
	}
}
