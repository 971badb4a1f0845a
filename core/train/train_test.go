package train_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/modeltest"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/core/train"
)

// blobs returns n samples of p features in q Gaussian clusters, labelled by
// cluster.
func blobs(seed uint64, n, p, q int) train.Data {
	rng := rand.New(rand.NewPCG(seed, 9))
	centres := modeltest.RandVec(rng, q*p, 2)
	d := train.Data{N: n}
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
	for _, param := range []model.Parametrization{model.Direct, model.Monotone} {
		for _, mode := range []train.GradientMode{train.Implicit, train.JacobianFree} {
			d, err := model.NewDense(model.DenseConfig{Hidden: 16, In: 5, Out: 3, Activation: model.ReLU, Param: param}, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				t.Fatal(err)
			}
			tr, err := train.NewTrainer(d, train.TrainSettings{Seed: 3, Gradient: train.GradientSettings{Mode: mode}})
			if err != nil {
				t.Fatal(err)
			}
			data := blobs(4, 300, 5, 3)
			var first, last train.StepStats
			for range 10 {
				if err := tr.Epoch(context.Background(), data, func(s train.StepStats) {
					if first.Samples == 0 {
						first = s
					}
					last = s
				}); err != nil {
					t.Fatal(err)
				}
			}
			acc := accuracy(t, d, data)
			if !(last.Loss < first.Loss/3) || acc < 0.9 {
				t.Errorf("%s/%s: loss %.3f → %.3f, accuracy %.3f", param, mode, first.Loss, last.Loss, acc)
			}
			if last.ForwardIters == 0 || (mode == train.Implicit) != (last.BackwardIters > 0) {
				t.Errorf("%s/%s: iterations %+v", param, mode, last)
			}
		}
	}
}

// A run interrupted mid-epoch, checkpointed and resumed must end with the
// same parameters, bit for bit, as one that ran straight through.
func TestResumeContinuesExactly(t *testing.T) {
	for _, kind := range []string{"direct", "monotone", "mlp"} {
		t.Run(kind, func(t *testing.T) {
			data := blobs(5, 100, 4, 3)
			newArch := func() model.Architecture {
				rng := rand.New(rand.NewPCG(7, 7))
				if kind == "mlp" {
					m, _ := model.NewMLP(model.MLPConfig{Hidden: 8, In: 4, Out: 3, Activation: model.Tanh}, rng)
					return m
				}
				d, _ := model.NewDense(model.DenseConfig{Hidden: 8, In: 4, Out: 3, Activation: model.Tanh, Param: model.Parametrization(kind)}, rng)
				return d
			}
			set := train.TrainSettings{Seed: 6, BatchSize: 16, LearningRate: 0.01}
			ctx := context.Background()

			straight := newArch()
			tr, _ := train.NewTrainer(straight, set)
			for range 3 {
				if err := tr.Epoch(ctx, data, nil); err != nil {
					t.Fatal(err)
				}
			}

			tr, _ = train.NewTrainer(newArch(), set)
			if err := tr.Epoch(ctx, data, nil); err != nil {
				t.Fatal(err)
			}
			stop, cancel := context.WithCancel(ctx)
			err := tr.Epoch(stop, data, func(s train.StepStats) {
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
			state, _, err := tr.Checkpoint()
			if err != nil {
				t.Fatal(err)
			}
			// The solver settings come from the caller; the run's from the state.
			tr, err = train.Resume(state, train.TrainSettings{Seed: 999, LearningRate: 1})
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

// The state is complete on its own: the parameters, and the solvers'
// settings unless the caller sets them.
func TestResumeFromState(t *testing.T) {
	d, _ := model.NewDense(model.DenseConfig{Hidden: 4, In: 2, Out: 2, Activation: model.ReLU, Param: model.Direct}, rand.New(rand.NewPCG(1, 1)))
	fwd := api.Settings{Method: &api.Broyden{}, RelTol: 1e-7, MaxIter: 77}
	tr, _ := train.NewTrainer(d, train.TrainSettings{Gradient: train.GradientSettings{Forward: fwd}})
	state, file, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	want, err := model.Decode(file)
	if err != nil {
		t.Fatal(err)
	}
	got, err := train.Resume(state, train.TrainSettings{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Model(), want) {
		t.Error("the resumed parameters differ from the checkpoint's")
	}
	if f := got.Settings().Gradient.Forward; f.Method.String() != "broyden" || f.RelTol != 1e-7 || f.MaxIter != 77 {
		t.Errorf("forward settings %+v", f)
	}
	got, _ = train.Resume(state, train.TrainSettings{Gradient: train.GradientSettings{Forward: api.Settings{MaxIter: 5}}})
	if f := got.Settings().Gradient.Forward; f.MaxIter != 5 || f.RelTol != 1e-7 {
		t.Errorf("overridden forward settings %+v", f)
	}
	for name, b := range map[string][]byte{"not a state": []byte("not a state"), "a model file": file, "truncated": state[:len(state)-8]} {
		if _, err := train.Resume(b, train.TrainSettings{}); !errors.Is(err, api.ErrModel) {
			t.Errorf("%s: %v, want ErrModel", name, err)
		}
	}
}

// BenchmarkTrainStep shows that a training step's memory does not grow with
// the number of forward iterations: run with -benchmem and compare B/op at
// max-iter 10, 50 and 200 (every solve runs exactly that many iterations).
func BenchmarkTrainStep(b *testing.B) {
	data := blobs(8, 64, 64, 10)
	for _, iters := range []int{10, 50, 200} {
		for _, mode := range []train.GradientMode{train.Implicit, train.JacobianFree} {
			b.Run(fmt.Sprintf("max-iter=%d/%s", iters, mode), func(b *testing.B) {
				d, _ := model.NewDense(model.DenseConfig{Hidden: 64, In: 64, Out: 10, Activation: model.ReLU, Param: model.Direct}, rand.New(rand.NewPCG(1, 1)))
				exact := api.Settings{Method: &api.Picard{}, MaxIter: iters, RelTol: -1}
				tr, _ := train.NewTrainer(d, train.TrainSettings{BatchSize: 64, Gradient: train.GradientSettings{Mode: mode, Forward: exact, Backward: exact, AllowUnconverged: true}})
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
type halfMSE struct{ train.MSE }

// A checkpoint records the run's loss so that resuming continues the same
// run; a loss it cannot record must be an error, not silently replaced by
// cross-entropy on resume.
func TestCheckpointRecordsTheLoss(t *testing.T) {
	for _, c := range []struct {
		loss train.Loss
		ok   bool
	}{{train.MSE{}, true}, {&train.MSE{}, true}, {train.CrossEntropy{}, true}, {&train.CrossEntropy{}, true}, {halfMSE{}, false}} {
		d, _ := model.NewDense(model.DenseConfig{Hidden: 4, In: 2, Out: 2, Activation: model.ReLU, Param: model.Direct}, rand.New(rand.NewPCG(1, 1)))
		tr, err := train.NewTrainer(d, train.TrainSettings{Loss: c.loss})
		if err != nil {
			t.Fatal(err)
		}
		state, _, err := tr.Checkpoint()
		if !c.ok {
			if !errors.Is(err, api.ErrProblem) {
				t.Errorf("%T: Checkpoint: %v, want ErrProblem", c.loss, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%T: %v", c.loss, err)
		}
		back, err := train.Resume(state, train.TrainSettings{})
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
		d := modeltest.RandomDense(1, model.ReLU, model.Monotone, 4, 3, 2, 0.5)
		d.Defaults.MaxIter = c.fileLimit
		tr, err := train.NewTrainer(d, train.TrainSettings{Gradient: train.GradientSettings{Forward: api.Settings{MaxIter: c.set}, Backward: api.Settings{MaxIter: c.set}}})
		if err != nil {
			t.Fatal(err)
		}
		g := tr.Settings().Gradient
		if g.Forward.MaxIter != c.want || g.Backward.MaxIter != c.want {
			t.Errorf("file limit %d, settings %d: forward %d, backward %d, want %d", c.fileLimit, c.set, g.Forward.MaxIter, g.Backward.MaxIter, c.want)
		}
	}
}

// accuracy returns a's accuracy on data at the fixed point.
func accuracy(t *testing.T, a model.Architecture, data train.Data) float64 {
	t.Helper()
	m, err := model.New(a)
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Infer(context.Background(), data.X, api.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := train.Accuracy(out.Y, data.Target, m.Info().Out)
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

// An unrolled or phantom run's checkpoint records its steps and damping.
func TestCheckpointRecordsTheUnrolling(t *testing.T) {
	for _, g := range []train.GradientSettings{{Mode: train.Unrolled, Steps: 6}, {Mode: train.Phantom}} {
		d, _ := model.NewDense(model.DenseConfig{Hidden: 4, In: 2, Out: 2, Activation: model.ReLU, Param: model.Direct}, rand.New(rand.NewPCG(1, 1)))
		tr, err := train.NewTrainer(d, train.TrainSettings{Gradient: g})
		if err != nil {
			t.Fatal(err)
		}
		state, _, err := tr.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		back, err := train.Resume(state, train.TrainSettings{})
		if err != nil {
			t.Fatal(err)
		}
		want := map[train.GradientMode][2]float64{train.Unrolled: {6, 1}, train.Phantom: {3, 0.8}}[g.Mode]
		if got := back.Settings().Gradient; got.Mode != g.Mode || got.Steps != int(want[0]) || got.Damping != want[1] {
			t.Errorf("%v resumes as %v, %d steps, damping %v", g.Mode, got.Mode, got.Steps, got.Damping)
		}
	}
	if _, err := train.NewTrainer(modeltest.RandomDense(1, model.ReLU, model.Direct, 2, 2, 1, 1), train.TrainSettings{Gradient: train.GradientSettings{Mode: train.Unrolled}}); !errors.Is(err, api.ErrProblem) {
		t.Errorf("unrolled without steps: %v", err)
	}
}

// A batch size beyond the data (from a flag or a checkpoint) trains on all
// of it a step: the buffers are sized by the data, not by the setting.
func TestBatchLargerThanTheData(t *testing.T) {
	d, err := model.NewDense(model.DenseConfig{Hidden: 4, In: 5, Out: 3, Activation: model.ReLU, Param: model.Monotone}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := train.NewTrainer(d, train.TrainSettings{Seed: 3, BatchSize: 1 << 46})
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	if err := tr.Epoch(context.Background(), blobs(4, 20, 5, 3), func(s train.StepStats) {
		steps++
		if s.Samples != 20 {
			t.Errorf("a step of %d samples, want all 20", s.Samples)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if steps != 1 {
		t.Errorf("%d steps, want 1", steps)
	}
}

// Training with a Jacobian penalty keeps the map's Jacobian smaller than
// the same run without it (whose estimate a negligible γ reports), and its
// solves shorter; the penalty is recorded and a resumed run continues
// exactly.
func TestJacobianPenalty(t *testing.T) {
	data := blobs(8, 200, 4, 3)
	run := func(gamma float64, power, epochs int) (train.StepStats, *train.Trainer) {
		d := modeltest.RandomDense(9, model.Tanh, model.Direct, 12, 4, 3, 0.8)
		tr, err := train.NewTrainer(d, train.TrainSettings{Seed: 2, BatchSize: 20, LearningRate: 0.02, Gradient: train.GradientSettings{JacobianPenalty: gamma, JacobianPowerSteps: power}})
		if err != nil {
			t.Fatal(err)
		}
		var last train.StepStats
		for range epochs {
			if err := tr.Epoch(context.Background(), data, func(s train.StepStats) { last = s }); err != nil {
				t.Fatal(err)
			}
		}
		return last, tr
	}
	free, _ := run(1e-12, 0, 6)
	held, tr := run(1, 0, 6)
	t.Logf("‖J‖²_F/State: %.4f without the penalty, %.4f with γ = 1; forward iterations %.1f and %.1f", free.Jacobian, held.Jacobian, free.ForwardIters, held.ForwardIters)
	if !(held.Jacobian > 0 && held.Jacobian < free.Jacobian/2) || !(held.ForwardIters < free.ForwardIters) {
		t.Errorf("with the penalty ‖J‖²_F/State %.4f and %.1f iterations, without %.4f and %.1f", held.Jacobian, held.ForwardIters, free.Jacobian, free.ForwardIters)
	}

	state, _, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	back, err := train.Resume(state, train.TrainSettings{})
	if err != nil {
		t.Fatal(err)
	}
	if g := back.Settings().Gradient; g.JacobianPenalty != 1 || g.JacobianPowerSteps != 0 {
		t.Errorf("resumed with γ = %v, %d power steps", g.JacobianPenalty, g.JacobianPowerSteps)
	}
	// Power-iterated probes: the state records their steps too.
	_, straight := run(1, 3, 2)
	_, part := run(1, 3, 1)
	state, _, err = part.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if part, err = train.Resume(state, train.TrainSettings{}); err != nil {
		t.Fatal(err)
	}
	if k := part.Settings().Gradient.JacobianPowerSteps; k != 3 {
		t.Errorf("resumed with %d power steps, want 3", k)
	}
	if err := part.Epoch(context.Background(), data, nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(part.Model(), straight.Model()) {
		t.Error("a resumed run with a Jacobian penalty differs from the straight one")
	}

	for _, g := range []train.GradientSettings{{JacobianPenalty: -1}, {JacobianPenalty: math.NaN()}, {JacobianPenalty: math.Inf(1)},
		{JacobianPenalty: 1, JacobianPowerSteps: -1}, {JacobianPenalty: 1, JacobianPowerSteps: 101}, {JacobianPowerSteps: 5}} {
		if _, err := train.NewTrainer(modeltest.RandomDense(1, model.ReLU, model.Direct, 2, 2, 1, 1), train.TrainSettings{Gradient: g}); !errors.Is(err, api.ErrProblem) {
			t.Errorf("%+v: %v", g, err)
		}
	}
	mlp := mustModel(t, modeltest.RandomMLP(1, model.ReLU, 3, 4, 3))
	if _, err := train.Gradient(context.Background(), mlp, data.X[:4], data.Target[:1], train.CrossEntropy{}, train.GradientSettings{JacobianPenalty: 1}); !errors.Is(err, api.ErrProblem) || !strings.Contains(err.Error(), "implicit model") {
		t.Errorf("a penalty on an explicit model: %v", err)
	}
}
