package core

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// TrainSettings control training. Zero fields take the defaults.
type TrainSettings struct {
	BatchSize    int     // samples a step; 0 means 32
	LearningRate float64 // Adam's step size; 0 means 3e-3
	// Seed fixes the order of the samples: epoch e visits them in a
	// permutation drawn from (Seed, e), so a run is reproducible and a
	// resumed run continues exactly.
	Seed uint64
	// Loss is the training loss; nil means CrossEntropy.
	Loss Loss
	// Gradient sets the gradient mode and the forward and adjoint solves.
	// Their iteration limits default to 1000, ten times inference's, unless
	// the model file sets one.
	Gradient GradientSettings
	// FreezeCore keeps W (or A and B) as they are. With W = 0 the model is
	// an explicit one-hidden-layer network y = C σ(U x + b) + c, which is
	// how the explicit baseline is trained the same way as the implicit
	// model.
	FreezeCore bool
}

func (s TrainSettings) withDefaults() TrainSettings {
	if s.BatchSize == 0 {
		s.BatchSize = 32
	}
	if s.LearningRate == 0 {
		s.LearningRate = 3e-3
	}
	if s.Loss == nil {
		s.Loss = CrossEntropy{}
	}
	return s
}

// Adam's constants (Kingma & Ba 2015).
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
)

// Trainer fits a deq-dense model's parameters, in place, by Adam on
// mini-batches, with gradients from Model.Gradient.
type Trainer struct {
	d   *Dense
	set TrainSettings
	// Progress: the epoch under way and the steps done in it, and Adam's
	// step count and moment estimates (one per parameter tensor, in the
	// order of params).
	epoch, stepInEpoch, adamStep int
	m1, m2                       [][]float64
}

// NewTrainer prepares to train d, which it changes in place.
func NewTrainer(d *Dense, s TrainSettings) (*Trainer, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	s = s.withDefaults()
	if s.BatchSize < 1 {
		return nil, fmt.Errorf("%w: batch size %d", ErrProblem, s.BatchSize)
	}
	if !(s.LearningRate > 0) || math.IsInf(s.LearningRate, 0) {
		return nil, fmt.Errorf("%w: learning rate %v", ErrProblem, s.LearningRate)
	}
	// A layer needs more iterations as it learns, and a solve stopped short
	// ends the run (ErrNotConverged): unless the settings or the model file
	// set a limit, training's solves get ten times inference's.
	if d.Defaults.MaxIter == 0 {
		for _, st := range []*Settings{&s.Gradient.Forward, &s.Gradient.Backward} {
			if st.MaxIter == 0 {
				st.MaxIter = 10 * defaultMaxIter
			}
		}
	}
	t := &Trainer{d: d, set: s}
	for _, p := range t.params(d) {
		t.m1 = append(t.m1, make([]float64, len(p)))
		t.m2 = append(t.m2, make([]float64, len(p)))
	}
	return t, nil
}

// params lists the trained tensors of d (or of a gradient shaped like d).
func (t *Trainer) params(d *Dense) [][]float64 {
	p := [][]float64{d.U.Data, d.Bias, d.C.Data, d.OutBias}
	if t.set.FreezeCore {
		return p
	}
	if t.d.Param == Monotone {
		return append(p, d.A.Data, d.B.Data)
	}
	return append(p, d.W.Data)
}

// Settings returns the run's settings, defaults filled in.
func (t *Trainer) Settings() TrainSettings { return t.set }

// Model returns the parameters being trained.
func (t *Trainer) Model() *Dense { return t.d }

// Progress returns the epoch under way (0-based) and the steps done in it.
func (t *Trainer) Progress() (epoch, step int) { return t.epoch, t.stepInEpoch }

// StepStats describe one training step.
type StepStats struct {
	Epoch, Step int     // the epoch, and the step within it (1-based)
	Loss        float64 // the batch's mean loss
	// Correct counts the batch's samples whose largest output is the label
	// (CrossEntropy only); Samples is the batch size.
	Correct, Samples int
	// ForwardIters and BackwardIters are the mean iterations a sample took
	// in the forward and adjoint solves.
	ForwardIters, BackwardIters float64
}

// Data is a training set: n samples of p features (row-major) with their
// targets (Loss.TargetLen values a sample).
type Data struct {
	X, Target []float64
	N         int
}

// Epoch runs the rest of the current epoch over data (all of it, for an
// epoch not yet begun), calling onStep after every step, then moves on to
// the next epoch. When ctx is done, or a solve fails, it returns the error
// before changing the parameters of the step it was in: the Trainer then
// holds the state after the last finished step, ready to save and resume.
func (t *Trainer) Epoch(ctx context.Context, data Data, onStep func(StepStats)) error {
	_, p, q := t.d.Sizes()
	tl := t.set.Loss.TargetLen(q)
	if data.N <= 0 || len(data.X) != data.N*p || len(data.Target) != data.N*tl {
		return fmt.Errorf("%w: data of %d samples with %d features and %d targets does not fit a model with p=%d and %d targets a sample", ErrProblem, data.N, len(data.X), len(data.Target), p, tl)
	}
	order := rand.New(rand.NewPCG(t.set.Seed, uint64(t.epoch))).Perm(data.N)
	bs := t.set.BatchSize
	steps := (data.N + bs - 1) / bs
	x := make([]float64, 0, bs*p)
	target := make([]float64, 0, bs*tl)
	for t.stepInEpoch < steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := order[t.stepInEpoch*bs : min((t.stepInEpoch+1)*bs, data.N)]
		x, target = x[:0], target[:0]
		for _, i := range batch {
			x = append(x, data.X[i*p:(i+1)*p]...)
			target = append(target, data.Target[i*tl:(i+1)*tl]...)
		}
		st, err := t.step(ctx, x, target)
		if err != nil {
			return fmt.Errorf("epoch %d, step %d: %w", t.epoch+1, t.stepInEpoch+1, err)
		}
		t.stepInEpoch++
		st.Epoch, st.Step = t.epoch+1, t.stepInEpoch
		if onStep != nil {
			onStep(st)
		}
	}
	t.epoch++
	t.stepInEpoch = 0
	return nil
}

// step computes one batch's gradient and applies an Adam update.
func (t *Trainer) step(ctx context.Context, x, target []float64) (StepStats, error) {
	m, err := NewModel(t.d)
	if err != nil {
		return StepStats{}, err
	}
	r, err := m.Gradient(ctx, x, target, t.set.Loss, t.set.Gradient)
	if err != nil {
		return StepStats{}, err
	}
	for _, v := range t.params(r.Grad) {
		for _, g := range v {
			if math.IsNaN(g) || math.IsInf(g, 0) {
				return StepStats{}, fmt.Errorf("%w: the gradient holds %v", ErrNonFinite, g)
			}
		}
	}
	t.adamStep++
	lr := t.set.LearningRate
	c1 := 1 - math.Pow(adamBeta1, float64(t.adamStep))
	c2 := 1 - math.Pow(adamBeta2, float64(t.adamStep))
	grads := t.params(r.Grad)
	for k, p := range t.params(t.d) {
		g, m1, m2 := grads[k], t.m1[k], t.m2[k]
		for i := range p {
			m1[i] = adamBeta1*m1[i] + (1-adamBeta1)*g[i]
			m2[i] = adamBeta2*m2[i] + (1-adamBeta2)*g[i]*g[i]
			p[i] -= lr * (m1[i] / c1) / (math.Sqrt(m2[i]/c2) + adamEps)
		}
	}
	n := len(r.Y) / m.q
	st := StepStats{Loss: r.Loss, Samples: n, ForwardIters: meanIters(r.Forward)}
	if r.Backward != nil {
		st.BackwardIters = meanIters(r.Backward)
	}
	if _, ok := t.set.Loss.(CrossEntropy); ok {
		st.Correct = countCorrect(r.Y, target, m.q)
	}
	return st, nil
}

func meanIters(r *Result) float64 {
	if len(r.Samples) == 0 {
		return 0
	}
	return float64(r.FuncEvals) / float64(len(r.Samples))
}

// Accuracy returns the fraction of the rows of y (q scores each) whose
// largest score is at the label.
func Accuracy(y, labels []float64, q int) (float64, error) {
	if q <= 0 || len(labels) == 0 || len(y) != len(labels)*q {
		return 0, fmt.Errorf("%w: %d scores for %d labels of %d classes", ErrProblem, len(y), len(labels), q)
	}
	return float64(countCorrect(y, labels, q)) / float64(len(labels)), nil
}

// countCorrect counts the rows of y (q scores each) whose largest score is
// at the label.
func countCorrect(y, labels []float64, q int) int {
	c := 0
	for i, label := range labels {
		row := y[i*q : (i+1)*q]
		if float64(slices.Index(row, slices.Max(row))) == label {
			c++
		}
	}
	return c
}

// Accuracy returns the fraction of samples whose largest output is the
// label, with the inference results.
func (m *Model) Accuracy(ctx context.Context, x, labels []float64, s Settings) (float64, *Output, error) {
	if len(labels)*m.p != len(x) {
		return 0, nil, fmt.Errorf("%w: %d labels for %d input values of %d features", ErrProblem, len(labels), len(x), m.p)
	}
	out, err := m.Infer(ctx, x, s)
	if err != nil {
		return 0, out, err
	}
	acc, err := Accuracy(out.Y, labels, m.q)
	return acc, out, err
}
