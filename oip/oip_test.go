package oip

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/internal/models"
	"github.com/implicitlab/implicit/oip/inferencepb"
)

// live is a Server listening on both transports, as a client sees it.
type live struct {
	srv    *Server
	url    string // REST base URL
	grpc   inferencepb.GRPCInferenceServiceClient
	cancel context.CancelFunc
	served chan error // Serve's result
}

// start serves srv on fresh local ports until the test ends.
func start(t *testing.T, srv *Server) *live {
	t.Helper()
	rest, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &live{srv: srv, url: "http://" + rest.Addr().String(), cancel: cancel, served: make(chan error, 1)}
	go func() { l.served <- srv.Serve(ctx, rest, gl) }()
	conn, err := grpc.NewClient("passthrough:///"+gl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	l.grpc = inferencepb.NewGRPCInferenceServiceClient(conn)
	t.Cleanup(func() {
		conn.Close()
		srv.Close()
		cancel()
		<-l.served
	})
	return l
}

// digits is the embedded digits model, natively.
func digits(t testing.TB) *model.Model {
	t.Helper()
	m, err := model.Load(models.DigitsFile())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newServer(t testing.TB, cfg Config, ms map[string]api.Inferer) *Server {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range ms {
		if err := srv.Declare(name); err != nil {
			t.Fatal(err)
		}
		if err := srv.SetReady(name, m); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

// do sends a REST request and decodes its JSON reply into v (if not nil).
func do(t *testing.T, method, url, body string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" && !strings.HasPrefix(url[strings.LastIndex(url, "/"):], "/metrics") {
		t.Errorf("%s %s: Content-Type %q", method, url, ct)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// inferReply is the REST inference reply, decoded.
type inferReply struct {
	ModelName  string            `json:"model_name"`
	ID         string            `json:"id"`
	Parameters map[string]string `json:"parameters"`
	Outputs    []struct {
		Name     string          `json:"name"`
		Datatype string          `json:"datatype"`
		Shape    []int64         `json:"shape"`
		Data     json.RawMessage `json:"data"`
	} `json:"outputs"`
	Error string `json:"error"`
}

func (r *inferReply) output(t *testing.T, name string, v any) []int64 {
	t.Helper()
	for _, o := range r.Outputs {
		if o.Name == name {
			if err := json.Unmarshal(o.Data, v); err != nil {
				t.Fatalf("output %s: %v", name, err)
			}
			return o.Shape
		}
	}
	t.Fatalf("no output %q in %+v", name, r)
	return nil
}

func inferBody(datatype string, n, p int, x []float64, params string) string {
	data, _ := json.Marshal(x)
	if params == "" {
		params = "{}"
	}
	return fmt.Sprintf(`{"id": "req-1", "inputs": [{"name": "x", "shape": [%d, %d], "datatype": %q, "data": %s}], "parameters": %s}`, n, p, datatype, data, params)
}

// samples returns n inputs of the digits model (64 pixels in [0, 1]).
func samples(n int) []float64 {
	x := make([]float64, n*64)
	for i := range x {
		x[i] = float64((i*37+i/64*11)%17) / 16
	}
	return x
}

// Every route answers as the protocol says, and an inference is the
// engine's, sample by sample.
func TestREST(t *testing.T) {
	m := digits(t)
	l := start(t, newServer(t, Config{Version: "v9"}, map[string]api.Inferer{"digits": m}))

	var liveR, readyR map[string]bool
	if c := do(t, "GET", l.url+"/v2/health/live", "", &liveR); c != 200 || !liveR["live"] {
		t.Errorf("live: %d %v", c, liveR)
	}
	if c := do(t, "GET", l.url+"/v2/health/ready", "", &readyR); c != 200 || !readyR["ready"] {
		t.Errorf("ready: %d %v", c, readyR)
	}
	var sm serverMetadata
	if c := do(t, "GET", l.url+"/v2", "", &sm); c != 200 || sm.Name != "implicit" || sm.Version != "v9" || sm.Extensions == nil {
		t.Errorf("server metadata: %d %+v", c, sm)
	}
	var md modelMetadata
	if c := do(t, "GET", l.url+"/v2/models/digits", "", &md); c != 200 {
		t.Fatalf("model metadata: %d", c)
	}
	if md.Name != "digits" || md.Platform != "implicit" || len(md.Inputs) != 1 || md.Inputs[0].Shape[1] != 64 ||
		len(md.Outputs) != 3 || md.Outputs[0].Shape[1] != 10 || md.Parameters.Kind != "deq-dense" || md.Parameters.Params != m.Info().Params {
		t.Errorf("model metadata: %+v", md)
	}
	var mr struct {
		Name  string `json:"name"`
		Ready bool   `json:"ready"`
	}
	if c := do(t, "GET", l.url+"/v2/models/digits/ready", "", &mr); c != 200 || !mr.Ready || mr.Name != "digits" {
		t.Errorf("model ready: %d %+v", c, mr)
	}

	x := samples(3)
	want, err := m.Infer(context.Background(), x, api.Settings{MaxIter: 40})
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range []string{"FP64", "FP32"} {
		var r inferReply
		if c := do(t, "POST", l.url+"/v2/models/digits/infer", inferBody(dt, 3, 64, x, `{"max_iter": 40}`), &r); c != 200 {
			t.Fatalf("%s: %d %s", dt, c, r.Error)
		}
		if r.ModelName != "digits" || r.ID != "req-1" || r.Parameters["solver"] != m.Info().Method {
			t.Errorf("%s: %+v", dt, r)
		}
		var y []float64
		var its []int
		var sts []string
		if shape := r.output(t, "y", &y); len(shape) != 2 || shape[0] != 3 || shape[1] != 10 {
			t.Errorf("%s: y shape %v", dt, shape)
		}
		r.output(t, "iterations", &its)
		r.output(t, "status", &sts)
		for i, s := range want.Result.Samples {
			if its[i] != s.Iterations || sts[i] != s.Status.String() {
				t.Errorf("%s sample %d: %d %s, want %d %s", dt, i, its[i], sts[i], s.Iterations, s.Status)
			}
		}
		tol := 0.0
		if dt == "FP32" {
			tol = 1e-4 // the inputs and outputs rounded to float32
		}
		for i := range y {
			if d := math.Abs(y[i] - want.Y[i]); d > tol*(1+math.Abs(want.Y[i])) {
				t.Fatalf("%s: y[%d] = %v, want %v", dt, i, y[i], want.Y[i])
			}
		}
	}

	// Nested data, the outputs asked for, a solver asked for.
	nested := make([][]float64, 2)
	for i := range nested {
		nested[i] = x[i*64 : (i+1)*64]
	}
	data, _ := json.Marshal(nested)
	var r inferReply
	body := fmt.Sprintf(`{"inputs": [{"name": "input-0", "shape": [2, 64], "datatype": "FP64", "data": %s}], "outputs": [{"name": "status"}, {"name": "y"}], "parameters": {"solver": "picard", "tol": "1e-4", "precision": "float32"}}`, data)
	if c := do(t, "POST", l.url+"/v2/models/digits/infer", body, &r); c != 200 {
		t.Fatalf("nested: %d %s", c, r.Error)
	}
	if len(r.Outputs) != 2 || r.Outputs[0].Name != "status" || r.Outputs[1].Name != "y" || r.Parameters["solver"] != "picard" || r.ID != "" {
		t.Errorf("nested: %+v", r)
	}
	wantPicard, _ := m.Infer(context.Background(), x[:128], api.Settings{Method: &api.Picard{}, RelTol: 1e-4, Precision: api.Float32})
	var y []float64
	r.output(t, "y", &y)
	for i := range y {
		if y[i] != wantPicard.Y[i] {
			t.Fatalf("nested picard: y[%d] = %v, want %v", i, y[i], wantPicard.Y[i])
		}
	}
}

// Bad requests get 400 (404 for an unknown model or route, 405 for a wrong
// method) and an error naming the problem.
func TestRESTBadRequests(t *testing.T) {
	l := start(t, newServer(t, Config{MaxBatch: 4, MaxRequestBytes: 1 << 16, MaxIter: 500}, map[string]api.Inferer{"digits": digits(t)}))
	one := samples(1)
	cases := []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"not JSON", "POST", "/v2/models/digits/infer", `{"inputs": [`, 400, "not an inference request's JSON"},
		{"no input", "POST", "/v2/models/digits/infer", `{"inputs": []}`, 400, "0 input tensors"},
		{"two inputs", "POST", "/v2/models/digits/infer", `{"inputs": [{"name": "a"}, {"name": "b"}]}`, 400, "2 input tensors"},
		{"datatype", "POST", "/v2/models/digits/infer", strings.Replace(inferBody("FP64", 1, 64, one, ""), "FP64", "INT32", 1), 400, `datatype "INT32"`},
		{"shape", "POST", "/v2/models/digits/infer", inferBody("FP64", 2, 32, one, ""), 400, "takes shape [n, 64]"},
		{"rank", "POST", "/v2/models/digits/infer", strings.Replace(inferBody("FP64", 1, 64, one, ""), "[1, 64]", "[64]", 1), 400, "shape [64]"},
		{"length", "POST", "/v2/models/digits/infer", inferBody("FP64", 1, 64, one[:63], ""), 400, "63 values for shape [1 64]"},
		{"batch limit", "POST", "/v2/models/digits/infer", inferBody("FP64", 5, 64, samples(5), ""), 400, "5 samples; want 1 to 4"},
		{"no sample", "POST", "/v2/models/digits/infer", inferBody("FP64", 0, 64, samples(0), ""), 400, "0 samples"},
		{"no data", "POST", "/v2/models/digits/infer", inferBody("FP64", 1, 64, nil, ""), 400, "null is not an array"},
		{"FP64 overflow", "POST", "/v2/models/digits/infer", strings.Replace(inferBody("FP64", 1, 64, one, ""), "[0,", "[1e400,", 1), 400, "1e400, is not a finite FP64 number"},
		{"FP32 overflow", "POST", "/v2/models/digits/infer", strings.Replace(inferBody("FP32", 1, 64, one, ""), "[0,", "[1e39,", 1), 400, "out of the FP32 range"},
		{"null value", "POST", "/v2/models/digits/infer", strings.Replace(inferBody("FP64", 1, 64, one, ""), "[0,", "[null,", 1), 400, "value 0 is null"},
		{"string value", "POST", "/v2/models/digits/infer", strings.Replace(inferBody("FP64", 1, 64, one, ""), "[0,", `["0",`, 1), 400, "value 0 is string"},
		{"unknown parameter", "POST", "/v2/models/digits/infer", inferBody("FP64", 1, 64, one, `{"maxiter": 5}`), 400, `unknown parameter "maxiter"`},
		{"solver", "POST", "/v2/models/digits/infer", inferBody("FP64", 1, 64, one, `{"solver": "newton"}`), 400, "parameter solver"},
		{"precision", "POST", "/v2/models/digits/infer", inferBody("FP64", 1, 64, one, `{"precision": "half"}`), 400, "parameter precision"},
		{"precision type", "POST", "/v2/models/digits/infer", inferBody("FP64", 1, 64, one, `{"precision": 32}`), 400, "parameter precision: 32 is not a string"},
		{"solver type", "POST", "/v2/models/digits/infer", inferBody("FP64", 1, 64, one, `{"solver": 3}`), 400, "is not a string"},
		{"tol negative", "POST", "/v2/models/digits/infer", inferBody("FP64", 1, 64, one, `{"tol": -1}`), 400, "parameter tol: -1"},
		{"tol text", "POST", "/v2/models/digits/infer", inferBody("FP64", 1, 64, one, `{"tol": "small"}`), 400, "parameter tol"},
		{"tol infinite", "POST", "/v2/models/digits/infer", inferBody("FP64", 1, 64, one, `{"tol": "Inf"}`), 400, "parameter tol"},
		{"max_iter zero", "POST", "/v2/models/digits/infer", inferBody("FP64", 1, 64, one, `{"max_iter": 0}`), 400, "from 1 to 500"},
		{"max_iter fraction", "POST", "/v2/models/digits/infer", inferBody("FP64", 1, 64, one, `{"max_iter": 2.5}`), 400, "parameter max_iter: 2.5"},
		{"max_iter limit", "POST", "/v2/models/digits/infer", inferBody("FP64", 1, 64, one, `{"max_iter": 501}`), 400, "from 1 to 500"},
		{"parameter object", "POST", "/v2/models/digits/infer", inferBody("FP64", 1, 64, one, `{"tol": {}}`), 400, "want a string, a number or a boolean"},
		{"unknown output", "POST", "/v2/models/digits/infer", strings.Replace(inferBody("FP64", 1, 64, one, ""), `"parameters"`, `"outputs": [{"name": "z"}], "parameters"`, 1), 400, `output "z"`},
		{"tensor parameters", "POST", "/v2/models/digits/infer", strings.Replace(inferBody("FP64", 1, 64, one, ""), `"name": "x",`, `"name": "x", "parameters": {"binary_data_size": 8},`, 1), 400, "tensor parameters"},
		{"body limit", "POST", "/v2/models/digits/infer", `{"id": "` + strings.Repeat("a", 1<<16) + `"}`, 400, "over 65536 bytes"},
		{"unknown model", "POST", "/v2/models/nope/infer", inferBody("FP64", 1, 64, one, ""), 404, `model "nope" is not served here`},
		{"unknown model metadata", "GET", "/v2/models/nope", "", 404, `model "nope"`},
		{"unknown model ready", "GET", "/v2/models/nope/ready", "", 404, `model "nope"`},
		{"unknown route", "GET", "/v1/models", "", 404, "no route GET /v1/models"},
		{"GET infer", "GET", "/v2/models/digits/infer", "", 405, "want POST"},
		{"POST live", "POST", "/v2/health/live", "", 405, "want GET"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r struct {
				Error string `json:"error"`
			}
			if code := do(t, c.method, l.url+c.path, c.body, &r); code != c.code || !strings.Contains(r.Error, c.want) {
				t.Errorf("%d %q; want %d and an error with %q", code, r.Error, c.code, c.want)
			}
		})
	}
}

// blocking is a model whose solves wait until released or until their
// context is done, as a long solve would.
type blocking struct {
	api.Inferer
	started  chan struct{} // a solve began
	release  chan struct{} // closed: the solves finish
	canceled chan error    // a solve saw its context done, with this error
	running  atomic.Int32
	most     atomic.Int32 // the most solves that ran at once
	workers  atomic.Int32 // the largest api.Settings.Workers a solve was asked for
}

func newBlocking(m api.Inferer) *blocking {
	return &blocking{Inferer: m, started: make(chan struct{}, 100), release: make(chan struct{}), canceled: make(chan error, 100)}
}

func (b *blocking) Infer(ctx context.Context, x []float64, s api.Settings) (*api.Output, error) {
	n := b.running.Add(1)
	defer b.running.Add(-1)
	for w := int32(s.Workers); ; {
		m := b.workers.Load()
		if w <= m || b.workers.CompareAndSwap(m, w) {
			break
		}
	}
	for {
		m := b.most.Load()
		if n <= m || b.most.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case b.started <- struct{}{}:
	default: // nobody counting
	}
	select {
	case <-b.release:
		return b.Inferer.Infer(ctx, x, s)
	case <-ctx.Done():
		b.canceled <- ctx.Err()
		return nil, ctx.Err()
	}
}

// A model declared but not loaded makes the server unready and answers 503
// until it is ready.
func TestNotReady(t *testing.T) {
	srv := newServer(t, Config{}, nil)
	if err := srv.Declare("digits"); err != nil {
		t.Fatal(err)
	}
	l := start(t, srv)
	var r map[string]any
	for _, path := range []string{"/v2/health/ready", "/v2/models/digits/ready", "/v2/models/digits"} {
		if c := do(t, "GET", l.url+path, "", &r); c != 503 {
			t.Errorf("GET %s: %d %v, want 503", path, c, r)
		}
	}
	if c := do(t, "POST", l.url+"/v2/models/digits/infer", inferBody("FP64", 1, 64, samples(1), ""), &r); c != 503 || !strings.Contains(fmt.Sprint(r["error"]), "loading") {
		t.Errorf("infer: %d %v", c, r)
	}
	if _, err := l.grpc.ModelInfer(context.Background(), grpcRequest("digits", "FP64", 1, samples(1))); status.Code(err) != codes.Unavailable {
		t.Errorf("gRPC infer: %v, want Unavailable", err)
	}
	if rr, err := l.grpc.ServerReady(context.Background(), &inferencepb.ServerReadyRequest{}); err != nil || rr.Ready {
		t.Errorf("gRPC ServerReady: %v %v", rr, err)
	}
	if err := srv.SetReady("digits", digits(t)); err != nil {
		t.Fatal(err)
	}
	if c := do(t, "GET", l.url+"/v2/health/ready", "", &r); c != 200 {
		t.Errorf("ready once loaded: %d", c)
	}
	if err := srv.SetReady("other", digits(t)); err == nil {
		t.Error("SetReady of an undeclared model: no error")
	}
	if err := srv.Declare("digits"); err == nil {
		t.Error("a second model named digits: no error")
	}
	if err := srv.Declare("../x"); err == nil {
		t.Error("a name that is not a path segment: no error")
	}
}

// An inference past its deadline gets 504 (DeadlineExceeded); one whose
// client goes away stops its solve.
func TestDeadlineAndCancel(t *testing.T) {
	b := newBlocking(digits(t))
	l := start(t, newServer(t, Config{Timeout: 200 * time.Millisecond}, map[string]api.Inferer{"digits": b}))
	var r map[string]string
	if c := do(t, "POST", l.url+"/v2/models/digits/infer", inferBody("FP64", 1, 64, samples(1), ""), &r); c != 504 || !strings.Contains(r["error"], "deadline of 200ms") {
		t.Errorf("REST: %d %v, want 504", c, r)
	}
	if err := <-b.canceled; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the solve saw %v", err)
	}
	<-b.started
	if _, err := l.grpc.ModelInfer(context.Background(), grpcRequest("digits", "FP64", 1, samples(1))); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("gRPC: %v, want DeadlineExceeded", err)
	}
	<-b.started
	<-b.canceled
	// A gRPC client's own deadline ends the solve too.
	l3 := start(t, newServer(t, Config{Timeout: time.Hour}, map[string]api.Inferer{"digits": b}))
	cctx, ccancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer ccancel()
	if _, err := l3.grpc.ModelInfer(cctx, grpcRequest("digits", "FP64", 1, samples(1))); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("gRPC with the client's deadline: %v, want DeadlineExceeded", err)
	}
	<-b.started
	<-b.canceled // DeadlineExceeded, or Canceled if the client's reset came first

	// The client goes away: the solve's context ends with it.
	l2 := start(t, newServer(t, Config{Timeout: time.Hour}, map[string]api.Inferer{"digits": b}))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", l2.url+"/v2/models/digits/infer", strings.NewReader(inferBody("FP64", 1, 64, samples(1), "")))
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-b.started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("client: %v", err)
	}
	select {
	case err := <-b.canceled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the solve saw %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the solve went on 30 s after its client left")
	}
	waitMetric(t, l2.url, `implicit_requests_total{code="499",model="digits",protocol="rest",route="POST /v2/models/{name}/infer"} 1`)
}

// waitMetric waits (generously) until /metrics has the line.
func waitMetric(t *testing.T, url, line string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if last = string(b); strings.Contains(last, line+"\n") {
			return
		}
	}
	t.Fatalf("/metrics has no line %q:\n%s", line, last)
}

func grpcRequest(model, datatype string, n int, x []float64) *inferencepb.ModelInferRequest {
	in := &inferencepb.ModelInferRequest_InferInputTensor{Name: "x", Datatype: datatype, Shape: []int64{int64(n), int64(len(x) / max(n, 1))},
		Contents: &inferencepb.InferTensorContents{}}
	if datatype == "FP32" {
		for _, v := range x {
			in.Contents.Fp32Contents = append(in.Contents.Fp32Contents, float32(v))
		}
	} else {
		in.Contents.Fp64Contents = x
	}
	return &inferencepb.ModelInferRequest{ModelName: model, Id: "g-1", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{in}}
}

// The gRPC service answers as REST does: the same numbers, the same
// errors as codes.
func TestGRPC(t *testing.T) {
	m := digits(t)
	l := start(t, newServer(t, Config{MaxBatch: 8}, map[string]api.Inferer{"digits": m}))
	ctx := context.Background()
	if r, err := l.grpc.ServerLive(ctx, &inferencepb.ServerLiveRequest{}); err != nil || !r.Live {
		t.Errorf("ServerLive: %v %v", r, err)
	}
	if r, err := l.grpc.ServerReady(ctx, &inferencepb.ServerReadyRequest{}); err != nil || !r.Ready {
		t.Errorf("ServerReady: %v %v", r, err)
	}
	if r, err := l.grpc.ServerMetadata(ctx, &inferencepb.ServerMetadataRequest{}); err != nil || r.Name != "implicit" {
		t.Errorf("ServerMetadata: %v %v", r, err)
	}
	if r, err := l.grpc.ModelReady(ctx, &inferencepb.ModelReadyRequest{Name: "digits"}); err != nil || !r.Ready {
		t.Errorf("ModelReady: %v %v", r, err)
	}
	md, err := l.grpc.ModelMetadata(ctx, &inferencepb.ModelMetadataRequest{Name: "digits"})
	if err != nil || md.Name != "digits" || len(md.Inputs) != 1 || md.Inputs[0].Shape[1] != 64 || len(md.Outputs) != 3 || md.Outputs[0].Shape[1] != 10 {
		t.Errorf("ModelMetadata: %v %v", md, err)
	}

	x := samples(2)
	want, err := m.Infer(ctx, x, api.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 8*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(v))
	}
	rawReq := grpcRequest("digits", "FP64", 2, nil)
	rawReq.Inputs[0].Shape, rawReq.Inputs[0].Contents, rawReq.RawInputContents = []int64{2, 64}, nil, [][]byte{raw}
	for name, req := range map[string]*inferencepb.ModelInferRequest{
		"fp64": grpcRequest("digits", "FP64", 2, x), "fp32": grpcRequest("digits", "FP32", 2, x), "raw": rawReq,
	} {
		r, err := l.grpc.ModelInfer(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.ModelName != "digits" || r.Id != "g-1" || len(r.Outputs) != 3 || r.Parameters["solver"].GetStringParam() != m.Info().Method {
			t.Fatalf("%s: %v", name, r)
		}
		y := r.Outputs[0].Contents.Fp64Contents
		tol := 0.0
		if name == "fp32" {
			tol = 1e-4
			y = nil
			for _, v := range r.Outputs[0].Contents.Fp32Contents {
				y = append(y, float64(v))
			}
		}
		if len(y) != len(want.Y) {
			t.Fatalf("%s: %d outputs", name, len(y))
		}
		for i := range y {
			if math.Abs(y[i]-want.Y[i]) > tol*(1+math.Abs(want.Y[i])) {
				t.Fatalf("%s: y[%d] = %v, want %v", name, i, y[i], want.Y[i])
			}
		}
		for i, s := range want.Result.Samples {
			if int(r.Outputs[1].Contents.IntContents[i]) != s.Iterations || string(r.Outputs[2].Contents.BytesContents[i]) != s.Status.String() {
				t.Errorf("%s sample %d: %v %s", name, i, r.Outputs[1].Contents.IntContents[i], r.Outputs[2].Contents.BytesContents[i])
			}
		}
	}

	bad := func(mut func(r *inferencepb.ModelInferRequest)) *inferencepb.ModelInferRequest {
		r := grpcRequest("digits", "FP64", 1, samples(1))
		mut(r)
		return r
	}
	for _, c := range []struct {
		name string
		req  *inferencepb.ModelInferRequest
		code codes.Code
		want string
	}{
		{"unknown model", bad(func(r *inferencepb.ModelInferRequest) { r.ModelName = "nope" }), codes.NotFound, `model "nope"`},
		{"version", bad(func(r *inferencepb.ModelInferRequest) { r.ModelVersion = "2" }), codes.NotFound, "no versions"},
		{"datatype", bad(func(r *inferencepb.ModelInferRequest) { r.Inputs[0].Datatype = "FP16" }), codes.InvalidArgument, `datatype "FP16"`},
		{"contents type", bad(func(r *inferencepb.ModelInferRequest) { r.Inputs[0].Datatype = "FP32" }), codes.InvalidArgument, "want fp32_contents"},
		{"shape", bad(func(r *inferencepb.ModelInferRequest) { r.Inputs[0].Shape = []int64{2, 32} }), codes.InvalidArgument, "takes shape [n, 64]"},
		{"NaN", bad(func(r *inferencepb.ModelInferRequest) { r.Inputs[0].Contents.Fp64Contents[3] = math.NaN() }), codes.InvalidArgument, "value 3 (sample 0) is NaN"},
		{"raw and contents", bad(func(r *inferencepb.ModelInferRequest) { r.RawInputContents = [][]byte{raw} }), codes.InvalidArgument, "both contents and raw_input_contents"},
		{"raw size", bad(func(r *inferencepb.ModelInferRequest) {
			r.Inputs[0].Contents, r.RawInputContents = nil, [][]byte{raw[:13]}
		}), codes.InvalidArgument, "13 bytes"},
		{"batch", grpcRequest("digits", "FP64", 9, samples(9)), codes.InvalidArgument, "9 samples"},
		{"parameter", bad(func(r *inferencepb.ModelInferRequest) {
			r.Parameters = map[string]*inferencepb.InferParameter{"max_iter": {ParameterChoice: &inferencepb.InferParameter_BoolParam{BoolParam: true}}}
		}), codes.InvalidArgument, "parameter max_iter: true"},
	} {
		_, err := l.grpc.ModelInfer(ctx, c.req)
		if st, _ := status.FromError(err); st.Code() != c.code || !strings.Contains(st.Message(), c.want) {
			t.Errorf("%s: %v; want %v with %q", c.name, err, c.code, c.want)
		}
	}
	// gRPC parameters: an int64 max_iter and a tolerance as a string.
	req := grpcRequest("digits", "FP64", 1, samples(1))
	req.Parameters = map[string]*inferencepb.InferParameter{
		"max_iter": {ParameterChoice: &inferencepb.InferParameter_Int64Param{Int64Param: 3}},
		"tol":      {ParameterChoice: &inferencepb.InferParameter_StringParam{StringParam: "1e-12"}},
	}
	r, err := l.grpc.ModelInfer(ctx, req)
	if err != nil || r.Outputs[1].Contents.IntContents[0] != 3 || string(r.Outputs[2].Contents.BytesContents[0]) != "iteration limit" {
		t.Errorf("max_iter 3: %v %v", r, err)
	}
	if _, err := l.grpc.ModelReady(ctx, &inferencepb.ModelReadyRequest{Name: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("ModelReady of an unknown model: %v", err)
	}
}

// 64 clients at once, over both transports, each get their own answers
// (TestSolveSlots checks the bound on the solves at once).
func TestConcurrentClients(t *testing.T) {
	m := digits(t)
	counted := newBlocking(m)
	close(counted.release)
	l := start(t, newServer(t, Config{Concurrency: 3}, map[string]api.Inferer{"digits": counted}))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for c := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 4 {
				x := samples(1 + (c+k)%3)
				for i := range x {
					x[i] = math.Mod(x[i]+float64(c)*0.013+float64(k)*0.007, 1)
				}
				n := len(x) / 64
				want, err := m.Infer(context.Background(), x, api.Settings{})
				if err != nil {
					errs <- err
					return
				}
				var y []float64
				if c%2 == 0 {
					b, _ := json.Marshal(x)
					resp, err := http.Post(l.url+"/v2/models/digits/infer", "application/json",
						bytes.NewReader(fmt.Appendf(nil, `{"inputs": [{"name": "x", "shape": [%d, 64], "datatype": "FP64", "data": %s}]}`, n, b)))
					if err != nil {
						errs <- err
						return
					}
					var r inferReply
					err = json.NewDecoder(resp.Body).Decode(&r)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 {
						errs <- fmt.Errorf("client %d: %d %v %s", c, resp.StatusCode, err, r.Error)
						return
					}
					if err := json.Unmarshal(r.Outputs[0].Data, &y); err != nil {
						errs <- err
						return
					}
				} else {
					r, err := l.grpc.ModelInfer(context.Background(), grpcRequest("digits", "FP64", n, x))
					if err != nil {
						errs <- fmt.Errorf("client %d: %v", c, err)
						return
					}
					y = r.Outputs[0].Contents.Fp64Contents
				}
				for i := range want.Y {
					if y[i] != want.Y[i] {
						errs <- fmt.Errorf("client %d request %d: y[%d] = %v, want %v", c, k, i, y[i], want.Y[i])
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
	waitMetric(t, l.url, `implicit_requests_total{code="200",model="digits",protocol="rest",route="POST /v2/models/{name}/infer"} 128`)
	waitMetric(t, l.url, `implicit_requests_total{code="OK",model="digits",protocol="grpc",route="ModelInfer"} 128`)
	waitMetric(t, l.url, `implicit_pool_size 3`)
	waitMetric(t, l.url, `implicit_pool_busy 0`)
}

// On shutdown the requests in flight finish while new ones get 503, and
// then the server stops listening; past the shutdown timeout, Serve cuts
// them short.
func TestShutdown(t *testing.T) {
	b := newBlocking(digits(t))
	l := start(t, newServer(t, Config{}, map[string]api.Inferer{"digits": b}))
	type answer struct {
		code int
		body string
	}
	inflight := make(chan answer, 1)
	go func() {
		resp, err := http.Post(l.url+"/v2/models/digits/infer", "application/json", strings.NewReader(inferBody("FP64", 1, 64, samples(1), "")))
		if err != nil {
			inflight <- answer{0, err.Error()}
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- answer{resp.StatusCode, string(body)}
	}()
	<-b.started

	l.cancel() // as SIGTERM does
	var r map[string]any
	for c := 0; c != 503; time.Sleep(5 * time.Millisecond) {
		c = do(t, "GET", l.url+"/v2/health/ready", "", &r) // 503 once draining
	}
	if c := do(t, "POST", l.url+"/v2/models/digits/infer", inferBody("FP64", 1, 64, samples(1), ""), &r); c != 503 || !strings.Contains(fmt.Sprint(r["error"]), "shutting down") {
		t.Errorf("a new request while draining: %d %v", c, r)
	}
	if c := do(t, "GET", l.url+"/v2/health/live", "", &r); c != 200 {
		t.Errorf("live while draining: %d", c)
	}
	select {
	case err := <-l.served:
		t.Fatalf("Serve returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(b.release)
	if a := <-inflight; a.code != 200 || !strings.Contains(a.body, `"status"`) {
		t.Errorf("the request in flight: %d %s", a.code, a.body)
	}
	if err := <-l.served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	l.served <- nil // for the cleanup
	if _, err := http.Get(l.url + "/v2/health/live"); err == nil {
		t.Error("still accepting after Serve returned")
	}

	// Cut short at the shutdown timeout.
	b2 := newBlocking(digits(t))
	l2 := start(t, newServer(t, Config{ShutdownTimeout: 50 * time.Millisecond}, map[string]api.Inferer{"digits": b2}))
	go http.Post(l2.url+"/v2/models/digits/infer", "application/json", strings.NewReader(inferBody("FP64", 1, 64, samples(1), "")))
	<-b2.started
	l2.cancel()
	select {
	case err := <-l2.served:
		if !errors.Is(err, ErrCutShort) {
			t.Errorf("Serve: %v, want ErrCutShort", err)
		}
		l2.served <- nil
	case <-time.After(30 * time.Second):
		t.Fatal("Serve still waiting 30 s past its shutdown timeout")
	}
	select {
	case <-b2.canceled:
	case <-time.After(30 * time.Second):
		t.Fatal("the solve cut short went on")
	}
}

// The metrics count requests by route and code, samples by status, and
// iterations.
func TestMetrics(t *testing.T) {
	l := start(t, newServer(t, Config{}, map[string]api.Inferer{"digits": digits(t)}))
	var r inferReply
	if c := do(t, "POST", l.url+"/v2/models/digits/infer", inferBody("FP64", 2, 64, samples(2), `{"max_iter": 2}`), &r); c != 200 {
		t.Fatal(c, r.Error)
	}
	do(t, "POST", l.url+"/v2/models/nope/infer", "{}", nil)
	waitMetric(t, l.url, `implicit_samples_total{model="digits",status="iteration limit"} 2`)
	waitMetric(t, l.url, `implicit_sample_iterations_count{model="digits"} 2`)
	waitMetric(t, l.url, `implicit_sample_iterations_sum{model="digits"} 4`)
	waitMetric(t, l.url, `implicit_requests_total{code="404",model="",protocol="rest",route="POST /v2/models/{name}/infer"} 1`)
	waitMetric(t, l.url, `implicit_request_duration_seconds_count{model="digits",protocol="rest",route="POST /v2/models/{name}/infer"} 1`)
	resp, err := http.Get(l.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"go_goroutines ", "process_resident_memory_bytes "} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("/metrics has no %s", want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{MaxBatch: -1}, {Timeout: -1}, {Concurrency: -2}, {Drain: -1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

// failing answers a solve whose second sample went non-finite, as the
// engine does: the Output and a *api.SolveError.
type failing struct{ api.Inferer }

func (f failing) Infer(ctx context.Context, x []float64, s api.Settings) (*api.Output, error) {
	out, err := f.Inferer.Infer(ctx, x, s)
	if err != nil {
		return nil, err
	}
	out.Y[10], out.Y[11] = math.NaN(), math.Inf(1)
	out.Result.Samples[1].Status = api.NonFinite
	return out, &api.SolveError{Sample: 1, Iteration: 3, Err: api.ErrNonFinite}
}

// A sample that fails keeps its row, with null for a non-finite value, and
// its status; the others are answered as usual.
func TestFailedSample(t *testing.T) {
	l := start(t, newServer(t, Config{}, map[string]api.Inferer{"digits": failing{digits(t)}}))
	var r inferReply
	if c := do(t, "POST", l.url+"/v2/models/digits/infer", inferBody("FP64", 2, 64, samples(2), ""), &r); c != 200 {
		t.Fatalf("%d %s", c, r.Error)
	}
	var y []*float64
	var sts []string
	r.output(t, "y", &y)
	r.output(t, "status", &sts)
	if len(y) != 20 || y[10] != nil || y[11] != nil || y[0] == nil || y[12] == nil || sts[0] != "converged" || sts[1] != "non-finite" {
		t.Errorf("y %v, status %v", y, sts)
	}
	g, err := l.grpc.ModelInfer(context.Background(), grpcRequest("digits", "FP64", 2, samples(2)))
	if err != nil || !math.IsNaN(g.Outputs[0].Contents.Fp64Contents[10]) || string(g.Outputs[2].Contents.BytesContents[1]) != "non-finite" {
		t.Errorf("gRPC: %v %v", g, err)
	}
	waitMetric(t, l.url, `implicit_samples_total{model="digits",status="non-finite"} 2`)
}

// No more solves run at once than Config.Concurrency: with three slots and
// ten requests whose solves hold on, three run and seven wait, until the
// solves are let go.
func TestSolveSlots(t *testing.T) {
	b := newBlocking(digits(t))
	l := start(t, newServer(t, Config{Concurrency: 3}, map[string]api.Inferer{"digits": b}))
	codes := make(chan int, 10)
	for range 10 {
		go func() {
			resp, err := http.Post(l.url+"/v2/models/digits/infer", "application/json", strings.NewReader(inferBody("FP64", 1, 64, samples(1), "")))
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	waitMetric(t, l.url, "implicit_pool_busy 3")
	waitMetric(t, l.url, "implicit_pool_waiting 7")
	if n := b.running.Load(); n != 3 {
		t.Errorf("%d solves running, with 3 slots", n)
	}
	close(b.release)
	for range 10 {
		if c := <-codes; c != 200 {
			t.Errorf("a request got %d", c)
		}
	}
	if w := b.workers.Load(); w != 1 {
		t.Errorf("a solve was asked for %d workers; the server gives each one (its slots bound the cores)", w)
	}
	if most := b.most.Load(); most != 3 {
		t.Errorf("at most %d solves ran at once, with 3 slots", most)
	}
}
