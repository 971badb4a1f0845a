package model_test

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/internal/modeltest"
	"github.com/implicitlab/implicit/core/model"
)

// kindCase is a small model of one kind with a batch size and settings
// that exercise it.
type kindCase struct {
	name string
	arch model.Architecture
	n    int
	set  api.Settings
}

// kindCases covers every kind, and for deq-dense every method.
func kindCases(t *testing.T) []kindCase {
	dense := modeltest.RandomDense(3, model.ReLU, model.Monotone, 40, 6, 3, 1)
	tanh := modeltest.RandomDense(4, model.Tanh, model.Direct, 24, 5, 2, 0.4)
	return []kindCase{
		{"deq-dense relu anderson", dense, 13, api.Settings{Method: &api.Anderson{}, MaxIter: 15}},
		{"deq-dense relu picard", dense, 13, api.Settings{Method: &api.Picard{}, MaxIter: 20}},
		{"deq-dense relu broyden", dense, 13, api.Settings{Method: &api.Broyden{}, MaxIter: 12}},
		{"deq-dense relu peaceman-rachford", dense, 13, api.Settings{Method: &api.PeacemanRachford{}, MaxIter: 25}},
		{"deq-dense relu forward-backward", dense, 13, api.Settings{Method: &api.ForwardBackward{}, MaxIter: 25}},
		{"deq-dense tanh anderson", tanh, 9, api.Settings{MaxIter: 10}},
		{"mlp", modeltest.RandomMLP(5, model.ReLU, 20, 6, 3), 9, api.Settings{}},
		{"deq-conv", modeltest.RandomConv(3, 3, 6, 4, 6, 4, 2, 2, 5, 0.02), 7, api.Settings{MaxIter: 8}},
		{"cnn", modeltest.RandomCNN(6, 3, 1, 4, 4, 4, 4, 2, 2, 3, 0.1), 5, api.Settings{}},
		{"fno-deq", smallFNO(t, false, 2, 8, 8, 4, 3, 2), 5, api.Settings{MaxIter: 12}},
		{"gnn-lp", smallGNN(t, false, 5, 3, 4, 2, 0.5), 7, api.Settings{MaxIter: 10}},
		{"pnp hqs", smallPnP(t, false, model.SplittingHQS, model.BoundarySymmetric, 6, 5), 5, api.Settings{MaxIter: 10}},
		{"pnp pgd", smallPnP(t, false, model.SplittingPGD, model.BoundaryPeriodic, 6, 5), 5, api.Settings{MaxIter: 10}},
	}
}

// A batch spread over workers gives what one goroutine gives, bit for bit,
// for every kind and method, in both precisions, and every sample is what
// it would be alone (its place in the batch and the others' convergence do
// not matter).
func TestWorkersBitIdentical(t *testing.T) {
	var cases []kindCase
	for _, c := range kindCases(t) {
		for _, p := range []api.Precision{api.Float64, api.Float32} {
			c := c
			c.name += " " + string(p)
			c.set.Precision = p
			cases = append(cases, c)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := model.New(c.arch)
			if err != nil {
				t.Fatal(err)
			}
			info := m.Info()
			x := modeltest.RandomInputs(9, c.n, info.In)
			one := c.set
			one.Workers = 1
			want, err := m.Infer(context.Background(), x, one)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range []int{2, 3, c.n, c.n + 4} {
				s := c.set
				s.Workers = w
				got, err := m.Infer(context.Background(), x, s)
				if err != nil {
					t.Fatal(err)
				}
				sameOutput(t, fmt.Sprintf("%d workers", w), got, want)
			}
			for i := range c.n {
				alone, err := m.Infer(context.Background(), x[i*info.In:(i+1)*info.In], one)
				if err != nil {
					t.Fatal(err)
				}
				part := &api.Output{
					Y: want.Y[i*info.Out : (i+1)*info.Out], Z: want.Z[i*info.State : (i+1)*info.State],
					Result: &api.Result{Samples: want.Result.Samples[i : i+1]}}
				sameBits(t, fmt.Sprintf("sample %d alone: y", i), alone.Y, part.Y)
				sameBits(t, fmt.Sprintf("sample %d alone: z", i), alone.Z, part.Z)
				if !reflect.DeepEqual(alone.Result.Samples, part.Result.Samples) {
					t.Fatalf("sample %d alone: %+v, in the batch %+v", i, alone.Result.Samples[0], part.Result.Samples[0])
				}
			}
		})
	}
}

func sameOutput(t *testing.T, what string, got, want *api.Output) {
	t.Helper()
	sameBits(t, what+": y", got.Y, want.Y)
	sameBits(t, what+": z", got.Z, want.Z)
	sameBits(t, what+": result z", got.Result.Z, want.Result.Z)
	if !reflect.DeepEqual(got.Result.Samples, want.Result.Samples) {
		t.Fatalf("%s: samples differ", what)
	}
	g, w := *got.Result, *want.Result
	g.Z, g.Samples, w.Z, w.Samples = nil, nil, nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: result %+v, one worker %+v", what, g, w)
	}
}

func sameBits(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("%s[%d] = %v, one worker %v", what, i, got[i], want[i])
		}
	}
}

// Workers split the batch; a negative number is refused, and a Recorder
// sees one solve's iterations in order.
func TestWorkersSettings(t *testing.T) {
	m, err := model.New(modeltest.RandomDense(3, model.ReLU, model.Monotone, 16, 4, 2, 1))
	if err != nil {
		t.Fatal(err)
	}
	x := modeltest.RandomInputs(1, 8, 4)
	if _, err := m.Infer(context.Background(), x, api.Settings{Workers: -1}); err == nil {
		t.Error("Workers -1 accepted")
	}
	var iters []int
	rec := api.RecorderFunc(func(it api.Iterate) error {
		iters = append(iters, it.Iteration)
		return nil
	})
	out, err := m.Infer(context.Background(), x, api.Settings{Workers: 4, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	if len(iters) != out.Result.Iterations {
		t.Fatalf("the Recorder saw %d iterations of a %d-iteration solve", len(iters), out.Result.Iterations)
	}
	for i, it := range iters {
		if it != i+1 {
			t.Fatalf("the Recorder saw iterations %v", iters)
		}
	}
}

// A solve allocates what it needs before its first iteration: the number of
// allocations does not grow with the iterations, for every kind and the
// methods that apply (item 2 of the performance issue).
func TestNoAllocationPerIteration(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("the race detector and coverage allocate")
	}
	for _, c := range []struct {
		name string
		arch model.Architecture
	}{
		{"deq-dense", modeltest.RandomDense(3, model.ReLU, model.Monotone, 24, 6, 3, 1)},
		{"mlp", modeltest.RandomMLP(5, model.ReLU, 20, 6, 3)},
		{"deq-conv", modeltest.RandomConv(3, 3, 6, 4, 6, 4, 2, 2, 5, 0.02)},
		{"fno-deq", smallFNO(t, false, 2, 8, 8, 4, 3, 2)},
		{"gnn-lp", smallGNN(t, false, 5, 3, 4, 2, 0.5)},
		{"pnp", smallPnP(t, false, model.SplittingHQS, model.BoundarySymmetric, 6, 5)},
	} {
		m, err := model.New(c.arch)
		if err != nil {
			t.Fatal(err)
		}
		x := modeltest.RandomInputs(1, 7, m.Info().In)
		for _, meth := range []api.Method{&api.Picard{}, &api.Anderson{}, &api.Broyden{}} {
			allocs := func(iters int) float64 {
				s := api.Settings{Method: meth, MaxIter: iters, RelTol: -1, NoTrace: true, Workers: 1}
				return testing.AllocsPerRun(3, func() { m.Infer(context.Background(), x, s) })
			}
			if few, many := allocs(5), allocs(25); many > few {
				t.Errorf("%s, %v: %.0f allocations at 5 iterations, %.0f at 25", c.name, meth, few, many)
			}
		}
	}
}
