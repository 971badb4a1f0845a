package models

import (
	"context"
	"os"
	"reflect"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
	"github.com/implicitlab/implicit/internal/datasets"
)

func TestDigitsModel(t *testing.T) {
	d, err := Digits()
	if err != nil {
		t.Fatal(err)
	}
	set, err := datasets.Digits()
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(d)
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Infer(context.Background(), set.HoldOut.X, api.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := train.Accuracy(out.Y, set.HoldOut.Labels, set.Classes)
	if err != nil {
		t.Fatal(err)
	}
	if acc < 0.97 {
		t.Errorf("hold-out accuracy %.4f, want at least 0.97", acc)
	}
	t.Logf("hold-out accuracy %.4f", acc)
}

// The embedded model must be what the recipe trains, so that nothing about
// it is taken on trust. Training is deterministic for a given kernel; the
// file was made with the amd64 assembly kernel.
func TestDigitsModelIsTheRecipesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for 30 epochs")
	}
	if model.Kernel() != "avx2+fma assembly" {
		t.Skipf("the embedded model was trained with the assembly kernel; this build runs %s, which rounds differently", model.Kernel())
	}
	set, err := datasets.Digits()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := DigitsRecipe.NewTrainer(set.Features, set.Classes)
	if err != nil {
		t.Fatal(err)
	}
	data := train.Data{X: set.Train.X, Target: set.Train.Labels, N: set.Train.N}
	for range DigitsRecipe.Epochs {
		if err := tr.Epoch(context.Background(), data, nil); err != nil {
			t.Fatal(err)
		}
	}
	want, err := Digits()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tr.Model(), want) {
		t.Error("retraining with DigitsRecipe does not give the embedded model: regenerate it with go generate ./internal/models")
	}
}

// The embedded convolutional model is what its recipe trains. The run takes
// minutes, so it needs IMPLICIT_RETRAIN=1 (CI sets it, without -race).
func TestDigitsConvModelIsTheRecipesRun(t *testing.T) {
	if os.Getenv("IMPLICIT_RETRAIN") == "" {
		t.Skip("trains deq-conv for 10 epochs, some minutes: set IMPLICIT_RETRAIN=1")
	}
	if model.Kernel() != "avx2+fma assembly" {
		t.Skipf("the embedded model was trained with the assembly kernel; this build runs %s, which rounds differently", model.Kernel())
	}
	set, err := datasets.Digits()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := DigitsConvRecipe.NewTrainer(set.Features, set.Classes)
	if err != nil {
		t.Fatal(err)
	}
	data := train.Data{X: set.Train.X, Target: set.Train.Labels, N: set.Train.N}
	for range DigitsConvRecipe.Epochs {
		if err := tr.Epoch(context.Background(), data, nil); err != nil {
			t.Fatal(err)
		}
	}
	want, err := model.Decode(DigitsConvFile())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tr.Model(), want) {
		t.Error("retraining with DigitsConvRecipe does not give the embedded model: regenerate it with go generate ./internal/models")
	}
}
