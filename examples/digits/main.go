// Command digits compares the implicit model of the quick start with an
// explicit MLP of the same parameter count, trained the same way (Adam, the
// same batches, epochs, learning rate and seeds), on the handwritten-digits
// hold-out set; with -conv, also the convolutional implicit model (deq-conv)
// with its explicit counterpart of the same parameters (the cnn kind, its
// layers run once), trained the same way as each other.
//
//	go run ./examples/digits [-seeds 5] [-conv [-conv-epochs 10]]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"text/tabwriter"
	"time"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/train"
	"github.com/implicitlab/implicit/internal/datasets"
	"github.com/implicitlab/implicit/internal/models"
)

func main() {
	seeds := flag.Int("seeds", 5, "train each model with seeds 1 … n")
	conv := flag.Bool("conv", false, "also deq-conv and its explicit counterpart (some minutes a seed)")
	convEpochs := flag.Int("conv-epochs", 10, "epochs of the convolutional models")
	flag.Parse()
	if *seeds < 1 || *seeds > 100 || *convEpochs < 1 || *convEpochs > 1000 {
		log.Fatalf("-seeds %d, -conv-epochs %d: want 1 to 100 and 1 to 1000", *seeds, *convEpochs)
	}
	set, err := datasets.Digits()
	if err != nil {
		log.Fatal(err)
	}
	implicit := models.DigitsRecipe
	mlp := implicit.MatchingMLP(set.Features, set.Classes)

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tparameters\thold-out accuracy by seed\tmean\tmin\tmax\ttraining s (mean)\t")
	type run struct {
		name string
		r    models.Recipe
	}
	runs := []run{{fmt.Sprintf("implicit: monotone relu, h=%d", implicit.Hidden), implicit}, {fmt.Sprintf("explicit MLP, one hidden layer of %d", mlp.Hidden), mlp}}
	if *conv {
		shape := models.DigitsConv
		ci := models.Recipe{Conv: &shape, Epochs: *convEpochs, BatchSize: implicit.BatchSize, LearningRate: implicit.LearningRate,
			Gradient: train.GradientSettings{AllowUnconverged: true}}
		ce := ci.MatchingExplicit(set.Features, set.Classes)
		d := fmt.Sprintf("C=%d, I=%d, G=%d, pool %d, %d epochs", shape.Channels, shape.Inner, shape.Groups, shape.Pool, *convEpochs)
		runs = append(runs, run{"implicit: deq-conv, " + d, ci}, run{"explicit: cnn, depth 1, " + d, ce})
	}
	for _, c := range runs {
		var accs []float64
		var secs float64
		for s := 1; s <= *seeds; s++ {
			c.r.Seed = uint64(s)
			start := time.Now()
			acc, err := trainAndEvaluate(c.r, set)
			if err != nil {
				log.Fatal(err)
			}
			secs += time.Since(start).Seconds() / float64(*seeds)
			accs = append(accs, acc)
		}
		mean, lo, hi := 0.0, 1.0, 0.0
		list := ""
		for _, a := range accs {
			mean += a / float64(len(accs))
			lo, hi = math.Min(lo, a), math.Max(hi, a)
			list += fmt.Sprintf("%.4f ", a)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.4f\t%.4f\t%.4f\t%.1f\t\n", c.name, c.r.Params(set.Features, set.Classes), list, mean, lo, hi, secs)
	}
	tw.Flush()
	fmt.Printf("\n%d epochs (unless said), batch %d, Adam lr %g, cross-entropy, %d training and %d hold-out images.\n",
		implicit.Epochs, implicit.BatchSize, implicit.LearningRate, set.Train.N, set.HoldOut.N)
	if *conv {
		fmt.Printf("deq-conv solves to a relative residual of %g in at most %d iterations, and trains on solves that stop short.\n",
			models.DigitsConv.Tol, models.DigitsConv.MaxIter)
	}
}

func trainAndEvaluate(r models.Recipe, set *datasets.Set) (float64, error) {
	data := train.Data{X: set.Train.X, Target: set.Train.Labels, N: set.Train.N}
	m, err := r.Train(context.Background(), data, set.Features, set.Classes, nil)
	if err != nil {
		return 0, err
	}
	out, err := m.Infer(context.Background(), set.HoldOut.X, api.Settings{})
	if err != nil {
		return 0, err
	}
	return train.Accuracy(out.Y, set.HoldOut.Labels, set.Classes)
}
