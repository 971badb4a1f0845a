package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/implicitlab/implicit/core/train"
	"github.com/implicitlab/implicit/internal/datasets"
)

func newEvalCmd() *cobra.Command {
	var (
		modelPath, data, runtime string
		sf                       solverFlags
	)
	cmd := &cobra.Command{
		Use:   "eval --model M.safetensors --data digits",
		Short: "Report a classifier's hold-out accuracy and iteration statistics",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelPath == "" {
				return errors.New("--model is required")
			}
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
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s, %s) on %s: hold-out accuracy %.4f (%d samples)\n",
				modelPath, describe(info), runtimeLabel(runtime), set.Name, acc, set.HoldOut.N)
			return writeStats(cmd.OutOrStdout(), "text", solverName(s, info), out.Result, set.HoldOut.N, elapsed)
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "model file")
	cmd.Flags().StringVar(&data, "data", "digits", "data set: digits (built in) or a CSV whose last column is the class label")
	registerRuntime(cmd, &runtime, "native")
	sf.register(cmd)
	return cmd
}

// openClassifier loads a data set and opens a model (see openModel) that
// classifies it: p inputs for its features, at least a score a class.
func openClassifier(ctx context.Context, path, runtime, data string) (*datasets.Set, runModel, func(), error) {
	set, err := datasets.Load(data)
	if err != nil {
		return nil, nil, nil, err
	}
	m, release, err := openModel(ctx, path, runtime)
	if err != nil {
		return nil, nil, nil, err
	}
	if info := m.Info(); info.In != set.Features || info.Out < set.Classes {
		release()
		return nil, nil, nil, fmt.Errorf("%s takes %d inputs and gives %d scores; %s has %d features and %d classes", path, info.In, info.Out, set.Name, set.Features, set.Classes)
	}
	return set, m, release, nil
}
