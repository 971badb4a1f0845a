package model

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"gonum.org/v1/gonum/mat"

	"github.com/implicitlab/implicit/api"
)

// The gnn-lp kind: the bipartite graph implicit model of linear programs
// of Liu, Ding, Osher, Yin, "Implicit Models: Expressive Power Scales with
// Test-Time Compute" (arXiv:2510.03638, the operations-research case), and
// gnn-lp-explicit, its explicit baseline. An LP
//
//	min cᵀy  s.t.  A y ∘ b,  l ≤ y ≤ u   (∘_i is = or ≤)
//
// with m constraints and n variables is a bipartite graph: constraint i
// and variable j are joined where A_ij ≠ 0, the edge carrying A_ij;
// constraint i has the features (b_i, ∘_i) (∘_i = 1 for =, 0 for ≤), and
// variable j the features (c_j, l_j, u_j) (any Fc and Fv features are read:
// their number comes from the embeddings' shapes). With embedding width d,
//
//	S_c = relu(E_c f_c + e_c)  (m×d),  S_v = relu(E_v f_v + e_v)  (n×d)
//	G(y, x):  V₀ = [S_v, y] (n×(d+1)),  C₀ = S_c,
//	          C₁ = relu(conv₁(C₀ ← V₀)),  V₁ = relu(conv₂(V₀ ← C₁)),
//	          C₂ = relu(conv₃(C₁ ← V₁)),  V₂ = relu(conv₄(V₁ ← C₂)),
//	          G = to_y(V₂)  (one value per variable)
//	y* = G(y*, x),  y⁰ = 0,   ŷ = out₂ relu(out₁ [S_v, y*])
//
// A bipartite convolution conv(T ← S) from the source nodes S to the
// target nodes T, each side with its two-layer MLP (Linear, ReLU, Linear),
// sums the source messages scaled by the edges, then updates the targets
// with a two-layer MLP of the sum and the targets' own MLP:
//
//	T' = out(cat[Σ_{s ~ t} A_ts · F_S(S)_s,  F_T(T)_t])
//
// (feature_module_left is the constraints' MLP, feature_module_right the
// variables' (its first layer has no bias), output_module the update). The
// explicit baseline runs the same four layers once on V₀ = S_v, without y,
// and reads out ŷ = out₂ relu(out₁ V₂).
//
// The file's metadata keys are implicit.constraints (m) and
// implicit.variables (n); its tensors are the state_dict of
// scripts/torch/deq_common.py's GNNLP (the names of the paper's code,
// whose trained state_dicts therefore load), with L = d, R = d + 1 for
// gnn-lp and R = d for gnn-lp-explicit:
//
//	cons_embedding.0.weight [d, Fc], .bias [d]; var_embedding.0.weight [d, Fv], .bias [d]
//	P.conv_v_to_c.*, P.conv_c_to_v.*, P.conv_v_to_c2.*, P.conv_c_to_v2.*, each
//	    feature_module_left.0.weight [L, L], .0.bias [L], .2.weight [L, L], .2.bias [L]
//	    feature_module_right.0.weight [R, R], .2.weight [R, R], .2.bias [R]
//	    output_module.0.weight [o, R+L] (v→c, o = L) or [o, L+R] (c→v, o = R), .0.bias [o], .2.weight [o, o], .2.bias [o]
//	deq_func.to_y.weight [1, R], deq_func.to_y.bias [1]   (gnn-lp only)
//	output_module.0.weight [d, R], .0.bias [d], output_module.2.weight [1, d]
//
// with the prefix P = "deq_func." for gnn-lp and none for the explicit
// kind. The parameter count is 12L² + 12R² + 4LR + 12L + 8R + (R + 1) +
// (Fc + Fv + 2)d + d² + 3d for gnn-lp, 29d² + (24 + Fc + Fv)d for the
// explicit kind: with Fc = 2, Fv = 3, 722, 2,350, 8,390, 31,606 and 580,
// 2,088, 7,888, 30,624 at d = 4, 8, 16, 32, the paper's Table 1.
//
// An input row is one LP instance, flattened as
//
//	[f_c (m×Fc, row by row: b_1, ∘_1, b_2, …),  f_v (n×Fv: c_1, l_1, u_1, …),  A (m×n, row by row)]
//
// A is given dense and the graph is its nonzero pattern, extracted once a
// solve; the aggregations run over those edges alone. Every value of a row
// is a real feature, so any row is a valid LP graph (there are no integer
// indices to validate), the model is a continuous function of the row (an
// edge of weight ε sends ε times its message), and a perturbation of the
// row is a perturbation of the LP. An instance with fewer constraints or
// variables is padded with zero rows and columns of A: a node without
// edges neither sends nor receives, so its padding changes nothing else.
//
// gnn-lp's state z is [S_v (n×d), y (n)] per sample: the map copies S_v
// from the injection and computes y, so that the readout, which reads
// S_v, sees it. A solve from z⁰ = 0 therefore computes y¹ = G(0, x) and
// after t iterations reads out the paper's t-iteration model. Its default
// solver is plain iteration (Picard), as the paper runs it. The explicit
// kind's state is V₂ (n×d). Every output row is ŷ, n values.
const (
	kindGNN         = "gnn-lp"
	kindGNNExplicit = "gnn-lp-explicit"
	metaConstraints = "implicit.constraints"
	metaVariables   = "implicit.variables"

	// maxGNNSize bounds m, n, d and the feature counts, and maxGNNGraph
	// the values of A an input row holds (m·n).
	maxGNNSize  = 1 << 16
	maxGNNGraph = 1 << 22
)

var (
	gnnKind         = Kind{Name: kindGNN, Keys: []string{metaConstraints, metaVariables}, Decode: decodeGNN(false)}
	gnnExplicitKind = Kind{Name: kindGNNExplicit, Keys: []string{metaConstraints, metaVariables}, Explicit: true, Decode: decodeGNN(true)}
)

// Linear is an nn.Linear's parameters: W (out×in) and the bias, nil for a
// layer without one.
type Linear struct {
	W Matrix
	B []float64
}

// MLP2 is a two-layer perceptron, nn.Sequential(Linear, ReLU, Linear).
type MLP2 struct{ L1, L2 Linear }

// BipartiteConv is one bipartite graph convolution: the constraints' MLP
// (feature_module_left), the variables' (feature_module_right, whose first
// layer has no bias) and the update (output_module).
type BipartiteConv struct{ Left, Right, Out MLP2 }

// GNN holds the parameters of a gnn-lp model (Explicit false) or of a
// gnn-lp-explicit one. A GNN must not change while a Model built from it
// is in use.
type GNN struct {
	Explicit               bool
	Constraints, Variables int // m, n: the LP size an input row holds
	ConsEmb, VarEmb        Linear
	// Convs are conv_v_to_c, conv_c_to_v, conv_v_to_c2 and conv_c_to_v2.
	Convs [4]BipartiteConv
	// ToY is deq_func.to_y (gnn-lp only; zero for the explicit kind).
	ToY Linear
	// Output is output_module; its second layer has no bias.
	Output   MLP2
	Defaults api.Defaults
}

// gnnConvNames are the four convolutions' module names, in order; the
// even ones send from the variables to the constraints.
var gnnConvNames = [4]string{"conv_v_to_c", "conv_c_to_v", "conv_v_to_c2", "conv_c_to_v2"}

// Kind is "gnn-lp" or "gnn-lp-explicit".
func (g *GNN) Kind() string {
	if g.Explicit {
		return kindGNNExplicit
	}
	return kindGNN
}

// Width is the embedding width d.
func (g *GNN) Width() int { return g.ConsEmb.W.Rows }

// varDim is R, the width of the variables' features in the layers.
func (g *GNN) varDim() int {
	if g.Explicit {
		return g.Width()
	}
	return g.Width() + 1
}

// Sizes: an input row is the flattened LP, the state [S_v, y] (or V₂ for
// the explicit kind), the output ŷ (n values).
func (g *GNN) Sizes() api.Sizes {
	m, n, d := g.Constraints, g.Variables, g.Width()
	state := n * d
	if !g.Explicit {
		state += n
	}
	return api.Sizes{In: m*g.ConsEmb.W.Cols + n*g.VarEmb.W.Cols + m*n, State: state, Out: n}
}

// Describe names the model: "implicit bipartite GNN, d=8, LPs of 10 constraints × 50 variables".
func (g *GNN) Describe() string {
	what := "implicit bipartite GNN"
	if g.Explicit {
		what = "explicit bipartite GNN (4 layers)"
	}
	return fmt.Sprintf("%s, d=%d, LPs of %d constraints × %d variables", what, g.Width(), g.Constraints, g.Variables)
}

// SolverDefaults points at the file's solver settings.
func (g *GNN) SolverDefaults() *api.Defaults { return &g.Defaults }

// DefaultMethod is plain iteration for gnn-lp, as the paper iterates it;
// nil for the explicit kind, which no method iterates.
func (g *GNN) DefaultMethod() api.Method {
	if g.Explicit {
		return nil
	}
	return &api.Picard{}
}

// Metadata holds m and n.
func (g *GNN) Metadata() map[string]string {
	return map[string]string{metaConstraints: strconv.Itoa(g.Constraints), metaVariables: strconv.Itoa(g.Variables)}
}

func (g *GNN) prefix() string {
	if g.Explicit {
		return ""
	}
	return "deq_func."
}

// linearTensors appends the tensors of an nn.Linear named name.
func linearTensors(ts []Tensor, name string, l Linear) []Tensor {
	ts = append(ts, matrixTensor(name+".weight", l.W))
	if l.B != nil {
		ts = append(ts, vectorTensor(name+".bias", l.B))
	}
	return ts
}

func mlp2Tensors(ts []Tensor, name string, m MLP2) []Tensor {
	return linearTensors(linearTensors(ts, name+".0", m.L1), name+".2", m.L2)
}

// Tensors are the state_dict's, in the module's order.
func (g *GNN) Tensors() []Tensor {
	ts := linearTensors(nil, "cons_embedding.0", g.ConsEmb)
	ts = linearTensors(ts, "var_embedding.0", g.VarEmb)
	for k, c := range g.Convs {
		name := g.prefix() + gnnConvNames[k]
		ts = mlp2Tensors(ts, name+".feature_module_left", c.Left)
		ts = mlp2Tensors(ts, name+".feature_module_right", c.Right)
		ts = mlp2Tensors(ts, name+".output_module", c.Out)
	}
	if !g.Explicit {
		ts = linearTensors(ts, "deq_func.to_y", g.ToY)
	}
	return mlp2Tensors(ts, "output_module", g.Output)
}

// gnnShapes are the shapes of every tensor of a model with embedding width
// d and fc, fv features, in the order of Tensors.
func gnnShapes(explicit bool, d, fc, fv int) (names []string, shapes [][]int) {
	l, r := d, d
	if !explicit {
		r = d + 1
	}
	add := func(name string, shape ...int) {
		names, shapes = append(names, name), append(shapes, shape)
	}
	lin := func(name string, out, in int, bias bool) {
		add(name+".weight", out, in)
		if bias {
			add(name+".bias", out)
		}
	}
	mlp2 := func(name string, out, in int, bias1, bias2 bool) {
		lin(name+".0", out, in, bias1)
		lin(name+".2", out, out, bias2)
	}
	lin("cons_embedding.0", d, fc, true)
	lin("var_embedding.0", d, fv, true)
	prefix := "deq_func."
	if explicit {
		prefix = ""
	}
	for k, conv := range gnnConvNames {
		name := prefix + conv
		mlp2(name+".feature_module_left", l, l, true, true)
		mlp2(name+".feature_module_right", r, r, false, true)
		if k%2 == 0 { // to the constraints
			mlp2(name+".output_module", l, r+l, true, true)
		} else {
			mlp2(name+".output_module", r, l+r, true, true)
		}
	}
	if !explicit {
		lin("deq_func.to_y", 1, r, true)
	}
	mlp2out := r
	lin("output_module.0", d, mlp2out, true)
	lin("output_module.2", 1, d, false)
	return names, shapes
}

// GNNParams is the parameter count of a gnn-lp (or, explicit, a
// gnn-lp-explicit) model of width d on fc constraint and fv variable
// features.
func GNNParams(explicit bool, d, fc, fv int) int {
	_, shapes := gnnShapes(explicit, d, fc, fv)
	n := 0
	for _, s := range shapes {
		p := 1
		for _, v := range s {
			p *= v
		}
		n += p
	}
	return n
}

// Zero returns a GNN of the same kind and shapes with every tensor zero.
func (g *GNN) Zero() Architecture {
	zl := func(l Linear) Linear {
		z := Linear{W: NewMatrix(l.W.Rows, l.W.Cols)}
		if l.B != nil {
			z.B = make([]float64, len(l.B))
		}
		return z
	}
	zm := func(m MLP2) MLP2 { return MLP2{zl(m.L1), zl(m.L2)} }
	z := &GNN{Explicit: g.Explicit, Constraints: g.Constraints, Variables: g.Variables,
		ConsEmb: zl(g.ConsEmb), VarEmb: zl(g.VarEmb), Output: zm(g.Output)}
	for k, c := range g.Convs {
		z.Convs[k] = BipartiteConv{zm(c.Left), zm(c.Right), zm(c.Out)}
	}
	if !g.Explicit {
		z.ToY = zl(g.ToY)
	}
	return z
}

// Validate checks the sizes, every tensor's shape against them and that
// every value is finite.
func (g *GNN) Validate() error {
	m, n, d := g.Constraints, g.Variables, g.Width()
	fc, fv := g.ConsEmb.W.Cols, g.VarEmb.W.Cols
	for _, s := range []struct {
		name string
		v    int
	}{{metaConstraints, m}, {metaVariables, n}, {"the width d (cons_embedding.0.weight's rows)", d}, {"the constraint features (cons_embedding.0.weight's columns)", fc}, {"the variable features (var_embedding.0.weight's columns)", fv}} {
		if s.v < 1 || s.v > maxGNNSize {
			return modelErrorf("%s %d (want 1 to %d)", s.name, s.v, maxGNNSize)
		}
	}
	if m*n > maxGNNGraph {
		return modelErrorf("%s × %s = %d × %d values of A a row (want at most %d)", metaConstraints, metaVariables, m, n, maxGNNGraph)
	}
	if g.Explicit && (g.ToY.W.Data != nil || g.ToY.B != nil) {
		return modelErrorf("deq_func.to_y is set on a %s model, which has none", kindGNNExplicit)
	}
	names, shapes := gnnShapes(g.Explicit, d, fc, fv)
	ts := g.Tensors()
	if len(ts) != len(names) {
		return modelErrorf("a %s model of width %d has %d tensors, this one %d (a bias set or missing)", g.Kind(), d, len(names), len(ts))
	}
	for k, t := range ts {
		if t.Name != names[k] {
			return modelErrorf("tensor %q where %q belongs (a bias set or missing)", t.Name, names[k])
		}
		if len(t.Shape) != len(shapes[k]) || (len(t.Shape) == 2 && (t.Shape[0] != shapes[k][0] || t.Shape[1] != shapes[k][1])) || (len(t.Shape) == 1 && t.Shape[0] != shapes[k][0]) {
			return modelErrorf("tensor %q has shape %v, want %v (from d = %d, Fc = %d, Fv = %d)", t.Name, t.Shape, shapes[k], d, fc, fv)
		}
		size := 1
		for _, v := range shapes[k] {
			size *= v
		}
		if err := checkValues(t.Name, t.Data, size); err != nil {
			return err
		}
		if err := checkMagnitude(t.Name, t.Data); err != nil {
			return err
		}
	}
	return validateDefaults(g.Defaults)
}

func decodeGNN(explicit bool) func(ts tensors, meta map[string]string) (Architecture, error) {
	return func(ts tensors, meta map[string]string) (Architecture, error) {
		g := &GNN{Explicit: explicit}
		what := "a " + g.Kind() + " model"
		for _, k := range []struct {
			key string
			v   *int
		}{{metaConstraints, &g.Constraints}, {metaVariables, &g.Variables}} {
			s, ok := meta[k.key]
			if !ok {
				return nil, modelErrorf("metadata %s is missing (%s has it)", k.key, what)
			}
			v, err := strconv.Atoi(s)
			if err != nil || v < 1 || v > maxGNNSize {
				return nil, modelErrorf("metadata %s=%q (want a whole number from 1 to %d)", k.key, s, maxGNNSize)
			}
			*k.v = v
		}
		// The width and the feature counts come from the embeddings.
		for _, name := range []string{"cons_embedding.0.weight", "var_embedding.0.weight"} {
			t, ok := ts[name]
			if !ok {
				return nil, modelErrorf("tensor %q is missing (%s has it)", name, what)
			}
			if len(t.Shape) != 2 || t.Shape[0] < 1 || t.Shape[1] < 1 || t.Shape[0] > maxGNNSize || t.Shape[1] > maxGNNSize {
				return nil, modelErrorf("tensor %q has shape %v, want [d, features]", name, t.Shape)
			}
		}
		d, fc, fv := ts["cons_embedding.0.weight"].Shape[0], ts["cons_embedding.0.weight"].Shape[1], ts["var_embedding.0.weight"].Shape[1]
		names, shapes := gnnShapes(explicit, d, fc, fv)
		if err := ts.expect(what, names); err != nil {
			return nil, err
		}
		for k, name := range names {
			if err := ts.shape(name, shapes[k], fmt.Sprintf("d = %d from cons_embedding.0.weight", d)); err != nil {
				return nil, err
			}
		}
		lin := func(name string, bias bool) Linear {
			l := Linear{W: ts.matrix(name + ".weight")}
			if bias {
				l.B = ts[name+".bias"].Data
			}
			return l
		}
		mlp2 := func(name string, bias1 bool) MLP2 { return MLP2{lin(name+".0", bias1), lin(name+".2", true)} }
		g.ConsEmb, g.VarEmb = lin("cons_embedding.0", true), lin("var_embedding.0", true)
		for k, conv := range gnnConvNames {
			name := g.prefix() + conv
			g.Convs[k] = BipartiteConv{mlp2(name+".feature_module_left", true), mlp2(name+".feature_module_right", false), mlp2(name+".output_module", true)}
		}
		if !explicit {
			g.ToY = lin("deq_func.to_y", true)
		}
		g.Output = MLP2{lin("output_module.0", true), lin("output_module.2", false)}
		return g, nil
	}
}

// GNNConfig describes a gnn-lp model to initialise.
type GNNConfig struct {
	Explicit               bool
	Constraints, Variables int // m, n
	Width                  int // d
	// ConsFeatures and VarFeatures are Fc and Fv; 0 means 2 (b_i, ∘_i) and
	// 3 (c_j, l_j, u_j).
	ConsFeatures, VarFeatures int
	// Gain scales every weight; 0 means 1.
	Gain float64
}

// NewGNN returns a gnn-lp (or gnn-lp-explicit) model drawn from rng as the
// paper's code initialises it: every weight orthogonal (a random matrix's
// QR factor, as torch.nn.init.orthogonal_ draws it), times the gain, and
// every bias zero.
func NewGNN(cfg GNNConfig, rng *rand.Rand) (*GNN, error) {
	fc, fv, gain := cfg.ConsFeatures, cfg.VarFeatures, cfg.Gain
	if fc == 0 {
		fc = 2
	}
	if fv == 0 {
		fv = 3
	}
	if gain == 0 {
		gain = 1
	}
	d := cfg.Width
	if d < 1 || d > maxGNNSize || fc < 1 || fc > maxGNNSize || fv < 1 || fv > maxGNNSize {
		return nil, modelErrorf("gnn-lp width %d, features %d and %d (want each 1 to %d)", d, fc, fv, maxGNNSize)
	}
	g := &GNN{Explicit: cfg.Explicit, Constraints: cfg.Constraints, Variables: cfg.Variables}
	_, shapes := gnnShapes(cfg.Explicit, d, fc, fv)
	// Build the tensors with their shapes, then fill them in order.
	lin := func(out, in int, bias bool) Linear {
		l := Linear{W: NewMatrix(out, in)}
		if bias {
			l.B = make([]float64, out)
		}
		return l
	}
	r := d + 1
	if cfg.Explicit {
		r = d
	}
	mlp := func(out, in int, bias1 bool) MLP2 { return MLP2{lin(out, in, bias1), lin(out, out, true)} }
	g.ConsEmb, g.VarEmb = lin(d, fc, true), lin(d, fv, true)
	for k := range g.Convs {
		o, in := d, r+d
		if k%2 == 1 {
			o = r
		}
		g.Convs[k] = BipartiteConv{mlp(d, d, true), mlp(r, r, false), mlp(o, in, true)}
	}
	if !cfg.Explicit {
		g.ToY = lin(1, r, true)
	}
	g.Output = MLP2{lin(d, r, true), lin(1, d, false)}
	k := 0
	for _, t := range g.Tensors() {
		if len(t.Shape) == 2 {
			orthogonal(t.Data, t.Shape[0], t.Shape[1], gain, rng)
		}
		k++
	}
	if k != len(shapes) {
		return nil, modelErrorf("initialising: %d tensors, want %d", k, len(shapes))
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("initialising: %w", err)
	}
	return g, nil
}

// orthogonal fills w (rows×cols) with gain times a random matrix with
// orthonormal rows or columns: the Q of a Gaussian matrix's QR
// factorisation, its signs fixed by R's diagonal.
func orthogonal(w []float64, rows, cols int, gain float64, rng *rand.Rand) {
	tall, short := rows, cols
	if rows < cols {
		tall, short = cols, rows
	}
	a := mat.NewDense(tall, short, nil)
	for i := 0; i < tall; i++ {
		for j := 0; j < short; j++ {
			a.Set(i, j, rng.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(a)
	var q, rr mat.Dense
	qr.QTo(&q)
	qr.RTo(&rr)
	for i := 0; i < tall; i++ {
		for j := 0; j < short; j++ {
			v := q.At(i, j)
			if rr.At(j, j) < 0 {
				v = -v
			}
			if rows >= cols {
				w[i*cols+j] = gain * v
			} else {
				w[j*cols+i] = gain * v
			}
		}
	}
}
