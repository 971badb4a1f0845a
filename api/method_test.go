package api

import (
	"errors"
	"strings"
	"testing"
)

func TestMethodTable(t *testing.T) {
	for _, m := range Methods() {
		for _, name := range append([]string{m.Name}, m.Aliases...) {
			got, err := MethodByName(name)
			if err != nil || got.String() != m.Name {
				t.Errorf("MethodByName(%q) = %v, %v; want %s", name, got, err, m.Name)
			}
		}
		if m.New().String() != m.Name {
			t.Errorf("%s: New gives %s", m.Name, m.New())
		}
	}
	_, err := MethodByName("newton")
	if !errors.Is(err, ErrProblem) || !strings.Contains(err.Error(), MethodList()) {
		t.Errorf("unknown method: %v", err)
	}
	if got := MethodList(); got != "picard, anderson, broyden, forward-backward or peaceman-rachford" {
		t.Errorf("MethodList() = %q", got)
	}
}

func TestWithDefaults(t *testing.T) {
	s := Settings{}.WithDefaults()
	if s.Method.String() != "anderson" || s.MaxIter != DefaultMaxIter || s.RelTol != DefaultRelTol || s.AbsTol != DefaultAbsTol || s.DivergenceRatio != DefaultDivergenceRatio {
		t.Errorf("defaults %+v", s)
	}
	if s := (Settings{RelTol: -1, MaxIter: 3}).WithDefaults(); s.RelTol != -1 || s.AbsTol != 0 || s.MaxIter != 3 {
		t.Errorf("set fields changed: %+v", s)
	}
}
