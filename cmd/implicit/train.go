package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
	"github.com/implicitlab/implicit/internal/atomicfile"
	"github.com/implicitlab/implicit/internal/datasets"
	"github.com/implicitlab/implicit/internal/models"
)

// errInterrupted ends a run that Ctrl-C stopped after it saved its work;
// main exits with status 130 for it, as shells do for SIGINT.
var errInterrupted = errors.New("interrupted")

// trainFlags are the options of implicit train.
type trainFlags struct {
	data, out, resume string
	arch              string
	hidden            int
	param, activation string
	monotone          float64
	epochs, batch     int
	lr                float64
	seed              uint64
	gradient          string
	quiet             bool
	solver            solverFlags
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train --data digits --out model.safetensors",
		Short: "Train a deq-dense model (or the mlp baseline) by implicit differentiation",
		Long: `Train fits a deq-dense classifier with Adam on mini-batches, its gradients
from implicit differentiation (or the Jacobian-free approximation), and writes
the model file and its training state (a checkpoint) after every epoch.
Ctrl-C saves a checkpoint of the last finished step and exits; --resume
continues the run exactly where it stopped.

--arch mlp trains the explicit baseline, the mlp kind y = C σ(U x + b) + c
(one evaluation, no fixed point), with the same optimiser, batches and loss.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.resume != "" && !cmd.Flags().Changed("out") {
				f.out = f.resume // a resumed run goes on saving where it was
			}
			return runTrain(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "digits", "data set: digits (built in) or a CSV whose last column is the class label")
	fl.StringVar(&f.out, "out", "model.safetensors", "model file to write (the training state goes beside it, with .state appended); with --resume, the checkpoint's own path")
	fl.StringVar(&f.resume, "resume", "", "continue the run saved in this checkpoint (its model file); its settings, solvers' included, carry over unless given again")
	fl.StringVar(&f.arch, "arch", "implicit", "implicit, or mlp for the explicit baseline")
	// The defaults are the recipe of the embedded quick-start model.
	def := models.DigitsRecipe
	fl.IntVar(&f.hidden, "hidden", def.Hidden, "hidden units h")
	fl.StringVar(&f.param, "param", string(def.Param), "parametrisation of W: monotone or direct")
	fl.StringVar(&f.activation, "activation", string(def.Activation), "σ: relu, tanh or identity")
	fl.Float64Var(&f.monotone, "monotone-m", def.Monotone, "m of the monotone parametrisation")
	fl.IntVar(&f.epochs, "epochs", def.Epochs, "passes over the training data")
	fl.IntVar(&f.batch, "batch", def.BatchSize, "samples a step")
	fl.Float64Var(&f.lr, "lr", def.LearningRate, "Adam learning rate")
	fl.Uint64Var(&f.seed, "seed", def.Seed, "seed of the initial weights and of the sample order")
	fl.StringVar(&f.gradient, "gradient", "implicit", "implicit (adjoint solve) or jacobian-free")
	fl.BoolVar(&f.quiet, "quiet", false, "no progress bar")
	f.solver.register(cmd)
	return cmd
}

func runTrain(ctx context.Context, stdout, stderr io.Writer, f trainFlags) error {
	set, err := datasets.Load(f.data)
	if err != nil {
		return err
	}
	fwd, err := f.solver.settings()
	if err != nil {
		return err
	}
	// The iteration limit and tolerance bound the adjoint solve too: a
	// layer that needs more forward iterations needs more adjoint ones.
	gs := train.GradientSettings{Forward: fwd, Backward: api.Settings{MaxIter: fwd.MaxIter, RelTol: fwd.RelTol}}
	switch f.gradient {
	case "implicit":
	case "jacobian-free":
		gs.Mode = train.JacobianFree
	default:
		return fmt.Errorf("--gradient %q: want implicit or jacobian-free", f.gradient)
	}
	var tr *train.Trainer
	if f.resume != "" {
		if tr, err = resumeCheckpoint(f.resume, train.TrainSettings{Gradient: gs}); err != nil {
			return err
		}
		if p := tr.Model().Sizes().In; p != set.Features {
			return fmt.Errorf("%s takes %d inputs, the data has %d features", f.resume, p, set.Features)
		}
	} else {
		r := models.Recipe{Hidden: f.hidden, Param: model.Parametrization(f.param), Activation: model.Activation(f.activation),
			Monotone: f.monotone, Epochs: f.epochs, BatchSize: f.batch, LearningRate: f.lr, Seed: f.seed, Gradient: gs}
		switch f.arch {
		case "implicit":
		case "mlp":
			r.MLP = true
		default:
			return fmt.Errorf("--arch %q: want implicit or mlp", f.arch)
		}
		if tr, err = r.NewTrainer(set.Features, set.Classes); err != nil {
			return err
		}
	}
	data := train.Data{X: set.Train.X, Target: set.Train.Labels, N: set.Train.N}
	bs := tr.Settings().BatchSize
	stepsPerEpoch := (data.N + bs - 1) / bs
	startEpoch, startStep := tr.Progress()
	if startEpoch >= f.epochs {
		return fmt.Errorf("the checkpoint has finished %d epochs already; ask for more with --epochs", startEpoch)
	}
	bar := progressbar.NewOptions((f.epochs-startEpoch)*stepsPerEpoch-startStep,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetVisibility(!f.quiet),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(24),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	// Running means over the epoch so far, for the bar.
	var loss, iters float64
	var correct, seen, steps int
	start := time.Now()
	for e := startEpoch; e < f.epochs; e++ {
		loss, iters, correct, seen, steps = 0, 0, 0, 0, 0
		err := tr.Epoch(ctx, data, func(s train.StepStats) {
			loss, iters = loss+s.Loss, iters+s.ForwardIters
			correct, seen, steps = correct+s.Correct, seen+s.Samples, steps+1
			bar.Describe(fmt.Sprintf("epoch %d/%d  loss %.4f  acc %.3f  iters %.1f", s.Epoch, f.epochs, loss/float64(steps), float64(correct)/float64(seen), iters/float64(steps)))
			_ = bar.Add(1)
		})
		if err != nil {
			_ = bar.Exit()
			if ctx.Err() != nil {
				if werr := writeCheckpoint(tr, f.out); werr != nil {
					return fmt.Errorf("interrupted, and saving the checkpoint failed: %w", werr)
				}
				ep, st := tr.Progress()
				fmt.Fprintf(stderr, "\ninterrupted in epoch %d after step %d; checkpoint saved to %s\nresume with: implicit train --resume %s --epochs %d\n", ep+1, st, f.out, f.out, f.epochs)
				return errInterrupted
			}
			if e > startEpoch || f.resume != "" { // a checkpoint from before this epoch is on disk
				return fmt.Errorf("epoch %d: %w\nthe last checkpoint is in %s; resume with: implicit train --resume %s --epochs %d (and, for a solve that stopped short, a larger --max-iter)",
					e+1, err, f.out, f.out, f.epochs)
			}
			return err
		}
		if err := writeCheckpoint(tr, f.out); err != nil {
			return err
		}
	}
	_ = bar.Finish()
	elapsed := time.Since(start)
	m, err := model.New(tr.Model())
	if err != nil {
		return err
	}
	out, err := m.Infer(ctx, set.HoldOut.X, fwd)
	if err != nil {
		return err
	}
	info := m.Info()
	acc, err := train.Accuracy(out.Y, set.HoldOut.Labels, info.Out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "trained %s (%s, %d parameters) on %s for %d epochs in %.1f s: last epoch loss %.4f, train accuracy %.4f\n",
		f.out, describe(info), info.Params, set.Name, f.epochs-startEpoch, elapsed.Seconds(), loss/float64(max(steps, 1)), float64(correct)/float64(max(seen, 1)))
	fmt.Fprintf(stdout, "hold-out accuracy %.4f (%d samples); forward iterations mean %.1f, max %d\n",
		acc, set.HoldOut.N, float64(out.Result.FuncEvals)/float64(set.HoldOut.N), out.Result.Iterations)
	return nil
}

// writeCheckpoint writes the run's training state beside path, then its
// model file to path, each atomically: a crash between the two leaves a
// state to resume from.
func writeCheckpoint(tr *train.Trainer, path string) error {
	state, file, err := tr.Checkpoint()
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path+train.StateSuffix, state, 0o644); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, file, 0o644)
}

// resumeCheckpoint continues the run whose checkpoint is the model file at
// path, from the training state beside it.
func resumeCheckpoint(path string, s train.TrainSettings) (*train.Trainer, error) {
	statePath := path + train.StateSuffix
	state, err := os.ReadFile(statePath)
	if err != nil {
		return nil, fmt.Errorf("resuming needs the training state written beside the model: %w", err)
	}
	tr, err := train.Resume(state, s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", statePath, err)
	}
	return tr, nil
}
