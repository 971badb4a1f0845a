package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/scale"
	"github.com/implicitlab/implicit/core/train"
	"github.com/implicitlab/implicit/internal/scalereport"
)

// scaleFlags are the options of implicit scale (and of the quick start).
type scaleFlags struct {
	maxBudget, perturbations int
	budgets, plotPath        string
	radius                   float64
	seed                     uint64
	json                     bool
}

func (f *scaleFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntVar(&f.maxBudget, "max-budget", 64, "largest iteration budget T (budgets 1, 2, 4, …, T)")
	fl.StringVar(&f.budgets, "budgets", "", "comma-separated budgets, instead of powers of two")
	fl.IntVar(&f.perturbations, "perturbations", 8, "random input perturbations a sample, for L_t")
	fl.Float64Var(&f.radius, "radius", 0, "perturbation norm ‖δ‖ (default: 1e-3 times the mean input norm)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the perturbations")
	fl.BoolVar(&f.json, "json", false, "print the table as JSON")
}

func (f *scaleFlags) settings(method api.Method) (scale.Settings, error) {
	s := scale.Settings{MaxBudget: f.maxBudget, Perturbations: f.perturbations, Radius: f.radius, Seed: f.seed, Method: method}
	if f.budgets != "" {
		for _, b := range strings.Split(f.budgets, ",") {
			t, err := strconv.Atoi(strings.TrimSpace(b))
			if err != nil || t < 1 {
				return s, fmt.Errorf("--budgets %q: %q is not a whole number ≥ 1", f.budgets, b)
			}
			s.Budgets = append(s.Budgets, t)
		}
	}
	return s, nil
}

func newScaleCmd() *cobra.Command {
	var (
		modelPath, data, solver, runtime string
		f                                scaleFlags
	)
	cmd := &cobra.Command{
		Use:   "scale [--model M.safetensors] [--data digits] [--plot scale.png]",
		Short: "Quality and sensitivity against test-time compute (iterations)",
		Long: `Scale runs the model with exactly t iterations from z⁰ = 0, for t = 1, 2, 4, …,
T, on the hold-out data and on randomly perturbed copies of it, and reports at
each t the accuracy, the loss, the relative residual of the last iterate
evaluated (for plain iteration, the last step ‖z_t − z_{t−1}‖/‖z_t‖) and
the empirical Lipschitz number of the t-step map,
L_t = max over samples and perturbations δ of ‖y_t(x+δ) − y_t(x)‖ / ‖δ‖.
Implicit models are predicted to improve and settle in quality while L_t grows
(Liu, Ding, Osher, Yin, arXiv:2510.03638). --plot writes both curves as a PNG.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutputs(f.plotPath); err != nil {
				return err
			}
			var (
				method api.Method
				err    error
			)
			if solver != "" {
				if method, err = api.MethodByName(solver); err != nil {
					return err
				}
			}
			s, err := f.settings(method)
			if err != nil {
				return err
			}
			set, m, release, err := openClassifier(cmd.Context(), modelPath, runtime, data)
			if err != nil {
				return err
			}
			defer release()
			pts, err := scale.Analysis(cmd.Context(), m, set.HoldOut.X, set.HoldOut.Labels, train.CrossEntropy{}, s)
			if err != nil {
				return err
			}
			if err := scalereport.WriteTable(cmd.OutOrStdout(), pts, f.json); err != nil {
				return err
			}
			if f.plotPath != "" {
				title := fmt.Sprintf("%s on %s hold-out", describe(m.Info()), set.Name)
				if err := scalereport.WritePNG(f.plotPath, title, pts); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "plot written to %s\n", f.plotPath)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "model file (default: the embedded digits model)")
	cmd.Flags().StringVar(&data, "data", "digits", "data set: digits (built in) or a CSV whose last column is the class label")
	cmd.Flags().StringVar(&solver, "solver", "", "iteration to budget (default: the model's own solver)")
	cmd.Flags().StringVar(&f.plotPath, "plot", "", "write a PNG of quality and L_t against t")
	registerRuntime(cmd, &runtime, "native")
	f.register(cmd)
	return cmd
}
