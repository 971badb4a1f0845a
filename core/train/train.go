// Package train fits implicit models of every kind by implicit
// differentiation: the losses, the gradient through the fixed point
// ([Gradient], which never stores the forward iterations), Adam on
// mini-batches ([Trainer]) and checkpoints that resume a run exactly.
//
// It does no file-system I/O: a checkpoint is two byte slices, a training
// state and a model file, which the caller writes (the state first, so that
// a crash between the two writes leaves a state to resume from).
package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
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

// Trainer fits a model's parameters, in place, by Adam on mini-batches,
// with gradients from Gradient.
type Trainer struct {
	arch   model.Architecture
	params []model.Tensor // arch's trained tensors, which share its memory
	set    TrainSettings
	// Progress: the epoch under way and the steps done in it, and Adam's
	// step count and moment estimates (one per trained tensor, in the
	// order of the architecture's Tensors).
	epoch, stepInEpoch, adamStep int
	m1, m2                       [][]float64
}

// NewTrainer prepares to train a, which it changes in place.
func NewTrainer(a model.Architecture, s TrainSettings) (*Trainer, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	s = s.withDefaults()
	if s.BatchSize < 1 {
		return nil, fmt.Errorf("%w: batch size %d", api.ErrProblem, s.BatchSize)
	}
	if !(s.LearningRate > 0) || math.IsInf(s.LearningRate, 0) {
		return nil, fmt.Errorf("%w: learning rate %v", api.ErrProblem, s.LearningRate)
	}
	if m := s.Gradient.Mode; m == Unrolled || m == Phantom {
		if _, _, err := s.Gradient.unrolling(); err != nil {
			return nil, err
		}
	}
	if err := s.Gradient.CheckJacobianPenalty(); err != nil {
		return nil, err
	}
	// A layer needs more iterations as it learns, and a solve stopped short
	// ends the run (ErrNotConverged): unless the settings or the model file
	// set a limit, training's solves get ten times inference's.
	if a.SolverDefaults().MaxIter == 0 {
		for _, st := range []*api.Settings{&s.Gradient.Forward, &s.Gradient.Backward} {
			if st.MaxIter == 0 {
				st.MaxIter = 10 * api.DefaultMaxIter
			}
		}
	}
	t := &Trainer{arch: a, params: trained(a), set: s}
	for _, p := range t.params {
		t.m1 = append(t.m1, make([]float64, len(p.Data)))
		t.m2 = append(t.m2, make([]float64, len(p.Data)))
	}
	return t, nil
}

// trained lists the tensors of a (or of a gradient shaped like a) that
// training changes.
func trained(a model.Architecture) []model.Tensor {
	var ts []model.Tensor
	for _, t := range a.Tensors() {
		if !t.Fixed {
			ts = append(ts, t)
		}
	}
	return ts
}

// Settings returns the run's settings, defaults filled in.
func (t *Trainer) Settings() TrainSettings { return t.set }

// Model returns the parameters being trained.
func (t *Trainer) Model() model.Architecture { return t.arch }

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
	// Jacobian is the batch's estimate of ‖J_f(z*)‖²_F / State when the run
	// has a Jacobian penalty (GradientResult.Jacobian), else 0.
	Jacobian float64
}

// Data is a training set: n samples of In features (row-major) with their
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
	sz := t.arch.Sizes()
	p := sz.In
	tl := t.set.Loss.TargetLen(sz.Out)
	if data.N <= 0 || len(data.X) != data.N*p || len(data.Target) != data.N*tl {
		return fmt.Errorf("%w: data of %d samples with %d features and %d targets does not fit a model with p=%d and %d targets a sample", api.ErrProblem, data.N, len(data.X), len(data.Target), p, tl)
	}
	order := rand.New(rand.NewPCG(t.set.Seed, uint64(t.epoch))).Perm(data.N)
	bs := t.set.BatchSize
	steps := (data.N + bs - 1) / bs
	// A batch holds at most the data: a batch size from a flag or a
	// checkpoint larger than it must not size the buffers.
	x := make([]float64, 0, min(bs, data.N)*p)
	target := make([]float64, 0, min(bs, data.N)*tl)
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
	m, err := model.New(t.arch)
	if err != nil {
		return StepStats{}, err
	}
	gs := t.set.Gradient
	// Each step draws its own Jacobian probes, from the run's seed and the
	// step: a resumed run draws the same ones.
	gs.JacobianSeed = rand.New(rand.NewPCG(t.set.Seed^jacobianStream, uint64(t.adamStep))).Uint64()
	r, err := Gradient(ctx, m, x, target, t.set.Loss, gs)
	if err != nil {
		return StepStats{}, err
	}
	grads := trained(r.Grad)
	for _, g := range grads {
		for _, v := range g.Data {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return StepStats{}, fmt.Errorf("%w: the gradient of %s holds %v", api.ErrNonFinite, g.Name, v)
			}
		}
	}
	t.adamStep++
	lr := t.set.LearningRate
	c1 := 1 - math.Pow(adamBeta1, float64(t.adamStep))
	c2 := 1 - math.Pow(adamBeta2, float64(t.adamStep))
	for k, p := range t.params {
		g, m1, m2 := grads[k].Data, t.m1[k], t.m2[k]
		for i := range p.Data {
			m1[i] = adamBeta1*m1[i] + (1-adamBeta1)*g[i]
			m2[i] = adamBeta2*m2[i] + (1-adamBeta2)*g[i]*g[i]
			p.Data[i] -= lr * (m1[i] / c1) / (math.Sqrt(m2[i]/c2) + adamEps)
		}
	}
	q := t.arch.Sizes().Out
	n := len(r.Y) / q
	st := StepStats{Loss: r.Loss, Samples: n, ForwardIters: meanIters(r.Forward), Jacobian: r.Jacobian}
	if r.Backward != nil {
		st.BackwardIters = meanIters(r.Backward)
	}
	if _, ok := t.set.Loss.(CrossEntropy); ok {
		st.Correct = countCorrect(r.Y, target, q)
	}
	return st, nil
}

func meanIters(r *api.Result) float64 {
	if len(r.Samples) == 0 {
		return 0
	}
	return float64(r.FuncEvals) / float64(len(r.Samples))
}
