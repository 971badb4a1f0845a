package api

import (
	"fmt"
	"strings"
)

// Method is a fixed-point solver and its parameters: one of *Picard,
// *Anderson, *Broyden, *ForwardBackward or *PeacemanRachford. The zero value
// of each is usable and picks its defaults. The set is closed: the
// algorithms live in core/fixedpoint, and the WebAssembly ABI carries each
// method's parameters.
type Method interface {
	// String is the method's name, as MethodByName takes it.
	String() string
	method()
}

// Picard is damped fixed-point iteration, z ← (1 − β) z + β f(z). It
// converges for contractions; damping (β < 1) widens that to maps whose
// Jacobian has eigenvalues with real part below 1, at a slower rate.
type Picard struct {
	// Damping is β in (0, 1]; 0 means 1 (plain iteration).
	Damping float64
}

// Anderson is Anderson acceleration (type II, Walker & Ni 2011): each step
// mixes the last Memory map values with the weights that minimise the norm
// of the mixed residual, z ← Σ αⱼ (β f(zⱼ) + (1 − β) zⱼ) with Σ αⱼ = 1.
//
// The least-squares system is solved through its Gram matrix, regularised by
// Reg times its largest diagonal entry. When that system is too
// ill-conditioned to trust (near-collinear residuals, common close to the
// fixed point), the history is cleared and the step falls back to a damped
// Picard step.
type Anderson struct {
	// Memory is the number of past iterates mixed; 0 means 5.
	Memory int
	// Reg is the Tikhonov regularisation λ, relative to the Gram matrix's
	// largest diagonal entry; 0 means 1e-10, negative means none.
	Reg float64
	// Mixing is β in (0, 1]; 0 means 1.
	Mixing float64
}

// Broyden is limited-memory Broyden's method ("good" Broyden) for the root
// of g(z) = f(z) − z, as used in deep equilibrium models (Bai et al. 2019).
// The inverse Jacobian of g is approximated by −I + Σ uⱼ vⱼᵀ, one rank-one
// term per iteration; the history restarts when it is full or an update
// would divide by (nearly) zero.
type Broyden struct {
	// Memory is the number of rank-one updates kept; 0 means 20.
	Memory int
}

// ForwardBackward is the forward-backward splitting of monotone operator
// equilibrium networks (Winston & Kolter 2020):
// z ← σ((1 − α) z + α (W z + u)). It needs a problem with a Splitting and
// converges for 0 < α ≤ 2m/L², where I − W ⪰ mI and ‖I − W‖₂ ≤ L.
type ForwardBackward struct {
	// Alpha is the step size α; 0 means m/L², half the largest safe step.
	Alpha float64
}

// PeacemanRachford is the Peaceman-Rachford splitting of monotone operator
// equilibrium networks (Winston & Kolter 2020). Each iteration applies the
// resolvent (I + α(I − W))⁻¹, so it costs two matrix products instead of
// one, but it converges for every step size α > 0, at a rate that degrades
// gracefully as the layer's monotonicity margin m shrinks.
type PeacemanRachford struct {
	// Alpha is the step size α; 0 means 1/L, which minimises the bound on
	// the contraction factor, √(1 − m/L).
	Alpha float64
}

func (*Picard) String() string           { return "picard" }
func (*Anderson) String() string         { return "anderson" }
func (*Broyden) String() string          { return "broyden" }
func (*ForwardBackward) String() string  { return "forward-backward" }
func (*PeacemanRachford) String() string { return "peaceman-rachford" }

func (*Picard) method()           {}
func (*Anderson) method()         {}
func (*Broyden) method()          {}
func (*ForwardBackward) method()  {}
func (*PeacemanRachford) method() {}

// MethodInfo describes one solver of the method table.
type MethodInfo struct {
	Name    string   // as MethodByName takes it and String returns it
	Aliases []string // other names MethodByName takes
	// Splitting: the method needs a monotone layer (a problem with a
	// Splitting).
	Splitting bool
	// Use says when to choose it, for help texts.
	Use string
	// New returns the method with its default parameters.
	New func() Method
}

// methods is the one table of solvers: their names, help and order. The
// WebAssembly ABI numbers them by their place in it, from 1.
var methods = [...]MethodInfo{
	{Name: (*Picard)(nil).String(), Use: "contractions; damping β widens its reach", New: func() Method { return &Picard{} }},
	{Name: (*Anderson)(nil).String(), Use: "the default for direct models: far fewer iterations on most layers", New: func() Method { return &Anderson{} }},
	{Name: (*Broyden)(nil).String(), Use: `limited-memory "good" Broyden on g(z) = f(z) − z`, New: func() Method { return &Broyden{} }},
	{Name: (*ForwardBackward)(nil).String(), Aliases: []string{"fb"}, Splitting: true, Use: "monotone layers; guaranteed for α ≤ 2m/L², slow when m/L is small", New: func() Method { return &ForwardBackward{} }},
	{Name: (*PeacemanRachford)(nil).String(), Aliases: []string{"pr"}, Splitting: true, Use: "monotone layers; guaranteed for every α > 0; the default for monotone models", New: func() Method { return &PeacemanRachford{} }},
}

// Methods returns the method table, in its fixed order.
func Methods() []MethodInfo { return methods[:] }

// MethodNames returns the methods' names, in the table's order.
func MethodNames() []string {
	names := make([]string, len(methods))
	for i, m := range methods {
		names[i] = m.Name
	}
	return names
}

// MethodList is the methods' names as a sentence lists them, "picard,
// anderson, … or peaceman-rachford", for help and error texts.
func MethodList() string {
	names := MethodNames()
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// MethodByName returns the method with default settings for a name in the
// method table (or one of its aliases). An unknown name is an error wrapping
// ErrProblem.
func MethodByName(name string) (Method, error) {
	for _, m := range methods {
		if name == m.Name {
			return m.New(), nil
		}
		for _, a := range m.Aliases {
			if name == a {
				return m.New(), nil
			}
		}
	}
	return nil, fmt.Errorf("%w: unknown solver %q (want %s)", ErrProblem, name, MethodList())
}
