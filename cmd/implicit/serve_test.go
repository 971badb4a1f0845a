package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/internal/datasets"
	"github.com/implicitlab/implicit/internal/models"
	"github.com/implicitlab/implicit/oip/inferencepb"
)

// serving is an "implicit serve" running in the test.
type serving struct {
	rest, grpc string // addresses
	log        *serveLog
	done       chan error
	cancel     context.CancelFunc
}

// startOIP runs "implicit serve args…" on free ports with a JSON log and
// waits until it listens and, if ready, until its models are ready.
func startOIP(t *testing.T, ready bool, args ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{log: &serveLog{}, done: make(chan error, 1), cancel: cancel}
	root := newRootCmd()
	root.SetArgs(append([]string{"serve", "--addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--log-format", "json"}, args...))
	root.SetOut(&bytes.Buffer{})
	root.SetErr(s.log)
	go func() { s.done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(60 * time.Second):
			t.Error("implicit serve still running 60 s after its context ended")
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for s.rest == "" {
		if rec := s.log.find("listening"); rec != nil {
			rest, _ := rec["rest"].(string)
			s.rest = strings.TrimSuffix(strings.TrimPrefix(rest, "http://"), "/v2")
			s.grpc, _ = rec["grpc"].(string)
			break
		}
		select {
		case err := <-s.done:
			s.done <- err
			return s
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("implicit serve is not listening after 2 minutes:\n%s", s.log)
		}
	}
	for ready {
		resp, err := http.Get("http://" + s.rest + "/v2/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("implicit serve is not ready after 2 minutes:\n%s", s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// modelDir holds the two embedded models and a file that is not a model.
func modelDir(t *testing.T) string {
	dir := t.TempDir()
	for name, b := range map[string][]byte{"digits.safetensors": models.DigitsFile(), "digits-conv.safetensors": models.DigitsConvFile(), "README.md": []byte("not a model")} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// implicit serve answers with the engine's numbers, in either runtime and
// over either transport, and stops on its context's end.
func TestServe(t *testing.T) {
	set, err := datasets.Digits()
	if err != nil {
		t.Fatal(err)
	}
	x := set.HoldOut.X[:3*64]
	native := map[string]*model.Model{}
	for name, file := range map[string][]byte{"digits": models.DigitsFile(), "digits-conv": models.DigitsConvFile()} {
		if native[name], err = model.Load(file); err != nil {
			t.Fatal(err)
		}
	}
	dir := modelDir(t)
	for _, rt := range []string{"wasm", "native"} {
		t.Run(rt, func(t *testing.T) {
			s := startOIP(t, true, "--models", dir, "--runtime", rt, "--instances", "2")
			for name, m := range native {
				want, err := m.Infer(context.Background(), x, api.Settings{})
				if err != nil {
					t.Fatal(err)
				}
				data, _ := json.Marshal(x)
				resp, err := http.Post("http://"+s.rest+"/v2/models/"+name+"/infer", "application/json",
					strings.NewReader(fmt.Sprintf(`{"inputs": [{"name": "x", "shape": [3, 64], "datatype": "FP64", "data": %s}]}`, data)))
				if err != nil {
					t.Fatal(err)
				}
				var r struct {
					Outputs []struct {
						Name string          `json:"name"`
						Data json.RawMessage `json:"data"`
					} `json:"outputs"`
				}
				err = json.NewDecoder(resp.Body).Decode(&r)
				resp.Body.Close()
				var y []float64
				if err == nil && len(r.Outputs) == 3 {
					err = json.Unmarshal(r.Outputs[0].Data, &y)
				}
				if err != nil || resp.StatusCode != 200 || len(r.Outputs) != 3 {
					t.Fatalf("%s: %d %v %+v", name, resp.StatusCode, err, r)
				}
				assertClose(t, name+" REST", y, want.Y)

				conn, err := grpc.NewClient("passthrough:///"+s.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					t.Fatal(err)
				}
				gr, err := inferencepb.NewGRPCInferenceServiceClient(conn).ModelInfer(context.Background(), &inferencepb.ModelInferRequest{
					ModelName: name, Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "FP64", Shape: []int64{3, 64},
						Contents: &inferencepb.InferTensorContents{Fp64Contents: x}}}})
				conn.Close()
				if err != nil {
					t.Fatalf("%s gRPC: %v", name, err)
				}
				assertClose(t, name+" gRPC", gr.Outputs[0].Contents.Fp64Contents, want.Y)
			}
			resp, err := http.Get("http://" + s.rest + "/v2/models/README")
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != 404 {
				t.Errorf("a file that is not a *.safetensors is served: %v %v", resp.StatusCode, err)
			}
			s.cancel()
			if err := <-s.done; err != nil {
				t.Errorf("implicit serve: %v", err)
			}
			s.done <- nil
			if r := s.log.find("model ready"); r == nil || r["kind"] == "" {
				t.Errorf("no model ready record:\n%s", s.log)
			}
			if r := s.log.find("request"); r == nil || r["protocol"] == "" || r["status"] == nil {
				t.Errorf("no request record:\n%s", s.log)
			}
		})
	}
}

// assertClose: the sandbox matches native to 1e-9, natively it is exact.
func assertClose(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := got[i] - want[i]; d > 1e-9 || d < -1e-9 {
			t.Fatalf("%s: y[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// SIGTERM stops implicit serve gracefully: it returns without error.
func TestServeSIGTERM(t *testing.T) {
	s := startOIP(t, true, "--models", filepath.Join(modelDir(t), "digits.safetensors"), "--runtime", "native")
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("after SIGTERM: %v", err)
		}
		s.done <- nil
	case <-time.After(60 * time.Second):
		t.Fatal("implicit serve still running 60 s after SIGTERM")
	}
	if r := s.log.find("signal: shutting down once the requests in flight finish; send another to stop at once"); r == nil || r["signal"] != "terminated" {
		t.Errorf("the log does not say why it stopped:\n%s", s.log)
	}
	if _, err := http.Get("http://" + s.rest + "/v2/health/live"); err == nil {
		t.Error("still listening after SIGTERM")
	}
}

func TestServeBadModels(t *testing.T) {
	dir := modelDir(t)
	empty := t.TempDir()
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "digits.safetensors"), models.DigitsFile(), 0o644)
	bad := filepath.Join(t.TempDir(), "broken.safetensors")
	os.WriteFile(bad, []byte("not safetensors"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "--models is required"},
		{[]string{"--models", filepath.Join(dir, "missing.safetensors")}, "no such file"},
		{[]string{"--models", empty}, "holds no *.safetensors model file"},
		{[]string{"--models", dir + "," + other}, `are both named "digits"`},
		{[]string{"--models", dir, "--runtime", "gpu"}, `--runtime "gpu"`},
		{[]string{"--models", dir, "--instances", "0"}, "--instances 0"},
		{[]string{"--models", dir, "--timeout", "0s"}, "--timeout 0s"},
		{[]string{"--models", dir, "--log-format", "xml"}, `--log-format "xml"`},
		{[]string{"--models", dir, "--addr", "256.0.0.1:1"}, "--addr 256.0.0.1:1"},
	} {
		if _, _, err := run(t, append([]string{"serve"}, c.args...)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("serve %q: %v; want an error with %q", c.args, err, c.want)
		}
	}
	// A file that does not load stops the server, naming the file.
	s := startOIP(t, false, "--models", bad, "--runtime", "native")
	select {
	case err := <-s.done:
		if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "invalid model") {
			t.Errorf("a broken model file: %v", err)
		}
		s.done <- nil
	case <-time.After(60 * time.Second):
		t.Fatal("implicit serve goes on with a model that does not load")
	}
}

// implicit serve load reports what vegeta measured against a running
// server.
func TestServeLoad(t *testing.T) {
	s := startOIP(t, true, "--models", modelDir(t), "--runtime", "native")
	out, _, err := run(t, "serve", "load", "--url", "http://"+s.rest, "--model", "digits", "--duration", "1s", "--connections", "4", "--batch", "2", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep loadReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if rep.Requests == 0 || rep.Success != 1 || uint64(rep.StatusCodes["200"]) != rep.Requests || rep.Batch != 2 || rep.Connections != 4 ||
		rep.LatencyMs.P50 <= 0 || rep.LatencyMs.P99 < rep.LatencyMs.P50 || rep.Before.RSSBytes <= 0 || rep.After.HeapInuseBytes <= 0 {
		t.Errorf("report: %+v", rep)
	}
	// The server counted every sample the load sent.
	resp, err := http.Get("http://" + s.rest + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf(`implicit_requests_total{code="200",model="digits",protocol="rest",route="POST /v2/models/{name}/infer"} %d`, rep.Requests)
	if !strings.Contains(b.String(), want) {
		t.Errorf("/metrics has no %q", want)
	}

	text, _, err := run(t, "serve", "load", "--url", "http://"+s.rest, "--model", "digits-conv", "--duration", "200ms", "--connections", "1")
	if err != nil || !strings.Contains(text, "throughput") || !strings.Contains(text, "p99") {
		t.Errorf("%v:\n%s", err, text)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--url", "http://" + s.rest, "--model", "nope"}, "--model nope: the server answered 404"},
		{[]string{"--url", "ftp://x"}, `--url "ftp://x"`},
		{[]string{"--url", "http://" + s.rest, "--connections", "0"}, "--connections 0"},
	} {
		if _, _, err := run(t, append([]string{"serve", "load"}, c.args...)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("serve load %q: %v; want an error with %q", c.args, err, c.want)
		}
	}
}
