package oip

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/implicitlab/implicit/api"
)

// Code is how the protocol answers an error.
type Code int

// The codes, each with its HTTP status and gRPC code.
const (
	BadRequest       Code = iota + 1 // 400, InvalidArgument
	NotFound                         // 404, NotFound
	Unavailable                      // 503, Unavailable
	DeadlineExceeded                 // 504, DeadlineExceeded
	Canceled                         // the client went away: 499 in logs and metrics, Canceled
	Internal                         // 500, Internal
)

// Error is an error the protocol answers with a code.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...)}
}

// HTTPStatus is the REST status of the code.
func (c Code) HTTPStatus() int {
	switch c {
	case BadRequest:
		return http.StatusBadRequest
	case NotFound:
		return http.StatusNotFound
	case Unavailable:
		return http.StatusServiceUnavailable
	case DeadlineExceeded:
		return http.StatusGatewayTimeout
	case Canceled:
		return 499 // nginx's "client closed request"
	}
	return http.StatusInternalServerError
}

// GRPCCode is the gRPC status code of the code.
func (c Code) GRPCCode() codes.Code {
	switch c {
	case BadRequest:
		return codes.InvalidArgument
	case NotFound:
		return codes.NotFound
	case Unavailable:
		return codes.Unavailable
	case DeadlineExceeded:
		return codes.DeadlineExceeded
	case Canceled:
		return codes.Canceled
	}
	return codes.Internal
}

// The tensors a model answers, in this order unless a request names some.
const (
	outputY          = "y"
	outputIterations = "iterations"
	outputStatus     = "status"
)

var outputNames = []string{outputY, outputIterations, outputStatus}

// The datatypes an input may have.
const (
	fp32 = "FP32"
	fp64 = "FP64"
)

// param is a request parameter's value: REST gives JSON strings, numbers
// and booleans, gRPC strings, int64s and booleans.
type param struct {
	str   *string
	num   *float64
	isInt bool // num is an integer (always so over gRPC)
	bool  *bool
}

func (p param) String() string {
	switch {
	case p.str != nil:
		return strconv.Quote(*p.str)
	case p.num != nil:
		return strconv.FormatFloat(*p.num, 'g', -1, 64)
	case p.bool != nil:
		return strconv.FormatBool(*p.bool)
	}
	return "null"
}

// number is the parameter as a number: a number, or a string holding one
// (gRPC's parameters have no floating-point type).
func (p param) number() (float64, bool) {
	switch {
	case p.num != nil:
		return *p.num, true
	case p.str != nil:
		v, err := strconv.ParseFloat(strings.TrimSpace(*p.str), 64)
		return v, err == nil
	}
	return 0, false
}

// request is an inference request, whichever the transport.
type request struct {
	model, id string
	// The one input tensor: its name, datatype and shape as given, and
	// its values (rounded to float32 for FP32).
	input    string
	datatype string
	shape    []int64
	x        []float64
	params   map[string]param
	outputs  []string // requested; empty means all
}

// response is an inference's answer.
type response struct {
	model, id  string
	datatype   string // y's: the input's
	n, q       int
	y          []float64
	iterations []int
	status     []api.Status
	solver     string
	outputs    []string // to send, in order
}

// parameters the infer routes take.
var parameterNames = []string{"solver", "tol", "max_iter", "precision"}

// settings turns a request's parameters into solver settings.
func (s *Server) settings(params map[string]param) (api.Settings, *Error) {
	st := api.Settings{NoTrace: true}
	for name, p := range params {
		switch name {
		case "solver":
			if p.str == nil {
				return st, errorf(BadRequest, "parameter solver: %v is not a string; want one of %s", p, api.MethodList())
			}
			m, err := api.MethodByName(*p.str)
			if err != nil {
				return st, errorf(BadRequest, "parameter solver: %v", err)
			}
			st.Method = m
		case "tol":
			v, ok := p.number()
			if !ok || !(v > 0) || math.IsInf(v, 0) {
				return st, errorf(BadRequest, "parameter tol: %v; want a finite number > 0, the relative residual tolerance ‖f(z)−z‖/‖f(z)‖", p)
			}
			st.RelTol = v
		case "max_iter":
			v, ok := p.number()
			if !ok || v != math.Trunc(v) || v < 1 || v > float64(s.cfg.MaxIter) {
				return st, errorf(BadRequest, "parameter max_iter: %v; want an integer from 1 to %d, this server's limit", p, s.cfg.MaxIter)
			}
			st.MaxIter = int(v)
		case "precision":
			if p.str == nil {
				return st, errorf(BadRequest, "parameter precision: %v is not a string; want float32 or float64", p)
			}
			prec, err := api.ParsePrecision(*p.str)
			if err != nil || prec == api.PrecisionModel {
				return st, errorf(BadRequest, "parameter precision: %q; want float32 or float64 (without it, the model's own)", *p.str)
			}
			st.Precision = prec
		default:
			return st, errorf(BadRequest, "unknown parameter %q; the parameters are %q", name, parameterNames)
		}
	}
	return st, nil
}

// checkInput checks a request's input tensor against the model and the
// limits.
func (s *Server) checkInput(req *request, info api.Info) *Error {
	if req.datatype != fp32 && req.datatype != fp64 {
		return errorf(BadRequest, "input %q: datatype %q; want FP32 or FP64", req.input, req.datatype)
	}
	if len(req.shape) != 2 || req.shape[1] != int64(info.In) {
		return errorf(BadRequest, "input %q: shape %v; model %q takes shape [n, %d], n samples of %d inputs", req.input, req.shape, req.model, info.In, info.In)
	}
	n := req.shape[0]
	if n < 1 || n > int64(s.cfg.MaxBatch) {
		return errorf(BadRequest, "input %q: %d samples; want 1 to %d, this server's batch limit", req.input, n, s.cfg.MaxBatch)
	}
	if int64(len(req.x)) != n*int64(info.In) {
		return errorf(BadRequest, "input %q: %d values for shape %v, which holds %d", req.input, len(req.x), req.shape, n*int64(info.In))
	}
	for i, v := range req.x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return errorf(BadRequest, "input %q: value %d (sample %d) is %v; want finite %s numbers", req.input, i, i/info.In, v, req.datatype)
		}
	}
	return nil
}

// checkOutputs checks the requested outputs' names.
func checkOutputs(names []string) *Error {
	for _, n := range names {
		known := false
		for _, o := range outputNames {
			known = known || n == o
		}
		if !known {
			return errorf(BadRequest, "output %q: the outputs are %q", n, outputNames)
		}
	}
	return nil
}

// infer runs a request: the protocol's inference, whichever the transport.
func (s *Server) infer(ctx context.Context, req *request) (*response, *Error) {
	// Counted before the draining check, so that Serve, once it drains,
	// waits for every inference that passed it.
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	m, aerr := s.ready(req.model)
	if aerr != nil {
		return nil, aerr
	}
	info := m.Info()
	if aerr := s.checkInput(req, info); aerr != nil {
		return nil, aerr
	}
	if aerr := checkOutputs(req.outputs); aerr != nil {
		return nil, aerr
	}
	st, aerr := s.settings(req.params)
	if aerr != nil {
		return nil, aerr
	}

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	s.metrics.waiting.Inc()
	select {
	case s.slots <- struct{}{}:
		s.metrics.waiting.Dec()
	case <-ctx.Done():
		s.metrics.waiting.Dec()
		return nil, s.doneError(parent, ctx, "waiting for a free solver")
	}
	s.metrics.running.Inc()
	// One goroutine (one instance) a request: the server runs requests in
	// parallel, up to its slots, so a batch spread over workers too would
	// take more cores than the slots say.
	st.Workers = 1
	out, err := m.Infer(ctx, req.x, st)
	s.metrics.running.Dec()
	<-s.slots

	var failed *api.SolveError
	switch {
	case ctx.Err() != nil:
		return nil, s.doneError(parent, ctx, "solving")
	case errors.As(err, &failed) && out != nil && out.Result != nil:
		// Diverged or non-finite samples: an answer all the same, each
		// sample with its status.
	case errors.Is(err, api.ErrProblem):
		return nil, errorf(BadRequest, "%v", err)
	case err != nil:
		return nil, errorf(Internal, "model %q: %v", req.model, err)
	}

	n := len(req.x) / info.In
	res := &response{
		model: req.model, id: req.id, datatype: req.datatype, n: n, q: info.Out, y: out.Y,
		iterations: make([]int, n), status: make([]api.Status, n), solver: info.Method, outputs: req.outputs,
	}
	if st.Method != nil {
		res.solver = st.Method.String()
	}
	if len(res.outputs) == 0 {
		res.outputs = outputNames
	}
	for i, smp := range out.Result.Samples {
		res.iterations[i], res.status[i] = smp.Iterations, smp.Status
		s.metrics.observeSample(req.model, smp)
	}
	return res, nil
}

// doneError explains why ctx, the request's context with its deadline, is
// done: the client left (parent is done) or the deadline passed.
func (s *Server) doneError(parent, ctx context.Context, while string) *Error {
	if errors.Is(parent.Err(), context.DeadlineExceeded) {
		return errorf(DeadlineExceeded, "the client's deadline passed while %s", while)
	}
	if parent.Err() != nil {
		return errorf(Canceled, "the request ended (the client went away) while %s: %v", while, context.Cause(parent))
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errorf(DeadlineExceeded, "the inference's deadline of %v passed while %s", s.cfg.Timeout, while)
	}
	return errorf(Canceled, "canceled while %s: %v", while, ctx.Err())
}
