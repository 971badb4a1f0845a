package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/implicitlab/implicit/core/train"
	"github.com/implicitlab/implicit/internal/datasets"
	"github.com/implicitlab/implicit/internal/models"
)

func newEvalCmd() *cobra.Command {
	var (
		modelPath, data, runtime string
		asJSON                   bool
		sf                       solverFlags
	)
	cmd := &cobra.Command{
		Use:   "eval [--model M.safetensors] [--data digits]",
		Short: "Report a classifier's hold-out accuracy and iteration statistics",
		Long: `Eval solves the hold-out part of the data set with the model (by default
the embedded digits model) and reports its accuracy and the solve's
statistics; --json prints them as one JSON object: model, kind, description,
params, runtime, data, accuracy, and stats (infer --stats json's object).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := sf.settings()
			if err != nil {
				return err
			}
			set, m, release, err := openClassifier(cmd.Context(), modelPath, runtime, data)
			if err != nil {
				return err
			}
			defer release()
			info := m.Info()
			start := time.Now()
			out, err := m.Infer(cmd.Context(), set.HoldOut.X, s)
			if err != nil {
				return err
			}
			elapsed := time.Since(start)
			acc, err := train.Accuracy(out.Y, set.HoldOut.Labels, info.Out)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), evalReport{Model: modelName(modelPath), Kind: info.Kind, Description: info.Description, Params: info.Params,
					Runtime: runtime, Data: set.Name, Accuracy: acc, Stats: newSolveStats(solverName(s, info), precisionName(s, info), out.Result, set.HoldOut.N, elapsed)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s, %s) on %s: hold-out accuracy %.4f (%d samples)\n",
				modelName(modelPath), describe(info), runtimeLabel(runtime), set.Name, acc, set.HoldOut.N)
			return writeStats(cmd.OutOrStdout(), "text", solverName(s, info), precisionName(s, info), out.Result, set.HoldOut.N, elapsed)
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "model file (default: the embedded digits model)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as one JSON object on standard output")
	cmd.Flags().StringVar(&data, "data", "digits", "data set: digits (built in) or a CSV whose last column is the class label")
	registerRuntime(cmd, &runtime, "native")
	sf.register(cmd)
	sf.registerWorkers(cmd)
	sf.registerPrecision(cmd)
	return cmd
}

// evalReport is what implicit eval --json prints: the model (its path, or
// "embedded digits model"), its kind, description and parameter count, the
// runtime, the data set, the hold-out accuracy, and the solve's statistics
// in infer --stats json's form.
type evalReport struct {
	Model       string     `json:"model"`
	Kind        string     `json:"kind"`
	Description string     `json:"description"`
	Params      int        `json:"params"`
	Runtime     string     `json:"runtime"`
	Data        string     `json:"data"`
	Accuracy    float64    `json:"accuracy"`
	Stats       solveStats `json:"stats"`
}

// embeddedModel names the model the commands run without --model.
const embeddedModel = "embedded digits model"

// modelName is how the reports name the model at path.
func modelName(path string) string {
	if path == "" {
		return embeddedModel
	}
	return path
}

// openClassifier loads a data set and opens a model (see openModel; the
// embedded digits model if path is "") that classifies it: p inputs for
// its features, at least a score a class.
func openClassifier(ctx context.Context, path, runtime, data string) (*datasets.Set, runModel, func(), error) {
	set, err := datasets.Load(data)
	if err != nil {
		return nil, nil, nil, err
	}
	var (
		m       runModel
		release func()
	)
	if path == "" {
		m, release, err = loadModel(ctx, models.DigitsFile(), runtime)
	} else {
		m, release, err = openModel(ctx, path, runtime)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if info := m.Info(); info.In != set.Features || info.Out < set.Classes {
		release()
		return nil, nil, nil, fmt.Errorf("%s takes %d inputs and gives %d scores; %s has %d features and %d classes", modelName(path), info.In, info.Out, set.Name, set.Features, set.Classes)
	}
	return set, m, release, nil
}
