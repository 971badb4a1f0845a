package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/implicitlab/implicit/core/scale"
	"github.com/implicitlab/implicit/core/train"
	"github.com/implicitlab/implicit/internal/datasets"
	"github.com/implicitlab/implicit/internal/models"
	"github.com/implicitlab/implicit/internal/scalereport"
)

// quickStart is what `implicit` does with no command: it loads the embedded
// digits model, solves the hold-out set and prints the test-time compute
// table. It needs no flags, files or network.
func quickStart(cmd *cobra.Command, f *scaleFlags, runtime string) error {
	// With --json the table alone goes to standard output, the prose
	// around it to standard error.
	ctx, stdout, w := cmd.Context(), cmd.OutOrStdout(), cmd.OutOrStdout()
	if f.json {
		w = cmd.ErrOrStderr()
	}
	set, err := datasets.Digits()
	if err != nil {
		return err
	}
	start := time.Now()
	m, release, err := loadModel(ctx, models.DigitsFile(), runtime)
	if err != nil {
		return err
	}
	defer release()
	loaded := time.Since(start)
	info := m.Info()
	r := models.DigitsRecipe
	fmt.Fprintf(w, "implicit quick start: the embedded digits classifier, %s, %d parameters,\ntrained by `implicit train --data digits` (%d epochs, seed %d), on %d hold-out images (8×8).\nRuntime: %s (ready in %.0f ms).\n\n",
		describe(info), info.Params, r.Epochs, r.Seed, set.HoldOut.N, runtimeLabel(runtime), ms(loaded))

	start = time.Now()
	var defaults solverFlags // the model's own solver settings
	s, err := defaults.settings()
	if err != nil {
		return err
	}
	out, err := m.Infer(ctx, set.HoldOut.X, s)
	if err != nil {
		return err
	}
	acc, err := train.Accuracy(out.Y, set.HoldOut.Labels, info.Out)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Solved to the fixed point (%s, default tolerance): accuracy %.4f, iterations mean %.1f, max %d, %.0f ms.\n\n",
		info.Method, acc, float64(out.Result.FuncEvals)/float64(set.HoldOut.N), out.Result.Iterations, ms(time.Since(start)))

	ss, err := f.settings(nil)
	if err != nil {
		return err
	}
	pts, err := scale.Analysis(ctx, m, set.HoldOut.X, set.HoldOut.Labels, train.CrossEntropy{}, ss)
	if err != nil {
		return err
	}
	copies := "8 perturbed copies" // ScaleAnalysis's default
	if k := ss.Perturbations; k == 1 {
		copies = "1 perturbed copy"
	} else if k > 1 {
		copies = fmt.Sprintf("%d perturbed copies", k)
	}
	fmt.Fprintf(w, "Test-time compute: exactly t iterations from z⁰ = 0, the hold-out set and %s of it:\n", copies)
	if err := scalereport.WriteTable(stdout, pts, f.json); err != nil {
		return err
	}
	fmt.Fprint(w, "\n"+scalereport.Summary(pts))
	fmt.Fprint(w, `
Next: implicit train --data digits --out my.safetensors
      implicit scale --model my.safetensors --plot scale.png
      implicit infer --model my.safetensors --input in.csv
      implicit help
`)
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
