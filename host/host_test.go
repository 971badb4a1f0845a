package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/internal/csvdata"
)

// torchCase is a model from testdata/torch with its inputs.
type torchCase struct {
	name string
	file []byte
	x    []float64
}

func torchCases(t *testing.T) []torchCase {
	t.Helper()
	b, err := os.ReadFile("../testdata/torch/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var listing struct {
		Cases []struct{ Name, Model, Input string }
	}
	if err := json.Unmarshal(b, &listing); err != nil || len(listing.Cases) < 12 {
		t.Fatalf("testdata/torch/cases.json: %d cases (%v)", len(listing.Cases), err)
	}
	var cs []torchCase
	for _, c := range listing.Cases {
		file, err := os.ReadFile(filepath.Join("../testdata/torch", c.Model))
		if err != nil {
			t.Fatal(err)
		}
		d, err := model.Decode(file)
		if err != nil {
			t.Fatal(err)
		}
		in, err := os.ReadFile(filepath.Join("../testdata/torch", c.Input))
		if err != nil {
			t.Fatal(err)
		}
		x, _, err := csvdata.Read(bytes.NewReader(in), c.Name, d.Sizes().In)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, torchCase{c.Name, file, x})
	}
	return cs
}

// relClose reports whether a and b agree to tol relative to max(1, |b|).
func relClose(a, b, tol float64) bool {
	if a == b {
		return true
	}
	// At overflow, native's FMA kernels (one rounding) and the guest's Go
	// kernels (two) can end the same blow-up in different values: NaN, ±Inf
	// or a number next to the largest float64. All of them mean "blew up".
	finite := func(x float64) bool { return math.Abs(x) <= 1e300 }
	if !finite(a) || !finite(b) {
		return !finite(a) && !finite(b)
	}
	return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b))
}

// sameOutput checks that a sandboxed output agrees with the native one to
// 1e-9 relative, with the same statuses and counts.
func sameOutput(t *testing.T, what string, got, want *api.Output) {
	t.Helper()
	if (got == nil) != (want == nil) {
		t.Fatalf("%s: output %v, native %v", what, got != nil, want != nil)
	}
	if got == nil {
		return
	}
	const tol = 1e-9
	for _, v := range []struct {
		name      string
		got, want []float64
	}{{"Y", got.Y, want.Y}, {"Z", got.Z, want.Z}} {
		if len(v.got) != len(v.want) {
			t.Fatalf("%s: %d values of %s, native %d", what, len(v.got), v.name, len(v.want))
		}
		for i := range v.got {
			if !relClose(v.got[i], v.want[i], tol) {
				t.Fatalf("%s: %s[%d] = %v, native %v", what, v.name, i, v.got[i], v.want[i])
			}
		}
	}
	g, w := got.Result, want.Result
	if g.Status != w.Status || g.Iterations != w.Iterations || g.FuncEvals != w.FuncEvals ||
		!relClose(g.Residual, w.Residual, 1e-6) || len(g.Samples) != len(w.Samples) {
		t.Fatalf("%s: result %v %+v, native %v %+v", what, g.Status, g.Stats, w.Status, w.Stats)
	}
	for i := range g.Samples {
		gs, ws := g.Samples[i], w.Samples[i]
		if gs.Status != ws.Status || gs.Iterations != ws.Iterations || len(gs.Trace) != len(ws.Trace) || len(gs.RelTrace) != len(ws.RelTrace) {
			t.Fatalf("%s: sample %d: %v %+v (trace %d), native %v %+v (trace %d)", what, i, gs.Status, gs.Stats, len(gs.Trace), ws.Status, ws.Stats, len(ws.Trace))
		}
	}
}

// settingsString prints s with its method's parameters.
func settingsString(s api.Settings) string {
	m := "<nil>"
	if s.Method != nil {
		m = fmt.Sprintf("%s%+v", s.Method, s.Method)
	}
	s.Method = nil
	return fmt.Sprintf("%s %+v", m, s)
}

// methods are the settings every model is solved with, both ways.
func methods(param model.Parametrization) []api.Settings {
	s := []api.Settings{
		{}, // the model's defaults
		{Method: &api.Picard{}, MaxIter: 7, RelTol: -1},
		{Method: &api.Picard{Damping: 0.7}, MaxIter: 300},
		{Method: &api.Anderson{Memory: 3, Reg: 1e-8, Mixing: 0.9}, RelTol: 1e-10},
		{Method: &api.Broyden{Memory: 4}, AbsTol: 1e-12, MaxIter: 50},
		{Method: &api.Anderson{}, NoTrace: true, DivergenceRatio: 1e6},
	}
	if param == model.Monotone {
		s = append(s,
			api.Settings{Method: &api.PeacemanRachford{}},
			api.Settings{Method: &api.PeacemanRachford{Alpha: 0.5}, MaxIter: 500},
			api.Settings{Method: &api.ForwardBackward{}, MaxIter: 2000, RelTol: 1e-8},
		)
	}
	return s
}

func TestAgreesWithNative(t *testing.T) {
	rt := sharedRuntime(t)
	ctx := context.Background()
	cases := append(torchCases(t),
		torchCase{"mlp", encode(t, randomMLP(4, model.Tanh, 9, 5, 3)), randomInputs(5, 7, 5)})
	for _, c := range cases {
		nm, wm := pair(t, rt, c.file)
		if wi, ni := wm.Info(), nm.Info(); wi != ni {
			t.Fatalf("%s: info %+v differs from native %+v", c.name, wi, ni)
		}
		param := model.Direct
		if d, ok := nm.Architecture().(*model.Dense); ok {
			param = d.Param
		}
		for _, s := range methods(param) {
			what := fmt.Sprintf("%s/%v", c.name, s.Method)
			// In float64 the guest computes what the native engine does
			// to 1e-9; in float32 (an F32 file's own precision) the native
			// kernels fuse their multiply-adds and WebAssembly's cannot,
			// so they agree to float32's accuracy.
			s64 := s
			s64.Precision = api.Float64
			want, werr := nm.Infer(ctx, c.x, s64)
			got, gerr := wm.Infer(ctx, c.x, s64)
			guest64 := got // the guest's float64 outputs
			if fmt.Sprint(gerr) != fmt.Sprint(werr) {
				t.Fatalf("%s: error %v, native %v", what, gerr, werr)
			}
			sameOutput(t, what, got, want)
			for _, p := range []api.Precision{api.PrecisionModel, api.Float32} {
				if p == api.PrecisionModel && nm.Precision() != api.Float32 {
					continue
				}
				s := s
				s.Precision = p
				want, werr := nm.Infer(ctx, c.x, s)
				got, gerr := wm.Infer(ctx, c.x, s)
				if werr != nil || gerr != nil {
					t.Fatalf("%s in float32: error %v, native %v", what, gerr, werr)
				}
				for i := range want.Y {
					if !relClose(got.Y[i], want.Y[i], 1e-4) {
						t.Fatalf("%s in float32: Y[%d] = %v, native %v", what, i, got.Y[i], want.Y[i])
					}
				}
				if p == api.Float32 && nm.Precision() == api.Float64 && slices.Equal(got.Y, guest64.Y) {
					t.Fatalf("%s: Settings.Precision float32 gave the guest's float64 outputs", what)
				}
			}

			gs, gerr := wm.Settings(ctx, s)
			ws, werr := nm.Settings(s)
			if fmt.Sprint(gerr) != fmt.Sprint(werr) || settingsString(gs) != settingsString(ws) {
				t.Fatalf("%s: settings %#v (%v), native %#v (%v)", what, gs, gerr, ws, werr)
			}
		}
	}
}

// A model with solver defaults in its file and a warm start.
func TestDefaultsAndInit(t *testing.T) {
	rt := sharedRuntime(t)
	ctx := context.Background()
	d := randomDense(3, model.Tanh, 12, 5, 3)
	d.Defaults = api.Defaults{Solver: "broyden", Tol: 1e-9, MaxIter: 40}
	nm, wm := pair(t, rt, encode(t, d))
	x := randomInputs(4, 6, 5)
	init := randomInputs(5, 6, 12)
	for _, s := range []api.Settings{{}, {Init: init}, {Method: &api.Picard{}, Init: init, MaxIter: 3, RelTol: -1}} {
		want, werr := nm.Infer(ctx, x, s)
		got, gerr := wm.Infer(ctx, x, s)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Fatalf("error %v, native %v", gerr, werr)
		}
		sameOutput(t, fmt.Sprintf("%v init=%v", s.Method, s.Init != nil), got, want)
	}
	s, err := wm.Settings(ctx, api.Settings{Init: init})
	if err != nil || s.Method == nil || s.Method.String() != "broyden" || s.RelTol != 1e-9 || s.MaxIter != 40 || len(s.Init) != len(init) {
		t.Fatalf("Settings = %#v, %v", s, err)
	}
}

func TestPicardRunsExactlyMaxIter(t *testing.T) {
	rt := sharedRuntime(t)
	_, wm := pair(t, rt, encode(t, randomDense(6, model.ReLU, 16, 4, 2)))
	for _, iters := range []int{1, 2, 13, 250} {
		out, err := wm.Infer(context.Background(), randomInputs(7, 3, 4), api.Settings{Method: &api.Picard{}, MaxIter: iters, RelTol: -1})
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range out.Result.Samples {
			if s.Iterations != iters || s.Status != api.IterationLimit || len(s.Trace) != iters {
				t.Fatalf("MaxIter %d: sample %d ran %d iterations (%v, trace %d)", iters, i, s.Iterations, s.Status, len(s.Trace))
			}
		}
	}
}

func TestErrors(t *testing.T) {
	rt := sharedRuntime(t)
	ctx := context.Background()
	file := encode(t, randomDense(8, model.ReLU, 8, 3, 2))

	// Malformed model files: the same error as native, wrapping ErrModel.
	bad := [][]byte{nil, file[:7], file[:len(file)/2], append([]byte{0xff}, file[1:]...)}
	mono := randomDense(8, model.ReLU, 8, 3, 2)
	mono.Monotone = 0.1 // a direct model with m set
	if b, err := model.Encode(mono, model.F64); err == nil {
		bad = append(bad, b)
	}
	for i, b := range bad {
		_, werr := model.Decode(b)
		_, gerr := rt.Load(ctx, b)
		if !errors.Is(gerr, api.ErrModel) {
			t.Errorf("bad file %d: %v, want ErrModel", i, gerr)
		}
		if werr != nil && gerr.Error() != werr.Error() {
			t.Errorf("bad file %d: %q, native %q", i, gerr, werr)
		}
	}

	nm, wm := pair(t, rt, file)
	for _, c := range []struct {
		x []float64
		s api.Settings
	}{
		{make([]float64, 7), api.Settings{}},                                    // not whole samples
		{make([]float64, 6), api.Settings{Method: &api.Anderson{Memory: 1000}}}, // bad memory
		{make([]float64, 6), api.Settings{Method: &api.Picard{Damping: 2}}},     // bad damping
		{make([]float64, 6), api.Settings{AbsTol: math.NaN()}},                  // NaN tolerance
		{make([]float64, 6), api.Settings{Init: make([]float64, 3)}},            // short warm start
		{make([]float64, 6), api.Settings{Method: &api.ForwardBackward{}}},      // splitting on a non-monotone layer? (direct: may work)
		{make([]float64, 6), api.Settings{Method: &api.PeacemanRachford{Alpha: -1}}},
		{make([]float64, 6), api.Settings{MaxIter: -1}},
	} {
		want, werr := nm.Infer(ctx, c.x, c.s)
		got, gerr := wm.Infer(ctx, c.x, c.s)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Errorf("%v: error %v, native %v", c.s.Method, gerr, werr)
		}
		if werr != nil && errors.Is(werr, api.ErrProblem) != errors.Is(gerr, api.ErrProblem) {
			t.Errorf("%v: errors.Is(ErrProblem) differs: %v", c.s.Method, gerr)
		}
		sameOutput(t, fmt.Sprint(c.s.Method), got, want)
	}
	// A method that cannot cross the boundary: a nil *Picard.
	if _, err := wm.Infer(ctx, make([]float64, 3), api.Settings{Method: (*api.Picard)(nil)}); !errors.Is(err, api.ErrProblem) {
		t.Errorf("nil *Picard: %v, want ErrProblem", err)
	}
}

// Divergence and non-finite values come back as *api.SolveError, with the
// Output so far, like native.
func TestSolveErrors(t *testing.T) {
	rt := sharedRuntime(t)
	ctx := context.Background()
	d := randomDense(9, model.Identity, 10, 3, 2)
	for i := range d.W.Data {
		d.W.Data[i] *= 30 // ‖W‖₂ ≈ 20: plain iteration blows up
	}
	nm, wm := pair(t, rt, encode(t, d))
	x := randomInputs(10, 4, 3)
	for _, c := range []struct {
		s    api.Settings
		want error
	}{
		{api.Settings{Method: &api.Picard{}, MaxIter: 1000}, api.ErrDiverged},
		{api.Settings{Method: &api.Picard{}, MaxIter: 1000, DivergenceRatio: -1}, api.ErrNonFinite},
	} {
		want, werr := nm.Infer(ctx, x, c.s)
		got, gerr := wm.Infer(ctx, x, c.s)
		if !errors.Is(werr, c.want) || !errors.Is(gerr, c.want) {
			t.Fatalf("%v: errors %v and native %v, want %v", c.want, gerr, werr, c.want)
		}
		var gs, ws *api.SolveError
		if !errors.As(gerr, &gs) || !errors.As(werr, &ws) || *gs != *ws {
			t.Fatalf("SolveError %+v, native %+v", gs, ws)
		}
		sameOutput(t, c.want.Error(), got, want)
	}
}

// recorded collects what a Recorder sees, and fails at iteration stop.
type recorded struct {
	its  []api.Iterate
	stop int
}

var errStop = errors.New("stop here")

func (r *recorded) Record(it api.Iterate) error {
	r.its = append(r.its, it)
	if len(r.its) == r.stop {
		return errStop
	}
	return nil
}

func TestRecorder(t *testing.T) {
	rt := sharedRuntime(t)
	ctx := context.Background()
	nm, wm := pair(t, rt, encode(t, randomDense(11, model.Tanh, 20, 5, 3)))
	x := randomInputs(12, 9, 5)
	for _, stop := range []int{0, 1, 4} {
		var gr, wr recorded
		gr.stop, wr.stop = stop, stop
		want, werr := nm.Infer(ctx, x, api.Settings{Method: &api.Anderson{}, Recorder: &wr})
		got, gerr := wm.Infer(ctx, x, api.Settings{Method: &api.Anderson{}, Recorder: &gr})
		if werr != gerr {
			t.Fatalf("stop %d: error %v, native %v", stop, gerr, werr)
		}
		if fmt.Sprint(gr.its) != fmt.Sprint(wr.its) {
			// Residuals may differ in the last bits; compare the shape.
			if len(gr.its) != len(wr.its) {
				t.Fatalf("stop %d: %d iterates, native %d", stop, len(gr.its), len(wr.its))
			}
			for i := range gr.its {
				g, w := gr.its[i], wr.its[i]
				if g.Iteration != w.Iteration || g.Active != w.Active || !relClose(g.Residual, w.Residual, 1e-6) {
					t.Fatalf("stop %d: iterate %+v, native %+v", stop, g, w)
				}
			}
		}
		sameOutput(t, fmt.Sprintf("stop %d", stop), got, want)
	}
}

// A long solve stops when the context is done, with its samples Canceled, as
// natively, whatever an iteration costs (h = 1: a microsecond). How promptly
// is BenchmarkCancel's to measure; this only bounds it generously.
func TestCancel(t *testing.T) {
	rt := sharedRuntime(t)
	s := api.Settings{Method: &api.Picard{}, MaxIter: 1 << 30, RelTol: -1}
	for _, h := range []int{1, 128} {
		_, wm := pair(t, rt, encode(t, randomDense(13, model.ReLU, h, 16, 4)))
		x := randomInputs(14, 8, 16)
		for _, c := range []struct {
			name string
			ctx  func() (context.Context, context.CancelFunc)
			want error
		}{
			{"deadline", func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			}, context.DeadlineExceeded},
			{"cancel", func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			}, context.Canceled},
		} {
			ctx, cancel := c.ctx()
			start := time.Now()
			out, err := wm.Infer(ctx, x, s)
			took := time.Since(start)
			cancel()
			if !errors.Is(err, c.want) {
				t.Fatalf("h=%d %s: %v, want %v", h, c.name, err, c.want)
			}
			if took > 30*time.Second {
				t.Errorf("h=%d %s: returned after %v", h, c.name, took)
			}
			if out == nil || out.Result.Status != api.Canceled || out.Result.Iterations == 0 {
				t.Fatalf("h=%d %s: output %+v", h, c.name, out)
			}
			t.Logf("h=%d %s after %v, %d iterations", h, c.name, took.Round(time.Millisecond), out.Result.Iterations)
		}
		// The instance is fine afterwards.
		if _, err := wm.Infer(context.Background(), x, api.Settings{}); err != nil {
			t.Fatal(err)
		}
	}
}

// Chunks follow the time the calls take: they shrink at once after a slow
// call and grow at most twofold after a quick one.
func TestChunker(t *testing.T) {
	c := chunker{iters: 1}
	for range 40 {
		c.next(chunkTime / 1000) // quick calls
	}
	if c.iters < 1e5 {
		t.Fatalf("after 40 quick calls, chunks of %d iterations", c.iters)
	}
	top := c.iters
	if got := c.next(0); got > 2*top {
		t.Errorf("grew from %d to %d", top, got)
	}
	top = c.iters
	if got := c.next(1000 * chunkTime); got > top/500 {
		t.Errorf("after a call of %v, chunks of %d iterations (from %d)", 1000*chunkTime, got, top)
	}
	if got := c.next(time.Hour); got != 1 {
		t.Errorf("after a call of an hour, chunks of %d iterations, want 1", got)
	}
}

// Calls from many goroutines share a pool of instances.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, Config{Instances: 3})
	var models [2]struct {
		n *model.Model
		w *Model
	}
	for i := range models {
		models[i].n, models[i].w = pair(t, rt, encode(t, randomDense(uint64(15+i), model.Tanh, 24, 6, 3)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				m := models[(g+j)%2]
				x := randomInputs(uint64(100*g+j), 1+j%4, 6)
				got, err := m.w.Infer(ctx, x, api.Settings{})
				if err != nil {
					errs <- err
					return
				}
				want, _ := m.n.Infer(ctx, x, api.Settings{})
				for i := range got.Y {
					if !relClose(got.Y[i], want.Y[i], 1e-9) {
						errs <- fmt.Errorf("goroutine %d call %d: Y[%d] = %v, native %v", g, j, i, got.Y[i], want.Y[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// blocking is a Recorder that holds its call, and so its instance: it says
// so on started, then waits for release.
type blocking struct {
	started chan<- struct{}
	release <-chan struct{}
	once    sync.Once
}

func (b *blocking) Record(api.Iterate) error {
	b.once.Do(func() {
		b.started <- struct{}{}
		<-b.release
	})
	return nil
}

// Config.Instances bounds the instances: with three calls holding one each,
// a fourth waits for an instance, and runs once one is free.
func TestPoolBound(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, Config{Instances: 3})
	_, wm := pair(t, rt, encode(t, randomDense(23, model.ReLU, 8, 2, 2)))
	x := randomInputs(24, 1, 2)
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := &blocking{started: started, release: release}
			if _, err := wm.Infer(ctx, x, api.Settings{Recorder: rec}); err != nil {
				t.Error(err)
			}
		}()
	}
	for range 3 {
		<-started
	}
	// A fourth instance would run this call, and its Recorder.
	ran := false
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	out, err := wm.Infer(short, x, api.Settings{Recorder: api.RecorderFunc(func(api.Iterate) error { ran = true; return nil })})
	cancel()
	if ran || out != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a fourth call with three instances busy: ran %v, output %v, error %v; want it to wait for an instance", ran, out != nil, err)
	}
	done := make(chan error)
	go func() {
		_, err := wm.Infer(ctx, x, api.Settings{})
		done <- err
	}()
	close(release)
	if err := <-done; err != nil {
		t.Errorf("the fourth call once an instance was free: %v", err)
	}
	wg.Wait()
}

// An instance that runs out of memory is replaced, and the Runtime goes on.
// The error is one line that names the limit.
func TestOutOfMemoryReplaced(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, Config{Instances: 1, MemoryLimit: 48 << 20})
	// A layer of h = 1500 is an 18 MB W, kept in the file, the decoded
	// tensor and the packed kernel operand: more than 48 MiB in all.
	if _, err := rt.Load(ctx, encode(t, randomDense(17, model.ReLU, 1500, 2, 2))); !errors.Is(err, ErrTrap) || !errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("huge model: %v, want ErrTrap and ErrOutOfMemory", err)
	} else {
		var te *TrapError
		if !errors.As(err, &te) {
			t.Fatalf("%T is not a *TrapError", err)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "48 MiB") {
			t.Errorf("the error is not one line naming the limit:\n%s", msg)
		}
		t.Log(err)
	}
	nm, wm := pair(t, rt, encode(t, randomDense(17, model.ReLU, 16, 8, 2)))
	x := randomInputs(19, 3, 8)
	got, err := wm.Infer(ctx, x, api.Settings{})
	if err != nil {
		t.Fatalf("after the failure: %v", err)
	}
	want, _ := nm.Infer(ctx, x, api.Settings{})
	sameOutput(t, "after the failure", got, want)
}

// A batch larger than an instance's memory takes is solved in parts, with
// the same Output and errors as natively: a failed sample keeps its index,
// a warm start is split with the inputs.
func TestLargeBatch(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, Config{Instances: 1, MemoryLimit: minMemory})
	d := randomDense(25, model.ReLU, 64, 8, 2)
	nm, wm := pair(t, rt, encode(t, d))
	// 8,000 samples of h = 64: a 4 MB n×h buffer, five or more of them in a
	// solve, more than the instance's 16 MiB.
	const n = 8000
	x := randomInputs(26, n, 8)
	if part := rt.chunkSamples(wm.Info()); part >= n/4 {
		t.Fatalf("parts of %d samples: the test needs more parts", part)
	}
	init := randomInputs(27, n, 64)
	for _, s := range []api.Settings{
		{Method: &api.Picard{}, MaxIter: 2, RelTol: -1},
		{Method: &api.Anderson{}, MaxIter: 3, Init: init},
	} {
		want, werr := nm.Infer(ctx, x, s)
		got, gerr := wm.Infer(ctx, x, s)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Fatalf("%v: error %v, native %v", s.Method, gerr, werr)
		}
		sameOutput(t, fmt.Sprint(s.Method), got, want)
	}
	// A sample past the first part fails: its index is the batch's.
	bad := append([]float64(nil), x...)
	bad[(n-3)*8] = math.Inf(1)
	want, werr := nm.Infer(ctx, bad, api.Settings{MaxIter: 2})
	got, gerr := wm.Infer(ctx, bad, api.Settings{MaxIter: 2})
	var gs, ws *api.SolveError
	if !errors.As(gerr, &gs) || !errors.As(werr, &ws) || *gs != *ws || gs.Sample != n-3 {
		t.Fatalf("SolveError %+v (%v), native %+v (%v)", gs, gerr, ws, werr)
	}
	sameOutput(t, "a failed sample", got, want)
	// Canceled before it starts: every part's samples are Canceled.
	done, cancel := context.WithCancel(ctx)
	cancel()
	got, gerr = wm.Infer(done, x, api.Settings{})
	if !errors.Is(gerr, context.Canceled) || got == nil || got.Result.Status != api.Canceled || len(got.Result.Samples) != n {
		t.Fatalf("canceled: %v, %+v", gerr, got)
	}
}

// A model file over 1 GiB is refused as a bad model, ErrModel.
func TestLoadTooLarge(t *testing.T) {
	rt := sharedRuntime(t)
	huge := make([]byte, 1<<30+1) // never touched: the pages stay unmapped
	_, err := rt.Load(context.Background(), huge)
	if !errors.Is(err, api.ErrModel) || errors.Is(err, api.ErrProblem) {
		t.Fatalf("a file of %d bytes: %v, want ErrModel", len(huge), err)
	}
	t.Log(err)
}

// Thousands of load/infer/close cycles keep guest memory flat: the guest
// frees what it no longer uses and collects its garbage although, as a
// reactor, its runtime runs only during calls.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	ctx := context.Background()
	rt := newRuntime(t, Config{Instances: 1})
	file := encode(t, randomDense(20, model.ReLU, 64, 16, 4))
	x := randomInputs(21, 32, 16)
	pages := func() uint32 {
		in := <-rt.idle
		defer func() { rt.idle <- in }()
		return in.mem.Size() / pageSize
	}
	const cycles = 2000
	var warm uint32
	for i := 1; i <= cycles; i++ {
		m, err := rt.Load(ctx, file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Infer(ctx, x, api.Settings{}); err != nil {
			t.Fatal(err)
		}
		m.Close()
		if i == 200 {
			warm = pages()
		}
	}
	end := pages()
	t.Logf("guest memory: %d pages after 200 cycles, %d after %d", warm, end, cycles)
	if end > warm+warm/10 {
		t.Errorf("guest memory grew from %d to %d pages (64 KiB) between cycle 200 and %d", warm, end, cycles)
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, Config{Instances: 1})
	_, wm := pair(t, rt, encode(t, randomDense(22, model.ReLU, 8, 2, 2)))
	wm.Close()
	if _, err := wm.Infer(ctx, make([]float64, 2), api.Settings{}); !errors.Is(err, ErrClosed) {
		t.Errorf("closed model: %v", err)
	}
	if err := rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Load(ctx, encode(t, randomDense(22, model.ReLU, 8, 2, 2))); !errors.Is(err, ErrClosed) {
		t.Errorf("closed runtime: %v", err)
	}
}

// Close while calls run: they stop, with ErrClosed, and Close returns after
// them; run with -race.
func TestCloseInFlight(t *testing.T) {
	ctx := context.Background()
	for round := range 3 {
		rt := newRuntime(t, Config{Instances: 2})
		_, wm := pair(t, rt, encode(t, randomDense(28, model.ReLU, 32, 4, 2)))
		x := randomInputs(29, 4, 4)
		never := api.Settings{Method: &api.Picard{}, MaxIter: 1 << 30, RelTol: -1, NoTrace: true}
		var wg sync.WaitGroup
		running := make(chan struct{}, 8)
		errs := make(chan error, 8)
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				switch g % 3 {
				case 0, 1: // a long solve: it runs, or waits for an instance
					s := never
					if g%3 == 0 { // says when it runs
						s.Recorder = api.RecorderFunc(func(api.Iterate) error {
							select {
							case running <- struct{}{}:
							default:
							}
							return nil
						})
					}
					_, err = wm.Infer(ctx, x, s)
				case 2: // loads and settings, over and over
					for err == nil {
						if _, err = rt.Load(ctx, encode(t, randomDense(30, model.ReLU, 8, 2, 2))); err == nil {
							_, err = wm.Settings(ctx, api.Settings{})
						}
					}
				}
				errs <- err
			}()
		}
		select { // a solve runs (or two others hold the instances)
		case <-running:
		case <-time.After(time.Second):
		}
		if err := rt.Close(ctx); err != nil {
			t.Fatal(err)
		}
		wg.Wait() // Close returned after the calls
		close(errs)
		for err := range errs {
			if !errors.Is(err, ErrClosed) {
				t.Errorf("round %d: a call under way at Close: %v, want ErrClosed", round, err)
			}
		}
	}
}

func TestConfig(t *testing.T) {
	ctx := context.Background()
	for _, c := range []Config{{Instances: -1}, {MemoryLimit: 1 << 20}, {MemoryLimit: 8 << 30}} {
		if rt, err := New(ctx, c); err == nil {
			rt.Close(ctx)
			t.Errorf("%+v: no error", c)
		}
	}
	// The compilation cache: a second Runtime compiles nothing, and so
	// writes nothing. (wazero writes an entry it missed anew, to a
	// temporary file renamed over the old one.) The package's cache primes
	// the directory, if it has the entry.
	dir := t.TempDir()
	copyCache(t, dir)
	snapshot := func() map[string]string {
		files := map[string]string{}
		for _, name := range cacheFiles(t, dir) {
			info, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			var ino uint64
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				ino = st.Ino
			}
			files[name] = fmt.Sprint(info.Size(), info.ModTime().UnixNano(), ino)
		}
		return files
	}
	var after [2]map[string]string
	for i := range after {
		start := time.Now()
		rt, err := New(ctx, Config{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("New with cache (run %d): %v", i, time.Since(start))
		rt.Close(ctx)
		after[i] = snapshot()
	}
	if len(after[0]) == 0 {
		t.Error("the cache directory is empty")
	}
	if fmt.Sprint(after[0]) != fmt.Sprint(after[1]) {
		t.Errorf("the second Runtime wrote to the cache, it missed:\n%v\n%v", after[0], after[1])
	}
}

// A compilation cache that cannot be used does not fail New: the module is
// compiled without it, with one warning.
func TestCacheFallback(t *testing.T) {
	if raceEnabled {
		// Each case compiles the module, 10 s or more under the race
		// detector, to test code that runs in one goroutine.
		t.Skip("compiles the module twice; run without -race")
	}
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A corrupt entry: a filled cache (the package's, copied), each file cut
	// short.
	corrupt := t.TempDir()
	copyCache(t, corrupt)
	if len(cacheFiles(t, corrupt)) == 0 {
		if rt, err := New(ctx, Config{CacheDir: corrupt}); err != nil {
			t.Fatal(err)
		} else {
			rt.Close(ctx)
		}
	}
	entries := cacheFiles(t, corrupt)
	if len(entries) == 0 {
		t.Fatal("the cache is empty")
	}
	for _, name := range entries {
		if err := os.Truncate(filepath.Join(corrupt, name), 100); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ name, dir string }{
		{"corrupt", corrupt},
		{"not creatable", filepath.Join(file, "cache")},
	} {
		var warnings bytes.Buffer
		rt, err := New(ctx, Config{CacheDir: c.dir, Warnings: &warnings})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, wm := pair(t, rt, encode(t, randomDense(31, model.ReLU, 8, 2, 2)))
		if _, err := wm.Infer(ctx, randomInputs(32, 1, 2), api.Settings{}); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		rt.Close(ctx)
		if w := warnings.String(); strings.Count(w, "\n") != 1 || !strings.Contains(w, "cache") {
			t.Errorf("%s: warnings %q, want one line", c.name, w)
		}
		t.Logf("%s: %s", c.name, strings.TrimSpace(warnings.String()))
	}
}

// cacheFiles lists the files under a cache directory, by relative path.
func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, rel)
		}
		return nil
	})
	return files
}

// copyCache copies the package's cache directory to dir.
func copyCache(t *testing.T, dir string) {
	t.Helper()
	for _, name := range cacheFiles(t, testCacheDir()) {
		if b, err := os.ReadFile(filepath.Join(testCacheDir(), name)); err == nil {
			os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
			os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
	}
}

// A batch spread over instances gives what one instance gives, bit for bit,
// with a failed sample's index the batch's, and a negative number of
// workers is refused.
func TestWorkers(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, Config{Instances: 3})
	d := randomDense(9, model.Identity, 10, 3, 2)
	_, wm := pair(t, rt, encode(t, d))
	x := randomInputs(10, 11, 3)
	one, err := wm.Infer(ctx, x, api.Settings{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []int{0, 2, 3, 11} {
		got, err := wm.Infer(ctx, x, api.Settings{Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, one) {
			t.Fatalf("%d workers: the output differs from one instance's", w)
		}
	}
	if _, err := wm.Infer(ctx, x, api.Settings{Workers: -1}); !errors.Is(err, api.ErrProblem) {
		t.Fatalf("Workers -1: %v, want ErrProblem", err)
	}
	for i := range d.W.Data {
		d.W.Data[i] *= 30 // plain iteration blows up
	}
	_, bad := pair(t, rt, encode(t, d))
	s := api.Settings{Method: &api.Picard{}, MaxIter: 1000}
	s.Workers = 1
	_, werr := bad.Infer(ctx, x, s)
	s.Workers = 3
	_, gerr := bad.Infer(ctx, x, s)
	var gs, ws *api.SolveError
	if !errors.As(gerr, &gs) || !errors.As(werr, &ws) || *gs != *ws {
		t.Fatalf("SolveError %+v over three instances, %+v on one", gs, ws)
	}
}

// The host's WebAssembly SIMD kernels give the module's Go kernels' results
// bit for bit (so the native purego build's too), for every shape the
// product takes: batches of one, of pairs and odd ones, partial panels,
// rows of zeros, and convolutions, in both precisions; and both kernels
// (f64_muladd, f32_muladd) are called.
func TestSIMDKernels(t *testing.T) {
	ctx := context.Background()
	simd, plain := newRuntime(t, Config{Instances: 1}), noSIMDRuntime(t)
	files := map[string][]byte{
		"dense relu h=20": encode(t, randomDense(31, model.ReLU, 20, 7, 3)),
		"dense tanh h=64": encode(t, randomDense(32, model.Tanh, 64, 9, 10)),
		"dense relu h=3":  encode(t, randomDense(33, model.ReLU, 3, 2, 2)),
		"mlp":             encode(t, randomMLP(34, model.ReLU, 40, 6, 3)),
		"deq-conv":        encode(t, smallConv(t)),
	}
	for name, file := range files {
		sm, err := simd.Load(ctx, file)
		if err != nil {
			t.Fatal(err)
		}
		pm, err := plain.Load(ctx, file)
		if err != nil {
			t.Fatal(err)
		}
		in := sm.Info().In
		for _, n := range []int{1, 2, 7, 13} {
			x := randomInputs(uint64(35+n), n, in)
			for _, s := range []api.Settings{{Method: &api.Picard{}, MaxIter: 12, RelTol: -1}, {MaxIter: 40}} {
				for _, prec := range []api.Precision{api.Float64, api.Float32} {
					s.Precision = prec
					want, werr := pm.Infer(ctx, x, s)
					got, gerr := sm.Infer(ctx, x, s)
					if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
						t.Fatalf("%s, %d samples, %v, %s: SIMD kernels and Go kernels differ (errors %v, %v)", name, n, s.Method, prec, gerr, werr)
					}
				}
			}
		}
	}
	if simd.kernels.calls.Load() == 0 || plain.kernels.calls.Load() != 0 {
		t.Fatalf("f64_muladd calls: %d with SIMD, %d without", simd.kernels.calls.Load(), plain.kernels.calls.Load())
	}
	if simd.kernels.calls32.Load() == 0 || plain.kernels.calls32.Load() != 0 {
		t.Fatalf("f32_muladd calls: %d with SIMD, %d without", simd.kernels.calls32.Load(), plain.kernels.calls32.Load())
	}
}

// smallConv is a deq-conv model of the digits' shape at C = 12.
func smallConv(t *testing.T) *model.Conv {
	t.Helper()
	c, err := model.NewConv(model.ConvConfig{InChannels: 1, Height: 8, Width: 8, Channels: 12, Inner: 8, Groups: 4, Pool: 2, Out: 10}, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
