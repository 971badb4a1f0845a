package reasoning

import "fmt"

// Status is why a loop stopped.
type Status int

const (
	NotTerminated Status = iota // still running; criteria return it to let the loop go on
	FixedPoint                  // the answer stayed the same (Unchanged)
	Close                       // successive answers were within a distance (WithinDistance)
	Cycle                       // answers cycled (Oscillation); the damping policy chose one
	VoteSettled                 // self-consistency: no remaining sample could change the vote
	RoundLimit                  // Settings.MaxRounds rounds (or samples) ran
	TokenLimit                  // Settings.TokenBudget was used up
	TimeLimit                   // Settings.TimeLimit passed
	Canceled                    // the context was done
	Failed                      // a round failed; see the error
)

var statusNames = [...]string{
	NotTerminated: "not terminated",
	FixedPoint:    "fixed point",
	Close:         "close",
	Cycle:         "cycle",
	VoteSettled:   "vote settled",
	RoundLimit:    "round limit",
	TokenLimit:    "token limit",
	TimeLimit:     "time limit",
	Canceled:      "canceled",
	Failed:        "failed",
}

func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Converged reports whether s is a stop by a convergence criterion rather
// than by a limit or a failure.
func (s Status) Converged() bool {
	return s == FixedPoint || s == Close || s == Cycle || s == VoteSettled
}

// MarshalText writes s by name, as in a JSON trace.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a Status written by MarshalText.
func (s *Status) UnmarshalText(b []byte) error {
	for i, name := range statusNames {
		if name == string(b) {
			*s = Status(i)
			return nil
		}
	}
	return fmt.Errorf("reasoning: unknown status %q", b)
}
