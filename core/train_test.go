package core

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// blobs returns n samples of p features in q Gaussian clusters, labelled by
// cluster.
func blobs(seed uint64, n, p, q int) Data {
	rng := rand.New(rand.NewPCG(seed, 9))
	centres := randVec(rng, q*p, 2)
	d := Data{N: n}
	for i := 0; i < n; i++ {
		c := rng.IntN(q)
		for j := 0; j < p; j++ {
			d.X = append(d.X, centres[c*p+j]+rng.NormFloat64())
		}
		d.Target = append(d.Target, float64(c))
	}
	return d
}

func TestTrainingLearns(t *testing.T) {
	for _, param := range []Parametrization{Direct, Monotone} {
		for _, mode := range []GradientMode{Implicit, JacobianFree} {
			d, err := NewDense(DenseConfig{Hidden: 16, In: 5, Out: 3, Activation: ReLU, Param: param}, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				t.Fatal(err)
			}
			tr, err := NewTrainer(d, TrainSettings{Seed: 3, Gradient: GradientSettings{Mode: mode}})
			if err != nil {
				t.Fatal(err)
			}
			data := blobs(4, 300, 5, 3)
			var first, last StepStats
			for range 10 {
				if err := tr.Epoch(context.Background(), data, func(s StepStats) {
					if first.Samples == 0 {
						first = s
					}
					last = s
				}); err != nil {
					t.Fatal(err)
				}
			}
			m, _ := NewModel(d)
			acc, _, err := m.Accuracy(context.Background(), data.X, data.Target, Settings{})
			if err != nil {
				t.Fatal(err)
			}
			if !(last.Loss < first.Loss/3) || acc < 0.9 {
				t.Errorf("%s/%s: loss %.3f → %.3f, accuracy %.3f", param, mode, first.Loss, last.Loss, acc)
			}
			if last.ForwardIters == 0 || (mode == Implicit) != (last.BackwardIters > 0) {
				t.Errorf("%s/%s: iterations %+v", param, mode, last)
			}
		}
	}
}

// A run interrupted mid-epoch, checkpointed and resumed must end with the
// same parameters, bit for bit, as one that ran straight through.
func TestResumeContinuesExactly(t *testing.T) {
	for _, param := range []Parametrization{Direct, Monotone} {
		t.Run(string(param), func(t *testing.T) {
			data := blobs(5, 100, 4, 3)
			cfg := DenseConfig{Hidden: 8, In: 4, Out: 3, Activation: Tanh, Param: param}
			set := TrainSettings{Seed: 6, BatchSize: 16, LearningRate: 0.01}
			ctx := context.Background()

			straight, _ := NewDense(cfg, rand.New(rand.NewPCG(7, 7)))
			tr, _ := NewTrainer(straight, set)
			for range 3 {
				if err := tr.Epoch(ctx, data, nil); err != nil {
					t.Fatal(err)
				}
			}

			d, _ := NewDense(cfg, rand.New(rand.NewPCG(7, 7)))
			tr, _ = NewTrainer(d, set)
			if err := tr.Epoch(ctx, data, nil); err != nil {
				t.Fatal(err)
			}
			stop, cancel := context.WithCancel(ctx)
			err := tr.Epoch(stop, data, func(s StepStats) {
				if s.Step == 3 {
					cancel() // Ctrl-C, in the middle of epoch 2
				}
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted epoch: %v", err)
			}
			if e, s := tr.Progress(); e != 1 || s != 3 {
				t.Fatalf("progress %d, %d", e, s)
			}
			path := filepath.Join(t.TempDir(), "ckpt.safetensors")
			if err := tr.WriteCheckpoint(path); err != nil {
				t.Fatal(err)
			}
			// The solver settings come from the caller; the run's from the file.
			tr, err = ResumeTrainer(path, TrainSettings{Seed: 999, LearningRate: 1})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := tr.Epoch(ctx, data, nil); err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(tr.Model(), straight) {
				t.Error("resumed run differs from the straight one")
			}
		})
	}
}

// The state is complete on its own: a crash after it was written but before
// the model file was leaves a run that resumes from the state.
func TestResumeFromStateAlone(t *testing.T) {
	dir := t.TempDir()
	d, _ := NewDense(DenseConfig{Hidden: 4, In: 2, Out: 2, Activation: ReLU, Param: Direct}, rand.New(rand.NewPCG(1, 1)))
	fwd := Settings{Method: &Broyden{}, RelTol: 1e-7, MaxIter: 77}
	tr, _ := NewTrainer(d, TrainSettings{Gradient: GradientSettings{Forward: fwd}})
	path := filepath.Join(dir, "m.safetensors")
	if err := tr.WriteCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	want, _ := ReadDenseFile(path)
	if err := os.WriteFile(path, []byte("a crash left this"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ResumeTrainer(path, TrainSettings{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Model(), want) {
		t.Error("the resumed parameters differ from the checkpoint's")
	}
	// The solvers' settings come back, unless the caller sets them.
	if f := got.Settings().Gradient.Forward; f.Method.String() != "broyden" || f.RelTol != 1e-7 || f.MaxIter != 77 {
		t.Errorf("forward settings %+v", f)
	}
	got, _ = ResumeTrainer(path, TrainSettings{Gradient: GradientSettings{Forward: Settings{MaxIter: 5}}})
	if f := got.Settings().Gradient.Forward; f.MaxIter != 5 || f.RelTol != 1e-7 {
		t.Errorf("overridden forward settings %+v", f)
	}

	if err := os.WriteFile(path+StateSuffix, []byte("not a state"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ResumeTrainer(path, TrainSettings{}); !errors.Is(err, ErrModel) {
		t.Errorf("corrupt state: %v", err)
	}
	os.Remove(path + StateSuffix)
	if _, err := ResumeTrainer(path, TrainSettings{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing state: %v", err)
	}
}

// BenchmarkTrainStep shows that a training step's memory does not grow with
// the number of forward iterations: run with -benchmem and compare B/op at
// max-iter 10, 50 and 200 (every solve runs exactly that many iterations).
func BenchmarkTrainStep(b *testing.B) {
	data := blobs(8, 64, 64, 10)
	for _, iters := range []int{10, 50, 200} {
		for _, mode := range []GradientMode{Implicit, JacobianFree} {
			b.Run(fmt.Sprintf("max-iter=%d/%s", iters, mode), func(b *testing.B) {
				d, _ := NewDense(DenseConfig{Hidden: 64, In: 64, Out: 10, Activation: ReLU, Param: Direct}, rand.New(rand.NewPCG(1, 1)))
				exact := Settings{Method: &Picard{}, MaxIter: iters, RelTol: -1}
				tr, _ := NewTrainer(d, TrainSettings{BatchSize: 64, Gradient: GradientSettings{Mode: mode, Forward: exact, Backward: exact, AllowUnconverged: true}})
				b.ReportAllocs()
				for b.Loop() {
					if err := tr.Epoch(context.Background(), data, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// halfMSE is a loss the checkpoint cannot name.
type halfMSE struct{ MSE }

// A checkpoint records the run's loss so that resuming continues the same
// run; a loss it cannot record must be an error, not silently replaced by
// cross-entropy on resume.
func TestCheckpointRecordsTheLoss(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []struct {
		loss Loss
		ok   bool
	}{{MSE{}, true}, {&MSE{}, true}, {CrossEntropy{}, true}, {&CrossEntropy{}, true}, {halfMSE{}, false}} {
		d, _ := NewDense(DenseConfig{Hidden: 4, In: 2, Out: 2, Activation: ReLU, Param: Direct}, rand.New(rand.NewPCG(1, 1)))
		tr, err := NewTrainer(d, TrainSettings{Loss: c.loss})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, fmt.Sprintf("m%d.safetensors", i))
		err = tr.WriteCheckpoint(path)
		if !c.ok {
			if !errors.Is(err, ErrProblem) {
				t.Errorf("%T: WriteCheckpoint: %v, want ErrProblem", c.loss, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%T: %v", c.loss, err)
		}
		back, err := ResumeTrainer(path, TrainSettings{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fmt.Sprintf("%T", back.Settings().Loss), strings.TrimPrefix(fmt.Sprintf("%T", c.loss), "*"); got != want {
			t.Errorf("%T resumes as %s", c.loss, got)
		}
	}
}

// Training's solves get room to grow stiffer: 1000 iterations unless the
// settings or the model file say otherwise.
func TestTrainingSolveLimit(t *testing.T) {
	for _, c := range []struct {
		fileLimit, set, want int
	}{{0, 0, 1000}, {0, 7, 7}, {50, 0, 0}} {
		d := randomDense(1, ReLU, Monotone, 4, 3, 2, 0.5)
		d.Defaults.MaxIter = c.fileLimit
		tr, err := NewTrainer(d, TrainSettings{Gradient: GradientSettings{Forward: Settings{MaxIter: c.set}, Backward: Settings{MaxIter: c.set}}})
		if err != nil {
			t.Fatal(err)
		}
		g := tr.Settings().Gradient
		if g.Forward.MaxIter != c.want || g.Backward.MaxIter != c.want {
			t.Errorf("file limit %d, settings %d: forward %d, backward %d, want %d", c.fileLimit, c.set, g.Forward.MaxIter, g.Backward.MaxIter, c.want)
		}
	}
}
