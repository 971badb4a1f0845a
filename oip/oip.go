// Package oip serves implicit models on the Open Inference Protocol v2 (the
// "V2" protocol of KServe, Triton and Seldon), over REST and gRPC, with
// Prometheus metrics.
//
// REST routes:
//
//	GET  /v2/health/live            {"live": true}
//	GET  /v2/health/ready           {"ready": true}; 503 while a model loads or the server drains
//	GET  /v2                        server metadata
//	GET  /v2/models/{name}          model metadata: inputs and outputs, shapes and datatypes
//	GET  /v2/models/{name}/ready    {"name", "ready"}; 503 until it is
//	POST /v2/models/{name}/infer    inference
//	GET  /metrics                   Prometheus metrics
//
// The gRPC service is inference.GRPCInferenceService of the protocol's
// published grpc_predict_v2.proto (package inferencepb), with the same
// semantics.
//
// A model takes one input tensor, shape [n, p] (n samples of the model's p
// inputs, row-major), datatype FP32 or FP64, and answers three outputs: "y"
// [n, q] in the input's datatype, "iterations" [n] (INT32) and "status"
// [n] (BYTES: "converged", "iteration limit", "diverged", "non-finite").
// The request's parameters "solver", "tol", "max_iter" and "precision" set the solve.
// Errors are {"error": "…"} with 400 (bad JSON, shape, datatype, non-finite
// values, parameters, limits), 404 (unknown model), 503 (not ready or
// draining) and 504 (the solve's deadline passed); over gRPC they are the
// codes InvalidArgument, NotFound, Unavailable and DeadlineExceeded.
//
// The models are api.Inferers: natively loaded (core/model) or sandboxed
// (package host). Solves run at most Config.Concurrency at once; the others
// wait their turn within their deadline.
package oip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/oip/inferencepb"
)

// Defaults of Config.
const (
	DefaultMaxBatch        = 4096
	DefaultMaxRequestBytes = 64 << 20
	DefaultMaxIter         = 100_000
	DefaultTimeout         = time.Minute
	DefaultIOTimeout       = time.Minute
)

// Config configures a Server. The zero value serves with the defaults.
type Config struct {
	// Name and Version are the server's metadata (GET /v2). Defaults
	// "implicit" and "unknown".
	Name, Version string

	// MaxBatch bounds the samples of a request (default DefaultMaxBatch).
	MaxBatch int
	// MaxRequestBytes bounds a request's body, REST or gRPC (default
	// DefaultMaxRequestBytes).
	MaxRequestBytes int64
	// MaxIter bounds a request's "max_iter" (default DefaultMaxIter).
	MaxIter int

	// Timeout is each inference's deadline, its wait for a turn included
	// (default DefaultTimeout); past it the request gets 504.
	Timeout time.Duration
	// IOTimeout bounds reading a REST request and writing its reply
	// (default DefaultIOTimeout).
	IOTimeout time.Duration
	// Concurrency is how many solves run at once, say the instances of a
	// host.Runtime (default GOMAXPROCS).
	Concurrency int

	// ShutdownTimeout bounds how long Serve waits, once its context is
	// done, for the requests in flight; it then cuts them short. 0 means
	// as long as they take.
	ShutdownTimeout time.Duration
	// Drain is the least time Serve keeps listening once its context is
	// done, answering 503 (ready: false) so that load balancers stop
	// sending; it listens on until the inferences in flight have finished.
	// Default 0.
	Drain time.Duration

	// Registerer receives the server's metrics (default: a registry of the
	// server's own, with the Go and process collectors, served at
	// /metrics). With a Registerer given, Gatherer is what /metrics serves.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer

	// Logger receives one record a request (default: none).
	Logger *slog.Logger
}

// ErrCutShort means that Serve ended requests in flight at
// Config.ShutdownTimeout.
var ErrCutShort = errors.New("oip: requests in flight cut short at the shutdown timeout")

// Server serves models on the Open Inference Protocol. Its ServeHTTP
// serves the REST routes and /metrics; GRPC is the gRPC service. It is
// safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	slots   chan struct{} // one a solve running
	metrics *metrics

	mu       sync.RWMutex
	models   map[string]*entry
	draining atomic.Bool
	inflight atomic.Int64 // inferences past the draining check

	closeOnce sync.Once
	closed    chan struct{} // closed by Close
}

// entry is a served model: declared, then ready once its Inferer is set.
type entry struct {
	name string
	m    api.Inferer // nil until ready
}

// New returns the Server cfg describes, serving no model yet.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.MaxBatch < 0 || cfg.MaxRequestBytes < 0 || cfg.MaxIter < 0:
		return nil, fmt.Errorf("oip: Config.MaxBatch %d, MaxRequestBytes %d, MaxIter %d: want 0 (the default) or more", cfg.MaxBatch, cfg.MaxRequestBytes, cfg.MaxIter)
	case cfg.Timeout < 0 || cfg.IOTimeout < 0 || cfg.ShutdownTimeout < 0 || cfg.Drain < 0:
		return nil, fmt.Errorf("oip: Config.Timeout %v, IOTimeout %v, ShutdownTimeout %v, Drain %v: want 0 or more", cfg.Timeout, cfg.IOTimeout, cfg.ShutdownTimeout, cfg.Drain)
	case cfg.Concurrency < 0:
		return nil, fmt.Errorf("oip: Config.Concurrency %d: want 0 (GOMAXPROCS) or more", cfg.Concurrency)
	case (cfg.Registerer == nil) != (cfg.Gatherer == nil):
		return nil, errors.New("oip: Config.Registerer and Gatherer go together: give both or neither")
	}
	cfg.Name = or(cfg.Name, "implicit")
	cfg.Version = or(cfg.Version, "unknown")
	cfg.MaxBatch = or(cfg.MaxBatch, DefaultMaxBatch)
	cfg.MaxRequestBytes = or(cfg.MaxRequestBytes, DefaultMaxRequestBytes)
	cfg.MaxIter = or(cfg.MaxIter, DefaultMaxIter)
	cfg.Timeout = or(cfg.Timeout, DefaultTimeout)
	cfg.IOTimeout = or(cfg.IOTimeout, DefaultIOTimeout)
	cfg.Concurrency = or(cfg.Concurrency, runtime.GOMAXPROCS(0))
	if cfg.Registerer == nil {
		reg := prometheus.NewRegistry()
		cfg.Registerer, cfg.Gatherer = reg, reg
		if err := registerStandard(reg); err != nil {
			return nil, err
		}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, slots: make(chan struct{}, cfg.Concurrency), models: map[string]*entry{}, closed: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer, cfg.Concurrency)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.routes()
	return s, nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// validName is what a model's name may be: it is a URL path segment.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// Declare adds a model by name, not ready yet: its routes answer 503, and
// the server is not ready, until SetReady gives its Inferer.
func (s *Server) Declare(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("oip: model name %q: want letters, digits, '_', '.' or '-', at most 128, starting with a letter or digit", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.models[name]; ok {
		return fmt.Errorf("oip: two models named %q", name)
	}
	s.models[name] = &entry{name: name}
	return nil
}

// SetReady makes a declared model ready, served by m.
func (s *Server) SetReady(name string, m api.Inferer) error {
	if m == nil {
		return fmt.Errorf("oip: model %q: nil Inferer", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.models[name]
	if !ok {
		return fmt.Errorf("oip: model %q was not declared", name)
	}
	e.m = m
	return nil
}

// Ready reports whether every declared model is ready and the server is
// not draining.
func (s *Server) Ready() bool {
	if s.draining.Load() {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, e := range s.models {
		if e.m == nil {
			return false
		}
	}
	return true
}

// names lists the declared models, sorted.
func (s *Server) names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.models))
	for n := range s.models {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// lookup finds a model, ready or not; *Error NotFound if it is unknown.
func (s *Server) lookup(name string) (*entry, *Error) {
	s.mu.RLock()
	e, ok := s.models[name]
	var m api.Inferer
	if ok {
		m = e.m
	}
	s.mu.RUnlock()
	if !ok {
		return nil, errorf(NotFound, "model %q is not served here; the models are %q", name, s.names())
	}
	return &entry{name: name, m: m}, nil
}

// ready finds a model ready to infer: *Error NotFound or Unavailable if it
// is not.
func (s *Server) ready(name string) (api.Inferer, *Error) {
	e, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	if s.draining.Load() {
		return nil, errorf(Unavailable, "the server is shutting down")
	}
	if e.m == nil {
		return nil, errorf(Unavailable, "model %q is loading", name)
	}
	return e.m, nil
}

// Drain makes the server answer 503 to new inferences and to readiness
// checks from now on, as Serve does once its context is done.
func (s *Server) Drain() { s.draining.Store(true) }

// Serve serves REST on rest and, if grpcL is not nil, gRPC on grpcL, until
// ctx is done. It then drains: it keeps listening and answers 503 to new
// inferences and readiness checks, for Config.Drain and until the
// inferences in flight have finished; then it stops accepting and returns.
// Past Config.ShutdownTimeout it cuts the requests in flight short and
// returns ErrCutShort. A listener's failure ends Serve with its error.
func (s *Server) Serve(ctx context.Context, rest, grpcL net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.IOTimeout,
		IdleTimeout:       2 * s.cfg.IOTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	gs := s.NewGRPCServer()
	errs := make(chan error, 2)
	go func() { errs <- hs.Serve(rest) }()
	if grpcL != nil {
		go func() { errs <- gs.Serve(grpcL) }()
	}
	select {
	case err := <-errs:
		hs.Close()
		gs.Stop()
		return err
	case <-s.closed:
		hs.Close()
		gs.Stop()
		return ErrCutShort
	case <-ctx.Done():
	}

	sctx := context.Background()
	if s.cfg.ShutdownTimeout > 0 {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(sctx, s.cfg.ShutdownTimeout)
		defer cancel()
	}
	sctx, cancel := context.WithCancel(sctx)
	defer cancel()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-sctx.Done():
		}
	}()

	// Still listening, answer 503 for Config.Drain and until the
	// inferences in flight have finished; then stop accepting.
	s.Drain()
	s.log.Info("draining: new inferences get 503 until those in flight finish", "drain", s.cfg.Drain.String(), "in_flight", s.inflight.Load())
	until := time.Now().Add(s.cfg.Drain)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for sctx.Err() == nil && (time.Now().Before(until) || s.inflight.Load() > 0) {
		select {
		case <-tick.C:
		case <-sctx.Done():
		}
	}
	grpcDone := make(chan struct{})
	go func() { gs.GracefulStop(); close(grpcDone) }()
	err := hs.Shutdown(sctx)
	select {
	case <-grpcDone:
	case <-sctx.Done():
		gs.Stop()
		<-grpcDone
	}
	if err != nil || sctx.Err() != nil {
		hs.Close()
		return ErrCutShort
	}
	return nil
}

// Close stops a Serve at once: its connections are closed, which cancels
// the solves in flight, and Serve returns ErrCutShort.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.closed) }) }

// NewGRPCServer returns a gRPC server with the inference service
// registered, its message size limited to Config.MaxRequestBytes.
func (s *Server) NewGRPCServer() *grpc.Server {
	limit := int(min(s.cfg.MaxRequestBytes, 1<<31-1))
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(limit), grpc.MaxSendMsgSize(max(limit, 64<<20)))
	inferencepb.RegisterGRPCInferenceServiceServer(gs, &grpcService{s: s})
	return gs
}
