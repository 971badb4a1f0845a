package model

import (
	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/fixedpoint"
	"github.com/implicitlab/implicit/core/internal/gemm"
)

// The computations of the gnn-lp kinds (gnn.go), batched over LP
// instances: the nodes of a batch's graphs are stacked, constraint i of the
// k-th instance in row k·m + i and variable j in row k·n + j, so that every
// MLP is one product on the packed kernel, and the aggregations run over
// the edge lists of the nonzeros of A.

// gnnLin is a Linear prepared for batches.
type gnnLin struct {
	aff  affine
	bias bool
}

func newGNNLin(l Linear, p api.Precision) gnnLin {
	b := l.B
	if b == nil {
		b = make([]float64, l.W.Rows)
	}
	return gnnLin{aff: newAffine(l.W, b, p), bias: l.B != nil}
}

// forward returns W x + b for the rows of x.
func (l *gnnLin) forward(x []float64, rows int) []float64 {
	return l.forwardInto(nil, x, rows, new(gemm.Scratch))
}

// forwardInto is forward into buf, grown if it is too short (nil: a new
// one), with the product's scratch s: a solve's iterations reuse both.
func (l *gnnLin) forwardInto(buf, x []float64, rows int, s *gemm.Scratch) []float64 {
	y := grow(buf, rows*l.aff.w.Rows)
	l.aff.forwardWith(y, x, rows, s)
	return y
}

// backward adds the parameter gradient for gy to g (when g is not nil)
// and returns ∂L/∂x.
func (l *gnnLin) backward(g *Linear, gy, x []float64, rows int) []float64 {
	if g != nil {
		gemmTN(1, gy, x, rows, l.aff.w.Rows, l.aff.w.Cols, g.W.Data)
		if g.B != nil {
			addColSums(g.B, gy, rows, l.aff.w.Rows)
		}
	}
	return l.aff.inputGrad(gy, rows)
}

// gnnMLP is an MLP2 prepared for batches.
type gnnMLP struct{ l1, l2 gnnLin }

func newGNNMLP(m MLP2, p api.Precision) gnnMLP {
	return gnnMLP{newGNNLin(m.L1, p), newGNNLin(m.L2, p)}
}

// mlpTape is what an MLP2's backward pass needs: its input, the first
// layer's pre-activation and its relu; and its output. A tape passed again
// reuses its buffers.
type mlpTape struct{ x, h, a, y []float64 }

func (m *gnnMLP) forward(x []float64, rows int, t *mlpTape, s *gemm.Scratch) []float64 {
	t.x = x
	t.h = m.l1.forwardInto(t.h, x, rows, s)
	t.a = grow(t.a, len(t.h))
	reluTo(t.a, t.h)
	t.y = m.l2.forwardInto(t.y, t.a, rows, s)
	return t.y
}

func (m *gnnMLP) backward(g *MLP2, gy []float64, rows int, t *mlpTape) []float64 {
	var g1, g2 *Linear
	if g != nil {
		g1, g2 = &g.L1, &g.L2
	}
	ga := m.l2.backward(g2, gy, t.a, rows)
	reluBackward(ga, ga, t.h)
	return m.l1.backward(g1, ga, t.x, rows)
}

// gnnGraph is the edges of a batch's stacked graphs: constraint row cons[e]
// and variable row vars[e] with weight w[e].
type gnnGraph struct {
	cons, vars []int
	w          []float64
}

// add appends to g the nonzeros of the k instances' A, each m×n at
// a[k·stride + off:].
func (g *gnnGraph) add(a []float64, k, stride, off, m, n int) {
	for s := 0; s < k; s++ {
		as := a[s*stride+off : s*stride+off+m*n]
		for i := 0; i < m; i++ {
			for j, v := range as[i*n : (i+1)*n] {
				if v != 0 {
					g.cons = append(g.cons, s*m+i)
					g.vars = append(g.vars, s*n+j)
					g.w = append(g.w, v)
				}
			}
		}
	}
}

// gnnConv is a BipartiteConv prepared; toCons says it sends from the
// variables to the constraints.
type gnnConv struct {
	left, right, out gnnMLP
	toCons           bool
	l, r             int
}

// convTape is one convolution's forward pass at a batch.
type convTape struct {
	tgt, src, msg mlpTape
	out           mlpTape
	pre           []float64 // the update's output, before the relu
	cat, y        []float64 // the update's input, and the output
}

// sides returns the target and source MLPs, widths, node rows and edge
// ends of a convolution on a graph with nc constraint and nv variable
// rows.
func (c *gnnConv) sides(g *gnnGraph, nc, nv int) (ft, fs *gnnMLP, dt, ds, nt, ns int, et, es []int) {
	if c.toCons {
		return &c.left, &c.right, c.l, c.r, nc, nv, g.cons, g.vars
	}
	return &c.right, &c.left, c.r, c.l, nv, nc, g.vars, g.cons
}

// forward returns relu(out(cat[Σ A F_S(S), F_T(T)])) for the constraints
// cons (nc×L) and variables vars (nv×R).
func (c *gnnConv) forward(g *gnnGraph, cons, vars []float64, nc, nv int, t *convTape, s *gemm.Scratch) []float64 {
	ft, fs, dt, ds, nt, ns, et, es := c.sides(g, nc, nv)
	tgt, src := cons, vars
	if !c.toCons {
		tgt, src = vars, cons
	}
	prev := ft.forward(tgt, nt, &t.tgt, s)
	msg := fs.forward(src, ns, &t.src, s)
	width := ds + dt
	t.cat = grow(t.cat, nt*width)
	cat := t.cat
	clear(cat)
	for e, w := range g.w {
		dst, m := cat[et[e]*width:et[e]*width+ds], msg[es[e]*ds:(es[e]+1)*ds]
		for k, v := range m {
			dst[k] += w * v
		}
	}
	for i := 0; i < nt; i++ {
		copy(cat[i*width+ds:(i+1)*width], prev[i*dt:(i+1)*dt])
	}
	t.pre = c.out.forward(cat, nt, &t.out, s)
	t.y = grow(t.y, len(t.pre))
	reluTo(t.y, t.pre)
	return t.y
}

// backward returns ∂L/∂cons and ∂L/∂vars for ∂L/∂y = gy, adding the
// parameter gradients to g when it is not nil.
func (c *gnnConv) backward(g *BipartiteConv, gr *gnnGraph, gy []float64, nc, nv int, t *convTape) (gcons, gvars []float64) {
	ft, fs, dt, ds, nt, ns, et, es := c.sides(gr, nc, nv)
	var gft, gfs, gout *MLP2
	if g != nil {
		gout = &g.Out
		gft, gfs = &g.Left, &g.Right
		if !c.toCons {
			gft, gfs = &g.Right, &g.Left
		}
	}
	gpre := make([]float64, len(gy))
	reluBackward(gpre, gy, t.pre)
	gcat := c.out.backward(gout, gpre, nt, &t.out)
	width := ds + dt
	gprev := make([]float64, nt*dt)
	for i := 0; i < nt; i++ {
		copy(gprev[i*dt:(i+1)*dt], gcat[i*width+ds:(i+1)*width])
	}
	gmsg := make([]float64, ns*ds)
	for e, w := range gr.w {
		src, dst := gcat[et[e]*width:et[e]*width+ds], gmsg[es[e]*ds:(es[e]+1)*ds]
		for k, v := range src {
			dst[k] += w * v
		}
	}
	gt := ft.backward(gft, gprev, nt, &t.tgt)
	gs := fs.backward(gfs, gmsg, ns, &t.src)
	if c.toCons {
		return gt, gs
	}
	return gs, gt
}

// netTape is the four layers' forward pass at a batch.
type netTape struct {
	conv [4]convTape
}

// gnnScratch is what a forward pass of the map reuses from one call to the
// next (a Problem's iterations): the gathered inputs, the graph, the tape,
// the product's scratch and G's output y.
type gnnScratch struct {
	c0, v0, sub, y []float64
	graph          gnnGraph
	tape           netTape
	gemm           gemm.Scratch
}

// gnnLayer is a GNN prepared to compute.
type gnnLayer struct {
	explicit        bool
	m, n, d, fc, fv int
	r               int // R
	in, state, inj  int // sizes a sample
	consEmb, varEmb gnnLin
	convs           [4]gnnConv
	toY             gnnLin
	output          gnnMLP
}

// Build packs the layers for the kernel.
func (g *GNN) Build(p api.Precision) (Layer, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	m, n, d := g.Constraints, g.Variables, g.Width()
	l := &gnnLayer{explicit: g.Explicit, m: m, n: n, d: d, fc: g.ConsEmb.W.Cols, fv: g.VarEmb.W.Cols, r: g.varDim(),
		consEmb: newGNNLin(g.ConsEmb, p), varEmb: newGNNLin(g.VarEmb, p), output: newGNNMLP(g.Output, p)}
	l.in, l.state = g.Sizes().In, g.Sizes().State
	l.inj = m*d + n*d + m*n
	for k, c := range g.Convs {
		l.convs[k] = gnnConv{left: newGNNMLP(c.Left, p), right: newGNNMLP(c.Right, p), out: newGNNMLP(c.Out, p), toCons: k%2 == 0, l: d, r: l.r}
	}
	if !g.Explicit {
		l.toY = newGNNLin(g.ToY, p)
	}
	return l, nil
}

// features returns the node features of the k instances x, stacked: the
// constraints' (k·m×Fc) and the variables' (k·n×Fv).
func (l *gnnLayer) features(x []float64, k int) (fcons, fvars []float64) {
	fcons, fvars = make([]float64, 0, k*l.m*l.fc), make([]float64, 0, k*l.n*l.fv)
	for s := 0; s < k; s++ {
		row := x[s*l.in : (s+1)*l.in]
		fcons = append(fcons, row[:l.m*l.fc]...)
		fvars = append(fvars, row[l.m*l.fc:l.m*l.fc+l.n*l.fv]...)
	}
	return fcons, fvars
}

// embedPre returns the embeddings' pre-activations of the k instances x:
// the constraints' (k·m×d) and the variables' (k·n×d).
func (l *gnnLayer) embedPre(x []float64, k int) (cons, vars []float64) {
	fcons, fvars := l.features(x, k)
	return l.consEmb.forward(fcons, k*l.m), l.varEmb.forward(fvars, k*l.n)
}

// Inject returns, per instance, [S_c (m×d), S_v (n×d), A (m×n)].
func (l *gnnLayer) Inject(x []float64, k int) []float64 {
	cons, vars := l.embedPre(x, k)
	reluTo(cons, cons)
	reluTo(vars, vars)
	md, nd, mn := l.m*l.d, l.n*l.d, l.m*l.n
	inj := make([]float64, k*l.inj)
	off := l.m*l.fc + l.n*l.fv
	for s := 0; s < k; s++ {
		dst := inj[s*l.inj : (s+1)*l.inj]
		copy(dst, cons[s*md:(s+1)*md])
		copy(dst[md:], vars[s*nd:(s+1)*nd])
		copy(dst[md+nd:], x[s*l.in+off:s*l.in+off+mn])
	}
	return inj
}

// inputs gathers the instances rows of inj, with their states z (compacted,
// one a row of rows): C₀ (k·m×d), V₀ (k·n×R) and the graph.
func (l *gnnLayer) inputs(inj, z []float64, rows []int, sc *gnnScratch) (c0, v0 []float64, g *gnnGraph) {
	k, md, nd, r := len(rows), l.m*l.d, l.n*l.d, l.r
	c0, v0 = sc.c0[:0], grow(sc.v0, k*l.n*r)
	sub := sc.sub[:0]
	for s, i := range rows {
		blk := inj[i*l.inj : (i+1)*l.inj]
		c0 = append(c0, blk[:md]...)
		sv := blk[md : md+nd]
		for j := 0; j < l.n; j++ {
			dst := v0[(s*l.n+j)*r : (s*l.n+j+1)*r]
			copy(dst, sv[j*l.d:(j+1)*l.d])
			if !l.explicit {
				dst[l.d] = z[s*l.state+nd+j]
			}
		}
		sub = append(sub, blk[md+nd:]...)
	}
	sc.c0, sc.v0, sc.sub = c0, v0, sub
	g = &sc.graph
	g.cons, g.vars, g.w = g.cons[:0], g.vars[:0], g.w[:0]
	g.add(sub, k, l.m*l.n, 0, l.m, l.n)
	return c0, v0, g
}

// net runs the four layers and returns V₂.
func (l *gnnLayer) net(g *gnnGraph, c0, v0 []float64, k int, t *netTape, s *gemm.Scratch) []float64 {
	nc, nv := k*l.m, k*l.n
	c1 := l.convs[0].forward(g, c0, v0, nc, nv, &t.conv[0], s)
	v1 := l.convs[1].forward(g, c1, v0, nc, nv, &t.conv[1], s)
	c2 := l.convs[2].forward(g, c1, v1, nc, nv, &t.conv[2], s)
	return l.convs[3].forward(g, c2, v1, nc, nv, &t.conv[3], s)
}

// netBackward returns ∂L/∂C₀ and ∂L/∂V₀ for ∂L/∂V₂ = gv2, adding the
// convolutions' parameter gradients to grad when it is not nil.
func (l *gnnLayer) netBackward(grad *GNN, g *gnnGraph, gv2 []float64, k int, t *netTape) (gc0, gv0 []float64) {
	nc, nv := k*l.m, k*l.n
	conv := func(i int) *BipartiteConv {
		if grad == nil {
			return nil
		}
		return &grad.Convs[i]
	}
	gc2, gv1 := l.convs[3].backward(conv(3), g, gv2, nc, nv, &t.conv[3])
	gc1, gv1b := l.convs[2].backward(conv(2), g, gc2, nc, nv, &t.conv[2])
	addTo(gv1, gv1b)
	gc1b, gv0 := l.convs[1].backward(conv(1), g, gv1, nc, nv, &t.conv[1])
	addTo(gc1, gc1b)
	gc0, gv0b := l.convs[0].backward(conv(0), g, gc1, nc, nv, &t.conv[0])
	addTo(gv0, gv0b)
	return gc0, gv0
}

// apply sets dst (compacted, a row of rows each) to f(z): [S_v, G(y, x)],
// or V₂ for the explicit kind, with the buffers of sc (whose tape then
// holds the pass).
func (l *gnnLayer) apply(dst, inj, z []float64, rows []int, sc *gnnScratch) {
	k, md, nd := len(rows), l.m*l.d, l.n*l.d
	c0, v0, g := l.inputs(inj, z, rows, sc)
	v2 := l.net(g, c0, v0, k, &sc.tape, &sc.gemm)
	if l.explicit {
		copy(dst[:k*l.state], v2)
		return
	}
	sc.y = l.toY.forwardInto(sc.y, v2, k*l.n, &sc.gemm)
	y := sc.y
	for s, i := range rows {
		out := dst[s*l.state : (s+1)*l.state]
		copy(out, inj[i*l.inj+md:i*l.inj+md+nd])
		copy(out[nd:], y[s*l.n:(s+1)*l.n])
	}
}

// Problem is z = f(z) for the injections inj: [S_v, G(y, x)] for gnn-lp, a
// constant map (V₂) for the explicit kind. It has no splitting.
func (l *gnnLayer) Problem(inj []float64, k int) fixedpoint.BatchProblem {
	var sc gnnScratch // a Problem is solved by one goroutine
	return fixedpoint.BatchProblem{Dim: l.state, Samples: k, Constant: l.explicit, F: func(dst, z []float64, rows []int) {
		l.apply(dst, inj, z, rows, &sc)
	}}
}

// readoutIn returns the output MLP's input, one row a variable: [S_v, y]
// from the state, or V₂.
func (l *gnnLayer) readoutIn(z []float64, k int) []float64 {
	if l.explicit {
		return z[:k*l.state]
	}
	nd, r := l.n*l.d, l.r
	in := make([]float64, k*l.n*r)
	for s := 0; s < k; s++ {
		zs := z[s*l.state : (s+1)*l.state]
		for j := 0; j < l.n; j++ {
			dst := in[(s*l.n+j)*r : (s*l.n+j+1)*r]
			copy(dst, zs[j*l.d:(j+1)*l.d])
			dst[l.d] = zs[nd+j]
		}
	}
	return in
}

// Readout sets ŷ = out₂ relu(out₁ [S_v, y]) (or of V₂), one value a
// variable.
func (l *gnnLayer) Readout(y, z []float64, k int) {
	var t mlpTape
	copy(y[:k*l.n], l.output.forward(l.readoutIn(z, k), k*l.n, &t, new(gemm.Scratch)))
}

// gnnBackward is a batch's forward pass at its states z, with its tape.
type gnnBackward struct {
	l          *gnnLayer
	x, inj, z  []float64
	k          int
	rows       []int
	graph      gnnGraph
	tape       netTape
	v2         []float64
	preC, preV []float64 // the embeddings' pre-activations
}

func (l *gnnLayer) Backward(x, inj, z []float64, k int) Backward {
	b := &gnnBackward{l: l, x: x, inj: inj, z: z, k: k, rows: seq(k)}
	var sc gnnScratch // the backward pass keeps its graph and tape
	c0, v0, g := l.inputs(inj, z, b.rows, &sc)
	b.graph = *g
	b.v2 = l.net(&b.graph, c0, v0, k, &b.tape, &sc.gemm)
	return b
}

// Readout adds the output MLP's gradient and returns ∂L/∂z.
func (b *gnnBackward) Readout(grad Architecture, gy []float64) []float64 {
	l := b.l
	var t mlpTape
	l.output.forward(l.readoutIn(b.z, b.k), b.k*l.n, &t, new(gemm.Scratch))
	gin := l.output.backward(&grad.(*GNN).Output, gy, b.k*l.n, &t)
	if l.explicit {
		return gin
	}
	gz := make([]float64, b.k*l.state)
	nd, r := l.n*l.d, l.r
	for s := 0; s < b.k; s++ {
		gs := gz[s*l.state : (s+1)*l.state]
		for j := 0; j < l.n; j++ {
			src := gin[(s*l.n+j)*r : (s*l.n+j+1)*r]
			copy(gs[j*l.d:(j+1)*l.d], src[:l.d])
			gs[nd+j] = src[l.d]
		}
	}
	return gz
}

// mapBackward back-propagates u (k×State) through f at z: it returns
// ∂/∂C₀ and ∂/∂V₀ of uᵀf, with the parameter gradients added to grad when
// it is not nil.
func (b *gnnBackward) mapBackward(grad *GNN, u []float64) (gc0, gv0 []float64) {
	l := b.l
	gv2 := u
	if !l.explicit {
		nd := l.n * l.d
		gy := make([]float64, b.k*l.n)
		for s := 0; s < b.k; s++ {
			copy(gy[s*l.n:(s+1)*l.n], u[s*l.state+nd:(s+1)*l.state])
		}
		var g *Linear
		if grad != nil {
			g = &grad.ToY
		}
		gv2 = l.toY.backward(g, gy, b.v2, b.k*l.n)
	}
	return l.netBackward(grad, &b.graph, gv2, b.k, &b.tape)
}

// StateVJP sets dst = J_f(z)ᵀ u: f reads only y of z, through V₀'s last
// column; zero for the explicit kind.
func (b *gnnBackward) StateVJP(dst, u []float64) {
	l := b.l
	clear(dst[:b.k*l.state])
	if l.explicit {
		return
	}
	_, gv0 := b.mapBackward(nil, u)
	nd, r := l.n*l.d, l.r
	for s := 0; s < b.k; s++ {
		for j := 0; j < l.n; j++ {
			dst[s*l.state+nd+j] = gv0[(s*l.n+j)*r+l.d]
		}
	}
}

// Adjoint is u = J_f(z*)ᵀ u + gz (constant, u = gz, for the explicit
// kind). Each evaluation runs the whole batch's product, with zero for the
// samples that have converged.
func (b *gnnBackward) Adjoint(gz []float64) fixedpoint.BatchProblem {
	l := b.l
	st := l.state
	return fixedpoint.BatchProblem{Dim: st, Samples: b.k, Constant: l.explicit, F: func(dst, u []float64, rows []int) {
		if l.explicit {
			for s, i := range rows {
				copy(dst[s*st:(s+1)*st], gz[i*st:(i+1)*st])
			}
			return
		}
		full := make([]float64, b.k*st)
		for s, i := range rows {
			copy(full[i*st:(i+1)*st], u[s*st:(s+1)*st])
		}
		out := make([]float64, b.k*st)
		b.StateVJP(out, full)
		for s, i := range rows {
			d := dst[s*st : (s+1)*st]
			copy(d, out[i*st:(i+1)*st])
			addTo(d, gz[i*st:(i+1)*st])
		}
	}}
}

// JacobianFree returns u = gz.
func (b *gnnBackward) JacobianFree(gz []float64) []float64 { return gz }

// Params adds the gradients of the layers' and the embeddings' parameters
// for the adjoint u: f's S_v part passes u's straight to the variables'
// embedding.
func (b *gnnBackward) Params(grad Architecture, u []float64) {
	l, g := b.l, grad.(*GNN)
	gc0, gv0 := b.mapBackward(g, u)
	if b.preC == nil {
		b.preC, b.preV = l.embedPre(b.x, b.k)
	}
	gsv := make([]float64, b.k*l.n*l.d)
	r := l.r
	for s := 0; s < b.k; s++ {
		for j := 0; j < l.n; j++ {
			dst := gsv[(s*l.n+j)*l.d : (s*l.n+j+1)*l.d]
			copy(dst, gv0[(s*l.n+j)*r:(s*l.n+j)*r+l.d])
			if !l.explicit {
				addTo(dst, u[s*l.state+j*l.d:s*l.state+(j+1)*l.d])
			}
		}
	}
	reluBackward(gc0, gc0, b.preC)
	reluBackward(gsv, gsv, b.preV)
	fcons, fvars := l.features(b.x, b.k)
	l.consEmb.backward(&g.ConsEmb, gc0, fcons, b.k*l.m)
	l.varEmb.backward(&g.VarEmb, gsv, fvars, b.k*l.n)
}
