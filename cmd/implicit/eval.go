package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/implicitlab/implicit/core"
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
			set, err := datasets.Load(data)
			if err != nil {
				return err
			}
			s, err := sf.settings()
			if err != nil {
				return err
			}
			d, m, release, err := openModel(cmd.Context(), modelPath, runtime)
			if err != nil {
				return err
			}
			defer release()
			if err := checkFits(m, set, modelPath); err != nil {
				return err
			}
			if s, err = m.Settings(s); err != nil {
				return err
			}
			start := time.Now()
			out, err := m.Infer(cmd.Context(), set.HoldOut.X, s)
			if err != nil {
				return err
			}
			elapsed := time.Since(start)
			_, _, q := m.Sizes()
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s, %s) on %s: hold-out accuracy %.4f (%d samples)\n",
				modelPath, describe(d), runtimeLabel(runtime), set.Name, core.Accuracy(out.Y, set.HoldOut.Labels, q), set.HoldOut.N)
			return writeStats(cmd.OutOrStdout(), "text", s, out.Result, set.HoldOut.N, elapsed)
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "model file")
	cmd.Flags().StringVar(&data, "data", "digits", "data set: digits (built in) or a CSV whose last column is the class label")
	registerRuntime(cmd, &runtime, "native")
	sf.register(cmd)
	return cmd
}

// checkFits says whether a classifier's inputs and outputs fit a data set.
func checkFits(m core.Inferer, set *datasets.Set, name string) error {
	if _, p, q := m.Sizes(); p != set.Features || q < set.Classes {
		return fmt.Errorf("%s takes %d inputs and gives %d scores; %s has %d features and %d classes", name, p, q, set.Name, set.Features, set.Classes)
	}
	return nil
}
