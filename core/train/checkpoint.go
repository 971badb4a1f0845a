package train

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
)

// A checkpoint is two files: the model file itself (usable anywhere a model
// is), and beside it, at the model's path plus StateSuffix, the training
// state that resuming reads. The state is complete on its own: the model's
// parameters, the epoch and step, Adam's moments, and the run's and the
// solvers' settings. Write it first, so that a crash at any moment leaves
// a state to resume from (the model file may then lag one checkpoint
// behind it).
const StateSuffix = ".state"

const (
	stateEpoch = "train.epoch"
	stateStep  = "train.step"
	stateAdam  = "train.adam_step"
	stateSeed  = "train.seed"
	stateBatch = "train.batch_size"
	stateLR    = "train.learning_rate"
	stateLoss  = "train.loss"
	stateMode  = "train.gradient"
	stateAllow = "train.allow_unconverged"
	// The unrolled and phantom gradients' steps and damping.
	stateSteps   = "train.gradient_steps"
	stateDamping = "train.gradient_damping"
	// The Jacobian penalty γ and its power steps, when the run has one.
	stateJacobian      = "train.jacobian_penalty"
	stateJacobianPower = "train.jacobian_power_steps"
	// The solvers' settings, under train.forward. and train.backward.
	stateSolver  = "solver"
	stateRelTol  = "rel_tol"
	stateAbsTol  = "abs_tol"
	stateMaxIter = "max_iter"

	// Adam's moments of tensor NAME are train.m1.NAME and train.m2.NAME.
	statePrefix                  = "train."
	momentPrefix1, momentPrefix2 = "train.m1.", "train.m2."
)

// Checkpoint returns the run's training state and its model file (F64),
// to be written in that order. The run's loss must be CrossEntropy or MSE,
// the losses a checkpoint can record.
func (t *Trainer) Checkpoint() (state, modelFile []byte, err error) {
	var loss string
	switch t.set.Loss.(type) {
	case CrossEntropy, *CrossEntropy:
		loss = "cross-entropy"
	case MSE, *MSE:
		loss = "mse"
	default:
		// Resuming could not continue the same run.
		return nil, nil, fmt.Errorf("%w: a checkpoint records CrossEntropy or MSE, not the loss %T", api.ErrProblem, t.set.Loss)
	}
	modelFile, err = model.Encode(t.arch, model.F64)
	if err != nil {
		return nil, nil, err
	}
	meta := map[string]string{
		stateEpoch: strconv.Itoa(t.epoch),
		stateStep:  strconv.Itoa(t.stepInEpoch),
		stateAdam:  strconv.Itoa(t.adamStep),
		stateSeed:  strconv.FormatUint(t.set.Seed, 10),
		stateBatch: strconv.Itoa(t.set.BatchSize),
		stateLR:    strconv.FormatFloat(t.set.LearningRate, 'g', -1, 64),
		stateLoss:  loss,
		stateMode:  t.set.Gradient.Mode.String(),
		stateAllow: strconv.FormatBool(t.set.Gradient.AllowUnconverged),
	}
	if m := t.set.Gradient.Mode; m == Unrolled || m == Phantom {
		steps, tau, err := t.set.Gradient.unrolling()
		if err != nil {
			return nil, nil, err
		}
		meta[stateSteps] = strconv.Itoa(steps)
		meta[stateDamping] = strconv.FormatFloat(tau, 'g', -1, 64)
	}
	if g := t.set.Gradient.JacobianPenalty; g > 0 {
		meta[stateJacobian] = strconv.FormatFloat(g, 'g', -1, 64)
		meta[stateJacobianPower] = strconv.Itoa(t.set.Gradient.JacobianPowerSteps)
	}
	putSolver(meta, "train.forward.", t.set.Gradient.Forward)
	putSolver(meta, "train.backward.", t.set.Gradient.Backward)
	var moments []model.Tensor
	for k, p := range t.params {
		moments = append(moments,
			model.Tensor{Name: momentPrefix1 + p.Name, Shape: []int{len(t.m1[k])}, Data: t.m1[k]},
			model.Tensor{Name: momentPrefix2 + p.Name, Shape: []int{len(t.m2[k])}, Data: t.m2[k]})
	}
	state, err = model.EncodeExtra(t.arch, model.F64, meta, moments)
	if err != nil {
		return nil, nil, err
	}
	return state, modelFile, nil
}

// putSolver records a solve's settings: the method's name (its parameters
// are the defaults when resumed), tolerances and iteration limit.
func putSolver(meta map[string]string, prefix string, s api.Settings) {
	if s.Method != nil {
		meta[prefix+stateSolver] = s.Method.String()
	}
	meta[prefix+stateRelTol] = strconv.FormatFloat(s.RelTol, 'g', -1, 64)
	meta[prefix+stateAbsTol] = strconv.FormatFloat(s.AbsTol, 'g', -1, 64)
	meta[prefix+stateMaxIter] = strconv.Itoa(s.MaxIter)
}

// Resume continues the run whose training state (from Checkpoint) is state.
// The run's seed, batch size, learning rate, loss, gradient mode and
// Jacobian penalty come from the state, so that the run continues exactly
// as it would have; so do the solvers' settings, except those s sets (a
// method, a tolerance, an iteration limit). Errors wrap api.ErrModel and
// name the key at fault.
func Resume(state []byte, s TrainSettings) (*Trainer, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: training state: %s", api.ErrModel, fmt.Sprintf(format, args...))
	}
	arch, meta, extra, err := model.DecodeExtra(state, statePrefix)
	if err != nil {
		return nil, fmt.Errorf("training state: %w", err)
	}
	moments := map[string][]float64{}
	for _, tn := range extra {
		moments[tn.Name] = tn.Data
	}

	var epoch, step, adam int
	for _, f := range []struct {
		key string
		dst *int
	}{{stateEpoch, &epoch}, {stateStep, &step}, {stateAdam, &adam}, {stateBatch, &s.BatchSize}} {
		v, err := strconv.Atoi(meta[f.key])
		if err != nil || v < 0 {
			return nil, bad("%s=%q", f.key, meta[f.key])
		}
		*f.dst = v
	}
	if s.Seed, err = strconv.ParseUint(meta[stateSeed], 10, 64); err != nil {
		return nil, bad("%s=%q", stateSeed, meta[stateSeed])
	}
	if s.LearningRate, err = strconv.ParseFloat(meta[stateLR], 64); err != nil {
		return nil, bad("%s=%q", stateLR, meta[stateLR])
	}
	if s.Gradient.AllowUnconverged, err = strconv.ParseBool(meta[stateAllow]); err != nil {
		return nil, bad("%s=%q", stateAllow, meta[stateAllow])
	}
	switch meta[stateLoss] {
	case "cross-entropy":
		s.Loss = CrossEntropy{}
	case "mse":
		s.Loss = MSE{}
	default:
		return nil, bad("%s=%q", stateLoss, meta[stateLoss])
	}
	mode, ok := gradientModeByName(meta[stateMode])
	if !ok {
		return nil, bad("%s=%q", stateMode, meta[stateMode])
	}
	s.Gradient.Mode = mode
	if mode == Unrolled || mode == Phantom {
		if s.Gradient.Steps, err = strconv.Atoi(meta[stateSteps]); err != nil {
			return nil, bad("%s=%q", stateSteps, meta[stateSteps])
		}
		if s.Gradient.Damping, err = strconv.ParseFloat(meta[stateDamping], 64); err != nil {
			return nil, bad("%s=%q", stateDamping, meta[stateDamping])
		}
	}
	s.Gradient.JacobianPenalty, s.Gradient.JacobianPowerSteps = 0, 0
	if v, ok := meta[stateJacobian]; ok {
		if s.Gradient.JacobianPenalty, err = strconv.ParseFloat(v, 64); err != nil || !(s.Gradient.JacobianPenalty > 0) {
			return nil, bad("%s=%q", stateJacobian, v)
		}
		if s.Gradient.JacobianPowerSteps, err = strconv.Atoi(meta[stateJacobianPower]); err != nil {
			return nil, bad("%s=%q", stateJacobianPower, meta[stateJacobianPower])
		}
	}
	for _, sv := range []struct {
		prefix string
		dst    *api.Settings
	}{{"train.forward.", &s.Gradient.Forward}, {"train.backward.", &s.Gradient.Backward}} {
		if err := getSolver(meta, sv.prefix, sv.dst); err != nil {
			return nil, bad("%v", err)
		}
	}

	t, err := NewTrainer(arch, s)
	if err != nil {
		return nil, err
	}
	params := t.params
	if len(moments) != 2*len(params) {
		return nil, bad("%d moment tensors, want %d (two for each of the %d trained tensors)", len(moments), 2*len(params), len(params))
	}
	for k, p := range params {
		m1, m2 := moments[momentPrefix1+p.Name], moments[momentPrefix2+p.Name]
		if len(m1) != len(t.m1[k]) || len(m2) != len(t.m2[k]) {
			return nil, bad("the moment tensors of %q are missing or have the wrong size", p.Name)
		}
		copy(t.m1[k], m1)
		copy(t.m2[k], m2)
	}
	t.epoch, t.stepInEpoch, t.adamStep = epoch, step, adam
	return t, nil
}

// getSolver restores the solve settings putSolver recorded into s, where s
// does not set them already.
func getSolver(meta map[string]string, prefix string, s *api.Settings) error {
	if name, ok := meta[prefix+stateSolver]; ok && s.Method == nil {
		m, err := api.MethodByName(name)
		if err != nil {
			return err
		}
		s.Method = m
	}
	rel, err1 := strconv.ParseFloat(meta[prefix+stateRelTol], 64)
	abs, err2 := strconv.ParseFloat(meta[prefix+stateAbsTol], 64)
	iters, err3 := strconv.Atoi(meta[prefix+stateMaxIter])
	if err1 != nil || err2 != nil || err3 != nil {
		return fmt.Errorf("%s settings %q, %q, %q", strings.TrimSuffix(prefix, "."), meta[prefix+stateRelTol], meta[prefix+stateAbsTol], meta[prefix+stateMaxIter])
	}
	if s.RelTol == 0 && s.AbsTol == 0 {
		s.RelTol, s.AbsTol = rel, abs
	}
	if s.MaxIter == 0 {
		s.MaxIter = iters
	}
	return nil
}
