package reasoning

// A Criterion decides, after each round, whether a loop has converged. It
// sees the rounds so far, oldest first, each with its normalised answer
// (Round.Key) and its distance to the round before; it returns
// NotTerminated to let the loop go on.
type Criterion interface {
	Check(rounds []Round) Status
}

// Unchanged stops at a fixed point: when the normalised answer has stayed the
// same for K consecutive rounds after the one that first gave it (K+1 equal
// answers in a row). K below 1 means 1.
type Unchanged struct {
	K int
}

func (c Unchanged) Check(rounds []Round) Status {
	k := max(c.K, 1)
	if len(rounds) < k+1 {
		return NotTerminated
	}
	last := rounds[len(rounds)-1].Key
	for _, r := range rounds[len(rounds)-k-1:] {
		if r.Key != last {
			return NotTerminated
		}
	}
	return FixedPoint
}

// WithinDistance stops when the last answer is within Tol of the one
// before, by Settings.Distance.
type WithinDistance struct {
	Tol float64
}

func (c WithinDistance) Check(rounds []Round) Status {
	if len(rounds) < 2 {
		return NotTerminated
	}
	if d := rounds[len(rounds)-1].Distance; d >= 0 && d <= c.Tol {
		return Close
	}
	return NotTerminated
}

// Oscillation stops on a cycle: the last answer differs from the one before
// but equals an earlier one, a(t) = a(t-p) ≠ a(t-1) for a period p of 2 or
// more (a 2-cycle is a(t) = a(t-2) ≠ a(t-1)). MaxPeriod, if positive, bounds
// the periods looked for. Settings.Damping then chooses the answer.
type Oscillation struct {
	MaxPeriod int
}

func (c Oscillation) Check(rounds []Round) Status {
	if CyclePeriod(rounds, c.MaxPeriod) > 0 {
		return Cycle
	}
	return NotTerminated
}

// CyclePeriod returns the shortest period p ≥ 2, at most maxPeriod if that
// is positive, for which the last answer equals the one p rounds before but
// not the one just before it; it returns 0 if there is none.
func CyclePeriod(rounds []Round, maxPeriod int) int {
	t := len(rounds) - 1
	if t < 2 || rounds[t].Key == rounds[t-1].Key {
		return 0
	}
	for p := 2; p <= t; p++ {
		if maxPeriod > 0 && p > maxPeriod {
			break
		}
		if rounds[t-p].Key == rounds[t].Key {
			return p
		}
	}
	return 0
}
