package oip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/internal/httplog"
)

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	get := func(pattern string, h http.HandlerFunc) {
		s.mux.HandleFunc("GET "+pattern, h)
		s.mux.HandleFunc(pattern, methodNotAllowed("GET, HEAD"))
	}
	get("/v2/health/live", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"live": true})
	})
	get("/v2/health/ready", func(w http.ResponseWriter, r *http.Request) {
		ready := s.Ready()
		writeJSON(w, readyStatus(ready), map[string]bool{"ready": ready})
	})
	get("/v2", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.serverMetadata())
	})
	get("/v2/models/{name}", s.restModelMetadata)
	get("/v2/models/{name}/ready", s.restModelReady)
	s.mux.HandleFunc("POST /v2/models/{name}/infer", s.restInfer)
	s.mux.HandleFunc("/v2/models/{name}/infer", methodNotAllowed("POST"))
	get("/metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, errorf(NotFound, "no route %s %s; see GET /v2 and GET /v2/models/{name}", r.Method, r.URL.Path))
	})
}

func readyStatus(ready bool) int {
	if ready {
		return http.StatusOK
	}
	return http.StatusServiceUnavailable
}

// ServeHTTP serves the REST routes and /metrics, and logs and counts each
// request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t0 := time.Now()
	rec := &httplog.Recorder{ResponseWriter: w}
	s.mux.ServeHTTP(rec, r)
	code := rec.Status
	if code == 0 {
		code = Canceled.HTTPStatus() // nothing written: the client went away
	}
	route := r.Pattern
	if route == "" || route == "/" {
		route = "unmatched"
	}
	model := s.modelLabel(r.PathValue("name"))
	s.metrics.observeRequest("rest", route, model, strconv.Itoa(code), t0)
	level := slog.LevelInfo
	if code >= 500 {
		level = slog.LevelWarn
	}
	attrs := append([]slog.Attr{
		slog.String("protocol", "rest"), slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", code), slog.Duration("duration", time.Since(t0)), slog.String("remote", r.RemoteAddr),
	}, rec.Attrs...)
	s.log.LogAttrs(context.WithoutCancel(r.Context()), level, "request", attrs...)
}

// modelLabel is the metrics' model label of a name from a request: the
// name if the model is declared, else "" (so that the label stays bounded).
func (s *Server) modelLabel(name string) string {
	if name == "" {
		return ""
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.models[name]; ok {
		return name
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fail(w, errorf(Internal, "encoding the reply: %v", err))
		return
	}
	writeBody(w, status, append(b, '\n'))
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if _, err := w.Write(b); err != nil {
		httplog.Annotate(w, slog.String("write_error", err.Error()))
	}
}

// fail answers an error as {"error": "…"}; to a client gone, nothing.
func fail(w http.ResponseWriter, e *Error) {
	httplog.Annotate(w, slog.String("error", e.Msg))
	if e.Code == Canceled {
		return
	}
	writeJSON(w, e.Code.HTTPStatus(), map[string]string{"error": e.Msg})
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": fmt.Sprintf("%s %s: want %s", r.Method, r.URL.Path, allow)})
	}
}

// serverMetadata is GET /v2's reply.
type serverMetadata struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

func (s *Server) serverMetadata() serverMetadata {
	return serverMetadata{Name: s.cfg.Name, Version: s.cfg.Version, Extensions: []string{}}
}

// tensorMetadata describes a tensor; -1 is a dimension of any size.
type tensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// modelMetadata is GET /v2/models/{name}'s reply; "parameters" (beyond
// the protocol) describes the model.
type modelMetadata struct {
	Name       string           `json:"name"`
	Versions   []string         `json:"versions"`
	Platform   string           `json:"platform"`
	Inputs     []tensorMetadata `json:"inputs"`
	Outputs    []tensorMetadata `json:"outputs"`
	Parameters modelParameters  `json:"parameters"`
}

type modelParameters struct {
	Kind        string `json:"kind"`
	Description string `json:"description"`
	State       int    `json:"state"`
	Params      int    `json:"params"`
	Solver      string `json:"solver"`
	Explicit    bool   `json:"explicit"`
}

// platform is the models' platform in their metadata.
const platform = "implicit"

// metadata describes a ready model's tensors. The input is declared FP64,
// the engine's precision; FP32 is taken too.
func metadata(name string, info api.Info) modelMetadata {
	return modelMetadata{
		Name: name, Versions: []string{}, Platform: platform,
		Inputs: []tensorMetadata{{Name: "x", Datatype: fp64, Shape: []int64{-1, int64(info.In)}}},
		Outputs: []tensorMetadata{
			{Name: outputY, Datatype: fp64, Shape: []int64{-1, int64(info.Out)}},
			{Name: outputIterations, Datatype: "INT32", Shape: []int64{-1}},
			{Name: outputStatus, Datatype: "BYTES", Shape: []int64{-1}},
		},
		Parameters: modelParameters{Kind: info.Kind, Description: info.Description, State: info.State,
			Params: info.Params, Solver: info.Method, Explicit: info.Explicit},
	}
}

func (s *Server) restModelMetadata(w http.ResponseWriter, r *http.Request) {
	m, aerr := s.readyForMetadata(r.PathValue("name"))
	if aerr != nil {
		fail(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, metadata(r.PathValue("name"), m.Info()))
}

// readyForMetadata finds a model whose metadata can be given: a ready one
// (a draining server still describes its models).
func (s *Server) readyForMetadata(name string) (api.Inferer, *Error) {
	e, aerr := s.lookup(name)
	if aerr != nil {
		return nil, aerr
	}
	if e.m == nil {
		return nil, errorf(Unavailable, "model %q is loading", name)
	}
	return e.m, nil
}

func (s *Server) restModelReady(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	e, aerr := s.lookup(name)
	if aerr != nil {
		fail(w, aerr)
		return
	}
	ready := e.m != nil && !s.draining.Load()
	writeJSON(w, readyStatus(ready), struct {
		Name  string `json:"name"`
		Ready bool   `json:"ready"`
	}{name, ready})
}

// restInferRequest is the protocol's inference request. Parameter values
// are kept raw: strings, numbers or booleans.
type restInferRequest struct {
	ID         string                     `json:"id"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	Inputs     []restInput                `json:"inputs"`
	Outputs    []struct {
		Name       string                     `json:"name"`
		Parameters map[string]json.RawMessage `json:"parameters"`
	} `json:"outputs"`
}

type restInput struct {
	Name       string                     `json:"name"`
	Shape      []int64                    `json:"shape"`
	Datatype   string                     `json:"datatype"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	Data       json.RawMessage            `json:"data"`
}

func (s *Server) restInfer(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, aerr := s.ready(name); aerr != nil {
		fail(w, aerr) // before reading a body for nothing
		return
	}
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		fail(w, aerr)
		return
	}
	req, aerr := parseRESTRequest(name, body)
	if aerr != nil {
		fail(w, aerr)
		return
	}
	httplog.Annotate(w, slog.String("model", name), slog.Int("samples", len(req.x)/max(int(lastDim(req.shape)), 1)))
	res, aerr := s.infer(r.Context(), req)
	if aerr != nil {
		fail(w, aerr)
		return
	}
	httplog.Annotate(w, slog.Int("max_iterations", maxInt(res.iterations)), slog.String("solver", res.solver))
	s.setWriteDeadline(w)
	writeBody(w, http.StatusOK, appendRESTResponse(nil, res))
}

func lastDim(shape []int64) int64 {
	if len(shape) == 0 {
		return 1
	}
	return shape[len(shape)-1]
}

func maxInt(v []int) int {
	m := 0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// readBody reads a request's body within MaxRequestBytes and IOTimeout.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *Error) {
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(s.cfg.IOTimeout)) == nil
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes))
	if deadline {
		// No deadline while the solve runs: a read timing out would cancel
		// the request's context, and with it the solve.
		rc.SetReadDeadline(time.Time{})
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, errorf(BadRequest, "the request body is over %d bytes, this server's limit", tooLarge.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, errorf(BadRequest, "the request body did not arrive within %v", s.cfg.IOTimeout)
	case r.Context().Err() != nil:
		return nil, errorf(Canceled, "reading the request body: %v", err)
	case err != nil:
		return nil, errorf(BadRequest, "reading the request body: %v", err)
	}
	return body, nil
}

func (s *Server) setWriteDeadline(w http.ResponseWriter) {
	err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.cfg.IOTimeout))
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		httplog.Annotate(w, slog.String("write_deadline", err.Error()))
	}
}

// parseRESTRequest reads an inference request's JSON.
func parseRESTRequest(model string, body []byte) (*request, *Error) {
	var rr restInferRequest
	if err := json.Unmarshal(body, &rr); err != nil {
		return nil, errorf(BadRequest, "the request is not an inference request's JSON: %v", err)
	}
	if len(rr.Inputs) != 1 {
		return nil, errorf(BadRequest, "%d input tensors; model %q takes one, x of shape [n, p]", len(rr.Inputs), model)
	}
	in := rr.Inputs[0]
	if len(in.Parameters) > 0 {
		return nil, errorf(BadRequest, "input %q: tensor parameters are not taken (the binary tensor extension is not served)", in.Name)
	}
	req := &request{model: model, id: rr.ID, input: in.Name, datatype: in.Datatype, shape: in.Shape, params: map[string]param{}}
	for _, o := range rr.Outputs {
		if len(o.Parameters) > 0 {
			return nil, errorf(BadRequest, "output %q: tensor parameters are not taken (the binary tensor extension is not served)", o.Name)
		}
		req.outputs = append(req.outputs, o.Name)
	}
	for name, raw := range rr.Parameters {
		p, err := parseParam(raw)
		if err != nil {
			return nil, errorf(BadRequest, "parameter %s: %v", name, err)
		}
		req.params[name] = p
	}
	if in.Datatype != fp32 && in.Datatype != fp64 {
		return nil, errorf(BadRequest, "input %q: datatype %q; want FP32 or FP64", in.Name, in.Datatype)
	}
	x, err := parseData(in.Data, in.Datatype)
	if err != nil {
		return nil, errorf(BadRequest, "input %q: data: %v", in.Name, err)
	}
	req.x = x
	return req, nil
}

// parseParam reads a parameter's JSON value: a string, a number or a
// boolean.
func parseParam(raw json.RawMessage) (param, error) {
	raw = bytes.TrimSpace(raw)
	var p param
	switch {
	case len(raw) == 0:
	case raw[0] == '"':
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return p, err
		}
		p.str = &v
		return p, nil
	case string(raw) == "true" || string(raw) == "false":
		v := string(raw) == "true"
		p.bool = &v
		return p, nil
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		v, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return p, fmt.Errorf("%s is out of range", raw)
		}
		p.num, p.isInt = &v, !bytes.ContainsAny(raw, ".eE")
		return p, nil
	}
	return p, fmt.Errorf("%s: want a string, a number or a boolean", raw)
}

// parseData reads a tensor's data: numbers in a flat or nested array,
// row-major, each within the datatype's range.
func parseData(raw json.RawMessage, datatype string) ([]float64, error) {
	var x []float64
	// encoding/json leaves a float64 alone on null: null takes the slow
	// path, which refuses it.
	if err := json.Unmarshal(raw, &x); err != nil || bytes.Contains(raw, []byte("null")) {
		// Nested, or an error to explain: the slow path.
		var v any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		if _, ok := v.([]any); !ok {
			return nil, fmt.Errorf("%.40s is not an array; want the tensor's numbers, row-major", raw)
		}
		var err error
		if x, err = flatten(x[:0], v); err != nil {
			return nil, err
		}
	}
	if datatype == fp32 {
		for i, v := range x {
			if math.Abs(v) > math.MaxFloat32 {
				return nil, fmt.Errorf("value %d, %g, is out of the FP32 range", i, v)
			}
			x[i] = float64(float32(v))
		}
	}
	return x, nil
}

// flatten appends the numbers of a decoded JSON array, in row-major order.
func flatten(x []float64, v any) ([]float64, error) {
	switch v := v.(type) {
	case []any:
		var err error
		for _, e := range v {
			if x, err = flatten(x, e); err != nil {
				return nil, err
			}
		}
		return x, nil
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, fmt.Errorf("value %d, %s, is not a finite FP64 number", len(x), v)
		}
		return append(x, f), nil
	case nil:
		return nil, fmt.Errorf("value %d is null; want a number", len(x))
	}
	return nil, fmt.Errorf("value %d is %T; want an array of numbers", len(x), v)
}

// appendRESTResponse writes an inference's JSON reply. y is written by
// hand: it is most of the reply, and a non-finite value (of a diverged or
// non-finite sample) becomes null, which JSON has instead of NaN.
func appendRESTResponse(b []byte, r *response) []byte {
	b = append(b, `{"model_name":`...)
	b = appendString(b, r.model)
	if r.id != "" {
		b = append(b, `,"id":`...)
		b = appendString(b, r.id)
	}
	b = append(b, `,"parameters":{"solver":`...)
	b = appendString(b, r.solver)
	b = append(b, `},"outputs":[`...)
	for i, name := range r.outputs {
		if i > 0 {
			b = append(b, ',')
		}
		switch name {
		case outputY:
			b = fmt.Appendf(b, `{"name":"y","datatype":%q,"shape":[%d,%d],"data":[`, r.datatype, r.n, r.q)
			bits := 64
			if r.datatype == fp32 {
				bits = 32
			}
			for j, v := range r.y {
				if j > 0 {
					b = append(b, ',')
				}
				if math.IsNaN(v) || math.IsInf(v, 0) || (bits == 32 && math.Abs(v) > math.MaxFloat32) {
					b = append(b, "null"...)
					continue
				}
				b = strconv.AppendFloat(b, v, 'g', -1, bits)
			}
			b = append(b, "]}"...)
		case outputIterations:
			b = fmt.Appendf(b, `{"name":"iterations","datatype":"INT32","shape":[%d],"data":[`, r.n)
			for j, it := range r.iterations {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, int64(it), 10)
			}
			b = append(b, "]}"...)
		case outputStatus:
			b = fmt.Appendf(b, `{"name":"status","datatype":"BYTES","shape":[%d],"data":[`, r.n)
			for j, st := range r.status {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendQuote(b, st.String()) // plain ASCII names
			}
			b = append(b, "]}"...)
		}
	}
	return append(b, "]}\n"...)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}
