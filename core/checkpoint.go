package core

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/implicitlab/implicit/core/internal/safetensors"
	"github.com/implicitlab/implicit/internal/atomicfile"
)

// A checkpoint is two files: the model file itself (usable anywhere a model
// is), and beside it, at the model's path plus StateSuffix, the training
// state that resuming reads. The state is complete on its own: the model's
// parameters, the epoch and step, Adam's moments, and the run's and the
// solvers' settings. It is written first, so that a crash at any moment
// leaves a state to resume from (the model file may then lag one
// checkpoint behind it).
const StateSuffix = ".state"

const (
	stateEpoch  = "train.epoch"
	stateStep   = "train.step"
	stateAdam   = "train.adam_step"
	stateSeed   = "train.seed"
	stateBatch  = "train.batch_size"
	stateLR     = "train.learning_rate"
	stateFreeze = "train.freeze_core"
	stateLoss   = "train.loss"
	stateMode   = "train.gradient"
	stateAllow  = "train.allow_unconverged"
	// The solvers' settings, under train.forward. and train.backward.
	stateSolver  = "solver"
	stateRelTol  = "rel_tol"
	stateAbsTol  = "abs_tol"
	stateMaxIter = "max_iter"

	momentPrefix1, momentPrefix2 = "train.m1.", "train.m2."
)

// WriteCheckpoint writes the training state beside path, then the model to
// path, each atomically. The run's loss must be CrossEntropy or MSE, the
// losses a checkpoint can record.
func (t *Trainer) WriteCheckpoint(path string) error {
	var loss string
	switch t.set.Loss.(type) {
	case CrossEntropy, *CrossEntropy:
		loss = "cross-entropy"
	case MSE, *MSE:
		loss = "mse"
	default:
		// Resuming could not continue the same run.
		return fmt.Errorf("%w: a checkpoint records CrossEntropy or MSE, not the loss %T", ErrProblem, t.set.Loss)
	}
	model, err := t.d.Encode(F64)
	if err != nil {
		return err
	}
	f, err := t.d.file()
	if err != nil {
		return err
	}
	meta := map[string]string{
		stateEpoch:  strconv.Itoa(t.epoch),
		stateStep:   strconv.Itoa(t.stepInEpoch),
		stateAdam:   strconv.Itoa(t.adamStep),
		stateSeed:   strconv.FormatUint(t.set.Seed, 10),
		stateBatch:  strconv.Itoa(t.set.BatchSize),
		stateLR:     strconv.FormatFloat(t.set.LearningRate, 'g', -1, 64),
		stateFreeze: strconv.FormatBool(t.set.FreezeCore),
		stateLoss:   loss,
		stateMode:   t.set.Gradient.Mode.String(),
		stateAllow:  strconv.FormatBool(t.set.Gradient.AllowUnconverged),
	}
	putSolver(meta, "train.forward.", t.set.Gradient.Forward)
	putSolver(meta, "train.backward.", t.set.Gradient.Backward)
	for k, v := range meta {
		f.Metadata[k] = v
	}
	for k := range t.m1 {
		f.Tensors = append(f.Tensors,
			safetensors.Tensor{Name: momentPrefix1 + strconv.Itoa(k), Shape: []int{len(t.m1[k])}, Data: t.m1[k]},
			safetensors.Tensor{Name: momentPrefix2 + strconv.Itoa(k), Shape: []int{len(t.m2[k])}, Data: t.m2[k]})
	}
	state, err := safetensors.Encode(f, F64)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path+StateSuffix, state, 0o644); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, model, 0o644)
}

// putSolver records a solve's settings: the method's name (its parameters
// are the defaults when resumed), tolerances and iteration limit.
func putSolver(meta map[string]string, prefix string, s Settings) {
	if s.Method != nil {
		meta[prefix+stateSolver] = s.Method.String()
	}
	meta[prefix+stateRelTol] = strconv.FormatFloat(s.RelTol, 'g', -1, 64)
	meta[prefix+stateAbsTol] = strconv.FormatFloat(s.AbsTol, 'g', -1, 64)
	meta[prefix+stateMaxIter] = strconv.Itoa(s.MaxIter)
}

// ResumeTrainer continues the run whose checkpoint was written to path,
// from the training state beside it alone. The run's seed, batch size,
// learning rate, loss, gradient mode and FreezeCore come from the state, so
// that the run continues exactly as it would have; so do the solvers'
// settings, except those s sets (a method, a tolerance, an iteration limit).
func ResumeTrainer(path string, s TrainSettings) (*Trainer, error) {
	statePath := path + StateSuffix
	b, err := os.ReadFile(statePath)
	if err != nil {
		return nil, fmt.Errorf("resuming needs the training state written beside the model: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: training state %s: %s", ErrModel, statePath, fmt.Sprintf(format, args...))
	}
	f, err := safetensors.Decode(b)
	if err != nil {
		return nil, bad("%v", err)
	}
	meta := f.Metadata
	model := &safetensors.File{Metadata: meta}
	moments := map[string][]float64{}
	for _, tn := range f.Tensors {
		if strings.HasPrefix(tn.Name, "train.") {
			moments[tn.Name] = tn.Data
		} else {
			model.Tensors = append(model.Tensors, tn)
		}
	}
	d, err := denseFromFile(model)
	if err != nil {
		return nil, fmt.Errorf("training state %s: %w", statePath, err)
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
	if s.FreezeCore, err = strconv.ParseBool(meta[stateFreeze]); err != nil {
		return nil, bad("%s=%q", stateFreeze, meta[stateFreeze])
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
	switch meta[stateMode] {
	case Implicit.String():
		s.Gradient.Mode = Implicit
	case JacobianFree.String():
		s.Gradient.Mode = JacobianFree
	default:
		return nil, bad("%s=%q", stateMode, meta[stateMode])
	}
	for _, sv := range []struct {
		prefix string
		dst    *Settings
	}{{"train.forward.", &s.Gradient.Forward}, {"train.backward.", &s.Gradient.Backward}} {
		if err := getSolver(meta, sv.prefix, sv.dst); err != nil {
			return nil, bad("%v", err)
		}
	}

	t, err := NewTrainer(d, s)
	if err != nil {
		return nil, err
	}
	if len(moments) != 2*len(t.m1) {
		return nil, bad("%d moment tensors, want %d", len(moments), 2*len(t.m1))
	}
	for k := range t.m1 {
		m1, m2 := moments[momentPrefix1+strconv.Itoa(k)], moments[momentPrefix2+strconv.Itoa(k)]
		if len(m1) != len(t.m1[k]) || len(m2) != len(t.m2[k]) {
			return nil, bad("moment tensor %d has the wrong size", k)
		}
		copy(t.m1[k], m1)
		copy(t.m2[k], m2)
	}
	t.epoch, t.stepInEpoch, t.adamStep = epoch, step, adam
	return t, nil
}

// getSolver restores the solve settings putSolver recorded into s, where s
// does not set them already.
func getSolver(meta map[string]string, prefix string, s *Settings) error {
	if name, ok := meta[prefix+stateSolver]; ok && s.Method == nil {
		m, err := MethodByName(name)
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
