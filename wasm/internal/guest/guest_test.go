package guest

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/internal/abi"
)

// newState returns a State whose buffers get made-up addresses.
func newState() *State {
	next := uint32(1 << 16)
	return New(func(b []byte) uint32 {
		p := next
		next += uint32(len(b)) + 64
		return p
	})
}

// put copies b into a new buffer.
func put(t *testing.T, s *State, b []byte) uint32 {
	t.Helper()
	p := s.Alloc(int32(len(b)))
	if p == 0 {
		t.Fatalf("Alloc(%d): %s", len(b), s.msg)
	}
	copy(s.bufs[p], b)
	return p
}

func floatBytes(v []float64) []byte {
	b := make([]byte, 8*len(v))
	abi.PutFloats(b, v)
	return b
}

func settingsBytes(t *testing.T, set api.Settings) []byte {
	b := make([]byte, abi.SettingsSize)
	if err := abi.PutSettings(b, set); err != nil {
		t.Fatal(err)
	}
	return b
}

func testModel(t *testing.T) (*model.Dense, []byte) {
	d := &model.Dense{
		Activation: model.Tanh, Param: model.Direct,
		W: model.Matrix{Rows: 2, Cols: 2, Data: []float64{0.3, -0.2, 0.1, 0.4}},
		U: model.Matrix{Rows: 2, Cols: 3, Data: []float64{1, 0, -1, 0.5, 0.5, 0.5}}, Bias: []float64{0.1, -0.1},
		C: model.Matrix{Rows: 1, Cols: 2, Data: []float64{1, -1}}, OutBias: []float64{0.2},
	}
	b, err := model.Encode(d, model.F64)
	if err != nil {
		t.Fatal(err)
	}
	return d, b
}

func wantCode(t *testing.T, s *State, what string, got int32, want abi.Code) {
	t.Helper()
	if abi.Code(got) != want {
		t.Fatalf("%s = %d (%s), want %d", what, got, s.msg, want)
	}
	if want < 0 && len(s.msg) == 0 {
		t.Fatalf("%s: no message", what)
	}
}

func TestLifecycle(t *testing.T) {
	s := newState()
	d, file := testModel(t)
	out := put(t, s, make([]byte, abi.SettingsSize))

	m := s.Load(put(t, s, file), int32(len(file)))
	if m < 1 {
		t.Fatalf("Load = %d: %s", m, s.msg)
	}
	wantCode(t, s, "Info", s.Info(m, out), abi.OK)
	reg, _ := abi.DecodeRegion(s.bufs[out])
	if info, err := abi.DecodeInfo(s.models[m].info); err != nil || reg.Len != uint32(len(s.models[m].info)) ||
		info != (api.Info{Kind: "deq-dense", Description: "direct tanh, h=2", Sizes: api.Sizes{In: 3, State: 2, Out: 1}, Params: 6 + 2 + 2 + 1 + 4, Method: "anderson", Precision: api.Float64}) {
		t.Fatalf("Info = %+v, %v (region %+v)", info, err, reg)
	}

	x := []float64{1, 2, 3, -1, 0, 1}
	set := put(t, s, settingsBytes(t, api.Settings{Method: &api.Picard{}, RelTol: 1e-12}))
	xp := put(t, s, floatBytes(x))
	r := s.Start(m, xp, int32(len(x)), set, 0, 0)
	if r < 1 {
		t.Fatalf("Start = %d: %s", r, s.msg)
	}
	wantCode(t, s, "Free(x)", s.Free(xp), abi.OK) // the run has its own copy
	// One iteration at a time, then the rest.
	wantCode(t, s, "Step", s.Step(r, 1), 1)
	wantCode(t, s, "Progress", s.Progress(r, out), abi.OK)
	if p, _ := abi.DecodeProgress(s.bufs[out]); p.Iteration != 1 || p.Active != 2 {
		t.Fatalf("Progress = %+v", p)
	}
	wantCode(t, s, "Step", s.Step(r, math.MaxInt32), 0)
	wantCode(t, s, "Result", s.Result(r, out), abi.OK)
	got, err := abi.DecodeResult(s.runs[r].result)
	if err != nil {
		t.Fatal(err)
	}
	nm, _ := model.New(d)
	want, _ := nm.Infer(context.Background(), x, api.Settings{Method: &api.Picard{}, RelTol: 1e-12})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("output %+v, native %+v", got, want)
	}

	wantCode(t, s, "FreeRun", s.FreeRun(r), abi.OK)
	wantCode(t, s, "FreeRun again", s.FreeRun(r), abi.CodeHandle)
	wantCode(t, s, "FreeModel", s.FreeModel(m), abi.OK)
	wantCode(t, s, "Info after free", s.Info(m, out), abi.CodeHandle)
	for _, p := range []uint32{out, set} {
		wantCode(t, s, "Free", s.Free(p), abi.OK)
	}
	models, runs, bufs := s.Live()
	if len(models)+len(runs)+len(bufs) > 1 { // the model file's buffer is the test's
		t.Fatalf("live: models %v runs %v buffers %v", models, runs, bufs)
	}
}

func TestCancel(t *testing.T) {
	s := newState()
	_, file := testModel(t)
	m := s.Load(put(t, s, file), int32(len(file)))
	set := put(t, s, settingsBytes(t, api.Settings{Method: &api.Picard{}, RelTol: -1, MaxIter: 1000}))
	x := put(t, s, floatBytes([]float64{1, 2, 3}))
	r := s.Start(m, x, 3, set, 0, 0)
	wantCode(t, s, "Step", s.Step(r, 5), 1)
	wantCode(t, s, "Cancel", s.Cancel(r), abi.OK)
	wantCode(t, s, "Step after cancel", s.Step(r, 5), 0)
	out := put(t, s, make([]byte, abi.RegionSize))
	wantCode(t, s, "Result", s.Result(r, out), abi.OK)
	got, _ := abi.DecodeResult(s.runs[r].result)
	if got.Result.Status != api.Canceled || got.Result.Iterations != 5 {
		t.Fatalf("after cancel: %v, %d iterations", got.Result.Status, got.Result.Iterations)
	}
}

func TestErrorCodes(t *testing.T) {
	s := newState()
	_, file := testModel(t)
	fp := put(t, s, file)
	m := s.Load(fp, int32(len(file)))
	out := put(t, s, make([]byte, abi.SettingsSize))
	set := put(t, s, settingsBytes(t, api.Settings{}))
	x := put(t, s, floatBytes([]float64{1, 2, 3}))

	for _, size := range []int32{0, -1, abi.MaxAlloc + 1} {
		if p := s.Alloc(size); p != 0 || !strings.Contains(string(s.msg), abi.ExportAlloc) {
			t.Errorf("Alloc(%d) = %d (%s)", size, p, s.msg)
		}
	}
	wantCode(t, s, "Free(unknown)", s.Free(12345), abi.CodeArgument)
	wantCode(t, s, "Load(garbage)", s.Load(x, 24), abi.CodeModel)
	wantCode(t, s, "Load(past the buffer)", s.Load(fp, int32(len(file)+1)), abi.CodeArgument)
	wantCode(t, s, "Load(negative)", s.Load(fp, -1), abi.CodeArgument)
	wantCode(t, s, "Info(unknown)", s.Info(99, out), abi.CodeHandle)
	wantCode(t, s, "Info(bad out)", s.Info(m, 7), abi.CodeArgument)
	wantCode(t, s, "Start(x not whole samples)", s.Start(m, x, 2, set, 0, 0), abi.CodeProblem)
	wantCode(t, s, "Start(short init)", s.Start(m, x, 3, set, x, 1), abi.CodeProblem)
	wantCode(t, s, "Start(x past the buffer)", s.Start(m, x, 4, set, 0, 0), abi.CodeArgument)
	bad := put(t, s, settingsBytes(t, api.Settings{Method: &api.Anderson{Memory: 1000}}))
	wantCode(t, s, "Start(bad memory)", s.Start(m, x, 3, bad, 0, 0), abi.CodeProblem)
	wantCode(t, s, "Settings(bad)", s.Settings(m, bad, out), abi.OK) // completing is not validating
	wantCode(t, s, "Step(unknown)", s.Step(42, 1), abi.CodeHandle)
	r := s.Start(m, x, 3, set, 0, 0)
	wantCode(t, s, "Step(negative)", s.Step(r, -1), abi.CodeArgument)

	// The message of the last failure is readable at the Region Error writes.
	wantCode(t, s, "Error", s.Error(out), abi.OK)
	reg, _ := abi.DecodeRegion(s.bufs[out])
	if reg.Len != uint32(len(s.msg)) || reg.Ptr == 0 {
		t.Errorf("Error region %+v for a message of %d bytes", reg, len(s.msg))
	}

	// A panic becomes CodeInternal, not a trap.
	p := New(nil)
	if got := p.Alloc(8); got != 0 || !strings.Contains(string(p.msg), abi.ErrInternal.Error()) {
		t.Errorf("panic: Alloc = %d, message %q", got, p.msg)
	}
}
