package core

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"

	"github.com/implicitlab/implicit/core/internal/safetensors"
	"github.com/implicitlab/implicit/internal/atomicfile"
)

// A checkpoint is two files: the model file itself (usable anywhere a model
// is), and beside it, at the model's path plus StateSuffix, the training
// state that resuming needs: the epoch and step, Adam's moments and the
// run's settings. The state records the model file's SHA-256, so a state
// is never resumed with a model it does not belong to.
const StateSuffix = ".state"

const (
	stateEpoch   = "train.epoch"
	stateStep    = "train.step"
	stateAdam    = "train.adam_step"
	stateSeed    = "train.seed"
	stateBatch   = "train.batch_size"
	stateLR      = "train.learning_rate"
	stateFreeze  = "train.freeze_core"
	stateLoss    = "train.loss"
	stateMode    = "train.gradient"
	stateModelID = "train.model_sha256"
)

// WriteCheckpoint writes the model to path and the training state beside
// it, each atomically. The run's loss must be CrossEntropy or MSE, the
// losses a checkpoint can record.
func (t *Trainer) WriteCheckpoint(path string) error {
	model, err := t.d.Encode(F64)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(model)
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
	f := &safetensors.File{Metadata: map[string]string{
		stateEpoch:   strconv.Itoa(t.epoch),
		stateStep:    strconv.Itoa(t.stepInEpoch),
		stateAdam:    strconv.Itoa(t.adamStep),
		stateSeed:    strconv.FormatUint(t.set.Seed, 10),
		stateBatch:   strconv.Itoa(t.set.BatchSize),
		stateLR:      strconv.FormatFloat(t.set.LearningRate, 'g', -1, 64),
		stateFreeze:  strconv.FormatBool(t.set.FreezeCore),
		stateLoss:    loss,
		stateMode:    t.set.Gradient.Mode.String(),
		stateModelID: hex.EncodeToString(sum[:]),
	}}
	for k := range t.m1 {
		f.Tensors = append(f.Tensors,
			safetensors.Tensor{Name: "m1." + strconv.Itoa(k), Shape: []int{len(t.m1[k])}, Data: t.m1[k]},
			safetensors.Tensor{Name: "m2." + strconv.Itoa(k), Shape: []int{len(t.m2[k])}, Data: t.m2[k]})
	}
	state, err := safetensors.Encode(f, F64)
	if err != nil {
		return err
	}
	// The state goes first: a crash between the two writes leaves a state
	// whose hash does not match the old model, which resuming rejects.
	if err := atomicfile.WriteFile(path+StateSuffix, state, 0o644); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, model, 0o644)
}

// ResumeTrainer reads a checkpoint written by WriteCheckpoint. The run's
// seed, batch size, learning rate, loss, gradient mode and FreezeCore come
// from the checkpoint, so that the run continues exactly as it would have;
// the solver settings come from s.
func ResumeTrainer(path string, s TrainSettings) (*Trainer, error) {
	model, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d, err := DecodeDense(model)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b, err := os.ReadFile(path + StateSuffix)
	if err != nil {
		return nil, fmt.Errorf("resuming needs the training state written beside the model: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: training state %s: %s", ErrModel, path+StateSuffix, fmt.Sprintf(format, args...))
	}
	f, err := safetensors.Decode(b)
	if err != nil {
		return nil, bad("%v", err)
	}
	meta := f.Metadata
	sum := sha256.Sum256(model)
	if meta[stateModelID] != hex.EncodeToString(sum[:]) {
		return nil, bad("it belongs to another version of the model file (SHA-256 mismatch)")
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
	t, err := NewTrainer(d, s)
	if err != nil {
		return nil, err
	}
	if len(f.Tensors) != 2*len(t.m1) {
		return nil, bad("%d moment tensors, want %d", len(f.Tensors), 2*len(t.m1))
	}
	byName := map[string][]float64{}
	for _, tn := range f.Tensors {
		byName[tn.Name] = tn.Data
	}
	for k := range t.m1 {
		m1, m2 := byName["m1."+strconv.Itoa(k)], byName["m2."+strconv.Itoa(k)]
		if len(m1) != len(t.m1[k]) || len(m2) != len(t.m2[k]) {
			return nil, bad("moment tensor %d has the wrong size", k)
		}
		copy(t.m1[k], m1)
		copy(t.m2[k], m2)
	}
	t.epoch, t.stepInEpoch, t.adamStep = epoch, step, adam
	return t, nil
}
