package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
	jacobianPenalty   float64
	jacobianPower     int
	allowUnconverged  bool
	quiet, json       bool
	solver            solverFlags
	conv              models.ConvRecipe
	image             string
	// changed lists the flags given on the command line, for --resume,
	// which continues a run with its own settings.
	changed []string
}

// runFlags are the flags that fix a run; a resumed run keeps its own.
var runFlags = []string{"arch", "hidden", "param", "activation", "monotone-m", "batch", "lr", "seed", "gradient", "jacobian-penalty", "jacobian-power-steps", "allow-unconverged",
	"channels", "inner", "groups", "pool", "depth", "cell-std", "image"}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train --data digits --out model.safetensors",
		Short: "Train an implicit model (deq-dense, deq-conv) or its explicit baseline by implicit differentiation",
		Long: `Train fits a classifier with Adam on mini-batches, its gradients from
implicit differentiation (or the Jacobian-free approximation), and writes the
model file and its training state (a checkpoint) after every epoch. Ctrl-C
saves a checkpoint of the last finished step and exits; --resume continues the
run exactly where it stopped, with its own settings (giving --hidden, --lr,
--batch, --seed or another flag that fixes a run with --resume is an error;
--epochs and the solver flags may be given again).

Progress goes to standard error: a bar on a terminal, a line an epoch into a
pipe or a log (--quiet: none). The result goes to standard output, as two
lines or, with --json, one JSON object: model, kind, description, params,
data, epochs (run now), total_epochs, seconds, loss and train_accuracy (the
last epoch's), holdout_accuracy, holdout_samples, mean_iterations and
max_iterations (the hold-out solve's), and with --jacobian-penalty jacobian
(the last epoch's mean estimate of ‖J‖²_F/d, d the state's size, or with
--jacobian-power-steps of σ_max(J)²).

--arch picks the model:
  implicit  deq-dense, z* = σ(W z* + U x + b), y = C z* + c (--hidden, --param, --activation, --monotone-m)
  mlp       its explicit baseline y = C σ(U x + b) + c (one evaluation, no fixed point)
  conv      deq-conv, the Deep Implicit Layers tutorial's convolutional cell on images
            (--image, --channels, --inner, --groups, --pool, --cell-std)
  cnn       its explicit counterpart: the same layers with --depth untied cells,
            run once (depth 1 has exactly deq-conv's parameters)
The explicit ones train with the same optimiser, batches and loss.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.resume != "" && !cmd.Flags().Changed("out") {
				f.out = f.resume // a resumed run goes on saving where it was
			}
			cmd.Flags().Visit(func(fl *pflag.Flag) { f.changed = append(f.changed, fl.Name) })
			if f.arch == "conv" && !cmd.Flags().Changed("allow-unconverged") {
				// A convolutional cell is not contractive by construction:
				// some samples stall short of the tolerance as it learns.
				f.allowUnconverged = true
			}
			return runTrain(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "digits", "data set: digits (built in) or a CSV whose last column is the class label")
	fl.StringVar(&f.out, "out", "model.safetensors", "model file to write (the training state goes beside it, with .state appended); with --resume, the checkpoint's own path")
	fl.StringVar(&f.resume, "resume", "", "continue the run saved in this checkpoint (its model file); its settings, solvers' included, carry over unless given again")
	fl.StringVar(&f.arch, "arch", "implicit", "implicit (deq-dense), mlp (its explicit baseline), conv (deq-conv) or cnn (its explicit counterpart)")
	// The defaults are the recipe of the embedded quick-start model.
	def := models.DigitsRecipe
	fl.IntVar(&f.hidden, "hidden", def.Hidden, "hidden units h")
	fl.StringVar(&f.param, "param", string(def.Param), "parametrisation of W: monotone or direct")
	fl.StringVar(&f.activation, "activation", string(def.Activation), "σ: relu, tanh or identity")
	fl.Float64Var(&f.monotone, "monotone-m", def.Monotone, "m of the monotone parametrisation")
	fl.IntVar(&f.epochs, "epochs", def.Epochs, "passes over the training data")
	fl.IntVar(&f.batch, "batch", def.BatchSize, "samples a step")
	fl.Float64Var(&f.lr, "lr", def.LearningRate, "Adam learning rate")
	dc := models.DigitsConv
	fl.StringVar(&f.image, "image", "", "conv, cnn: the input images as HxWxC (height, width, channels; default 8x8x1 for the digits)")
	fl.IntVar(&f.conv.Channels, "channels", dc.Channels, "conv, cnn: channels C of the state")
	fl.IntVar(&f.conv.Inner, "inner", dc.Inner, "conv, cnn: inner channels I of the cell")
	fl.IntVar(&f.conv.Groups, "groups", dc.Groups, "conv, cnn: groups G of the GroupNorms (divides C and I)")
	fl.IntVar(&f.conv.Pool, "pool", dc.Pool, "conv, cnn: average pooling P before the head (divides H and W)")
	fl.IntVar(&f.conv.Depth, "depth", 1, "cnn: cells")
	fl.Float64Var(&f.conv.CellStd, "cell-std", 0.01, "conv, cnn: standard deviation of the cell's initial convolution weights")
	fl.Uint64Var(&f.seed, "seed", def.Seed, "seed of the initial weights and of the sample order")
	fl.StringVar(&f.gradient, "gradient", "implicit", "implicit (adjoint solve) or jacobian-free")
	fl.Float64Var(&f.jacobianPenalty, "jacobian-penalty", 0, "implicit, conv: add γ·‖J_f(z*)‖²_F/d (d the state's size) to the loss (Bai et al. 2021's Jacobian regularisation, one Gaussian probe a sample), which keeps the layer contractive; 0: none")
	fl.IntVar(&f.jacobianPower, "jacobian-power-steps", 0, "with --jacobian-penalty: power iterations that turn its probes into top singular vectors, so that it penalises σ_max(J)², the contraction factor (0: Gaussian probes, ‖J‖²_F/d)")
	fl.BoolVar(&f.allowUnconverged, "allow-unconverged", false, "use a forward or adjoint solve that stopped at its iteration limit (its gradient is then approximate, as DEQ training libraries allow) instead of stopping the run; the default for --arch conv")
	fl.BoolVar(&f.quiet, "quiet", false, "no progress (a bar on a terminal, else a line an epoch, on standard error)")
	fl.BoolVar(&f.json, "json", false, "print the result as one JSON object on standard output (the progress stays on standard error)")
	f.solver.register(cmd)
	return cmd
}

func runTrain(ctx context.Context, stdout, stderr io.Writer, f trainFlags) error {
	if err := checkOutputs(f.out); err != nil { // the state goes beside it
		return err
	}
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
	gs := train.GradientSettings{Forward: fwd, Backward: api.Settings{MaxIter: fwd.MaxIter, RelTol: fwd.RelTol}, AllowUnconverged: f.allowUnconverged,
		JacobianPenalty: f.jacobianPenalty, JacobianPowerSteps: f.jacobianPower}
	if err := gs.CheckJacobianPenalty(); err != nil {
		return fmt.Errorf("--jacobian-penalty %v, --jacobian-power-steps %d: %w", f.jacobianPenalty, f.jacobianPower, err)
	}
	if f.jacobianPenalty > 0 && (f.arch == "mlp" || f.arch == "cnn") {
		return fmt.Errorf("--jacobian-penalty with --arch %s: an explicit network has no fixed point to keep stable", f.arch)
	}
	switch f.gradient {
	case "implicit":
	case "jacobian-free":
		gs.Mode = train.JacobianFree
	default:
		return fmt.Errorf("--gradient %q: want implicit or jacobian-free", f.gradient)
	}
	var tr *train.Trainer
	if f.resume != "" {
		for _, name := range f.changed {
			if slices.Contains(runFlags, name) {
				return fmt.Errorf("--%s with --resume: a resumed run continues with its own settings (start a new run to change them)", name)
			}
		}
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
		case "conv", "cnn":
			c := f.conv
			c.Tol, c.MaxIter = models.DigitsConv.Tol, models.DigitsConv.MaxIter
			if c.Height, c.Width, c.InChannels, err = parseImage(f.image, set.Name); err != nil {
				return err
			}
			if f.arch == "conv" {
				c.Depth = 0
			} else if c.Depth < 1 {
				return fmt.Errorf("--depth %d: a cnn has at least one cell", c.Depth)
			}
			r.Conv = &c
		default:
			return fmt.Errorf("--arch %q: want implicit, mlp, conv or cnn", f.arch)
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
	// A bar redrawn with \r on a terminal; into a pipe or a CI log, a
	// line an epoch.
	terminal := isTerminal(stderr)
	bar := progressbar.NewOptions((f.epochs-startEpoch)*stepsPerEpoch-startStep,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetVisibility(!f.quiet && terminal),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(24),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	// Running means over the epoch so far, for the bar.
	var loss, iters, jacobian float64
	var correct, seen, steps int
	progress := func(epoch int) string {
		line := fmt.Sprintf("epoch %d/%d  loss %.4f  acc %.3f  iters %.1f", epoch, f.epochs, loss/float64(max(steps, 1)), float64(correct)/float64(max(seen, 1)), iters/float64(max(steps, 1)))
		switch {
		case jacobian > 0 && f.jacobianPower > 0:
			line += fmt.Sprintf("  σmax(J)² %.3g", jacobian/float64(max(steps, 1)))
		case jacobian > 0:
			line += fmt.Sprintf("  ‖J‖²/d %.3g", jacobian/float64(max(steps, 1)))
		}
		return line
	}
	start := time.Now()
	for e := startEpoch; e < f.epochs; e++ {
		loss, iters, jacobian, correct, seen, steps = 0, 0, 0, 0, 0, 0
		err := tr.Epoch(ctx, data, func(s train.StepStats) {
			loss, iters, jacobian = loss+s.Loss, iters+s.ForwardIters, jacobian+s.Jacobian
			correct, seen, steps = correct+s.Correct, seen+s.Samples, steps+1
			bar.Describe(progress(s.Epoch))
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
		if !f.quiet && !terminal {
			fmt.Fprintf(stderr, "%s  (%.1f s)\n", progress(e+1), time.Since(start).Seconds())
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
	rep := trainReport{Model: f.out, Kind: info.Kind, Description: info.Description, Params: info.Params, Data: set.Name,
		Epochs: f.epochs - startEpoch, TotalEpochs: f.epochs, Seconds: elapsed.Seconds(),
		Loss: loss / float64(max(steps, 1)), TrainAccuracy: float64(correct) / float64(max(seen, 1)),
		HoldOutAccuracy: acc, HoldOutSamples: set.HoldOut.N,
		MeanIterations: float64(out.Result.FuncEvals) / float64(set.HoldOut.N), MaxIterations: out.Result.Iterations,
		Jacobian: jacobian / float64(max(steps, 1))}
	if f.json {
		return writeJSON(stdout, rep)
	}
	fmt.Fprintf(stdout, "trained %s (%s, %d parameters) on %s for %d epochs in %.1f s: last epoch loss %.4f, train accuracy %.4f\n",
		rep.Model, describe(info), rep.Params, rep.Data, rep.Epochs, rep.Seconds, rep.Loss, rep.TrainAccuracy)
	fmt.Fprintf(stdout, "hold-out accuracy %.4f (%d samples); forward iterations mean %.1f, max %d\n",
		rep.HoldOutAccuracy, rep.HoldOutSamples, rep.MeanIterations, rep.MaxIterations)
	return nil
}

// trainReport is what implicit train --json prints: the model written, its
// kind, description and parameter count (counted from the model), the
// data, the epochs run in this invocation (and the run's total), the
// seconds they took, the last epoch's mean loss and training accuracy, and
// the hold-out accuracy and forward iterations (mean, max) of the model
// solved with the run's settings.
type trainReport struct {
	Model           string  `json:"model"`
	Kind            string  `json:"kind"`
	Description     string  `json:"description"`
	Params          int     `json:"params"`
	Data            string  `json:"data"`
	Epochs          int     `json:"epochs"`
	TotalEpochs     int     `json:"total_epochs"`
	Seconds         float64 `json:"seconds"`
	Loss            float64 `json:"loss"`
	TrainAccuracy   float64 `json:"train_accuracy"`
	HoldOutAccuracy float64 `json:"holdout_accuracy"`
	HoldOutSamples  int     `json:"holdout_samples"`
	MeanIterations  float64 `json:"mean_iterations"`
	MaxIterations   int     `json:"max_iterations"`
	// Jacobian is the last epoch's mean estimate of ‖J_f(z*)‖²_F / d (or,
	// with power steps, of σ_max²), in a run with a Jacobian penalty.
	Jacobian float64 `json:"jacobian,omitempty"`
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
	state, err := readModelFile(statePath)
	if err != nil {
		return nil, fmt.Errorf("resuming needs the training state written beside the model: %w", err)
	}
	tr, err := train.Resume(state, s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", statePath, err)
	}
	return tr, nil
}

// parseImage reads --image HxWxC; the digits' default is 8x8x1.
func parseImage(spec, data string) (h, w, c int, err error) {
	if spec == "" {
		if data != "digits" {
			return 0, 0, 0, fmt.Errorf("--image is needed for %s: the images' height, width and channels, as HxWxC", data)
		}
		d := models.DigitsConv
		return d.Height, d.Width, d.InChannels, nil
	}
	parts := strings.Split(spec, "x")
	v := make([]int, len(parts))
	for i, p := range parts {
		if v[i], err = strconv.Atoi(p); err != nil || v[i] < 1 || v[i] > 1<<12 {
			return 0, 0, 0, fmt.Errorf("--image %q: want HxWxC, three whole numbers from 1 to 4096", spec)
		}
	}
	if len(v) != 3 {
		return 0, 0, 0, fmt.Errorf("--image %q: want HxWxC, three whole numbers from 1 to 4096", spec)
	}
	return v[0], v[1], v[2], nil
}
