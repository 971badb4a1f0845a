// Package chatserver serves the refinement loop of package reasoning as an
// OpenAI-compatible HTTP API, so that any OpenAI client can ask a question
// and get the answer at the loop's fixed point.
//
// Routes:
//
//	POST /v1/chat/completions  the loop's answer to the last user message
//	GET  /v1/models            the served model
//	GET  /v1/models/{model}    the served model, by name
//
// A chat completion runs reasoning.Refine with the server's Settings and the
// request's rounds (an extension field), max_tokens (the token budget over
// all rounds), temperature and seed; the system messages are the loop's
// system prompt. The reply is a standard chat.completion whose message is
// the final answer, whose usage is summed over all rounds, and whose
// extension field "implicit" holds the loop's trace. With "stream": true the
// answer comes as server-sent chat.completion.chunk events once the loop
// has finished (the answer is known only then), ending with "data: [DONE]".
// Errors are OpenAI-style error objects. See docs/reasoning.md.
package chatserver

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/implicitlab/implicit/internal/httplog"
	"github.com/implicitlab/implicit/reasoning"
)

// Defaults of Config.
const (
	DefaultMaxRounds       = 20
	DefaultMaxRequestBytes = 1 << 20
	DefaultMaxConcurrent   = 8
	DefaultIOTimeout       = time.Minute
)

// Config configures a Server.
type Config struct {
	// Model answers the loop's requests. Required.
	Model reasoning.Model

	// Name is the model's name as clients see it, in "model" and in
	// GET /v1/models. Required. A request naming another model gets 404;
	// one naming none gets this one.
	Name string

	// Settings are the loop's settings for every request (nil: the
	// defaults). A request's rounds, max_tokens, temperature and seed
	// override MaxRounds, TokenBudget, Temperature and Seed, and its system
	// messages Prompts.System. TimeLimit is the limit on each request's
	// loop: the loop then stops with the answer so far. OnRound and OnToken
	// must be nil: the server logs each round itself, and never asks the
	// backend for a streamed reply (dropping one can wedge Ollama; see
	// package ollama).
	Settings *reasoning.Settings

	// MaxRounds is the most rounds a request may ask for. Default
	// DefaultMaxRounds; Settings.MaxRounds must not exceed it.
	MaxRounds int

	// MaxRequestBytes limits a request's body; a larger one gets 413.
	// Default DefaultMaxRequestBytes.
	MaxRequestBytes int64

	// MaxConcurrent limits the chat completions served at once; a request
	// over it gets 503 at once. Default DefaultMaxConcurrent.
	MaxConcurrent int

	// IOTimeout limits reading a request (headers and body) and writing a
	// reply; not the loop, which Settings.TimeLimit limits. Default
	// DefaultIOTimeout.
	IOTimeout time.Duration

	// ShutdownTimeout limits how long Serve waits, once its context is
	// done, for the requests in flight; it then closes their connections,
	// which cancels their loops. 0 means as long as they take.
	ShutdownTimeout time.Duration

	// Logger receives one record a request, and one a round at debug
	// level. Default: none.
	Logger *slog.Logger
}

// ErrCutShort means that Serve closed connections with requests in flight:
// at Config.ShutdownTimeout, or because Close was called.
var ErrCutShort = errors.New("requests in flight cut short")

// Server is an OpenAI-compatible chat completions server whose answers are
// the refinement loop's. It is an http.Handler, safe for concurrent use.
type Server struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	slots    chan struct{} // one a chat completion being served
	started  time.Time
	inflight atomic.Int64 // chat completions being served

	mu     sync.Mutex
	hs     *http.Server // once Serve is called
	forced bool         // Close was called
}

// New returns the Server that cfg describes.
func New(cfg Config) (*Server, error) {
	if cfg.Model == nil {
		return nil, errors.New("chatserver: Config.Model is nil")
	}
	if cfg.Name == "" {
		return nil, errors.New("chatserver: Config.Name is empty; want the model's name, as clients will ask for it")
	}
	base := reasoning.Settings{}
	if cfg.Settings != nil {
		base = *cfg.Settings
	}
	if base.OnRound != nil || base.OnToken != nil {
		return nil, errors.New("chatserver: Config.Settings has OnRound or OnToken set; they must be nil (the server logs each round, and does not stream replies from the backend)")
	}
	switch {
	case cfg.MaxRounds < 0:
		return nil, fmt.Errorf("chatserver: Config.MaxRounds is %d; want 0 (the default, %d) or more", cfg.MaxRounds, DefaultMaxRounds)
	case cfg.MaxRequestBytes < 0:
		return nil, fmt.Errorf("chatserver: Config.MaxRequestBytes is %d; want 0 (the default, %d) or more", cfg.MaxRequestBytes, DefaultMaxRequestBytes)
	case cfg.MaxConcurrent < 0:
		return nil, fmt.Errorf("chatserver: Config.MaxConcurrent is %d; want 0 (the default, %d) or more", cfg.MaxConcurrent, DefaultMaxConcurrent)
	case cfg.IOTimeout < 0 || cfg.ShutdownTimeout < 0:
		return nil, fmt.Errorf("chatserver: Config.IOTimeout %v, ShutdownTimeout %v; want 0 or more", cfg.IOTimeout, cfg.ShutdownTimeout)
	}
	cfg.MaxRounds = or(cfg.MaxRounds, DefaultMaxRounds)
	cfg.MaxRequestBytes = or(cfg.MaxRequestBytes, DefaultMaxRequestBytes)
	cfg.MaxConcurrent = or(cfg.MaxConcurrent, DefaultMaxConcurrent)
	cfg.IOTimeout = or(cfg.IOTimeout, DefaultIOTimeout)
	if base.MaxRounds > cfg.MaxRounds {
		return nil, fmt.Errorf("chatserver: Settings.MaxRounds %d is more than Config.MaxRounds %d, the most a request may ask for", base.MaxRounds, cfg.MaxRounds)
	}
	cfg.Settings = &base
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), slots: make(chan struct{}, cfg.MaxConcurrent), started: time.Now()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.mux.HandleFunc("POST /v1/chat/completions", s.chat)
	s.mux.HandleFunc("GET /v1/models", s.models)
	s.mux.HandleFunc("GET /v1/models/{model...}", s.model)
	s.mux.HandleFunc("/v1/chat/completions", methodNotAllowed("POST"))
	s.mux.HandleFunc("/v1/models", methodNotAllowed("GET, HEAD"))
	s.mux.HandleFunc("/v1/models/{model...}", methodNotAllowed("GET, HEAD"))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, &apiError{status: http.StatusNotFound, typ: typeInvalid, code: "not_found",
			message: fmt.Sprintf("no route %s %s; this server has POST /v1/chat/completions, GET /v1/models and GET /v1/models/{model}", r.Method, r.URL.Path)})
	})
	return s, nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// ServeHTTP serves the routes, and logs each request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t0 := time.Now()
	rec := &httplog.Recorder{ResponseWriter: w}
	s.mux.ServeHTTP(rec, r)
	attrs := append([]slog.Attr{
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", rec.Status),
		slog.Duration("duration", time.Since(t0)), slog.String("remote", r.RemoteAddr),
	}, rec.Attrs...)
	level := slog.LevelInfo
	if rec.Status >= 500 {
		level = slog.LevelWarn
	}
	s.log.LogAttrs(context.WithoutCancel(r.Context()), level, "request", attrs...)
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		fail(w, &apiError{status: http.StatusServiceUnavailable, typ: typeServer, code: "server_busy",
			message: fmt.Sprintf("%d chat completions are being served, the most this server serves at once; try again later", cap(s.slots))})
		return
	}
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		fail(w, aerr)
		return
	}
	req, aerr := parseRequest(body, s.cfg.Name, s.cfg.MaxRounds)
	if aerr != nil {
		fail(w, aerr)
		return
	}
	rep := &reply{id: "chatcmpl-" + rand.Text(), created: time.Now().Unix(), model: s.cfg.Name}
	httplog.Annotate(w, slog.String("id", rep.id), slog.Bool("stream", req.stream))
	res, err := reasoning.Refine(r.Context(), s.cfg.Model, req.question, s.settings(r.Context(), req, rep.id))
	if res != nil {
		httplog.Annotate(w, slog.String("loop_status", res.Status.String()), slog.Int("rounds", len(res.Rounds)),
			slog.Int("prompt_tokens", res.PromptTokens), slog.Int("completion_tokens", res.CompletionTokens))
	}
	switch {
	case clientGone(r.Context(), res):
		// No one to reply to; the loop has stopped with the request.
		httplog.Annotate(w, slog.String("error", "the request ended before the loop did (client gone, or the server closing); the loop was canceled"))
		return
	case err != nil && res == nil:
		fail(w, &apiError{status: http.StatusInternalServerError, typ: typeServer, code: "internal_error", message: "the server's loop settings: " + err.Error()})
		return
	case err != nil && res.Status == reasoning.TokenLimit && errors.Is(err, reasoning.ErrNoAnswer):
		// As OpenAI's own reasoning models do when they spend the whole
		// max_tokens thinking: no content, finish_reason "length".
		rep.errMsg = err.Error()
	case err != nil:
		fail(w, loopError(err, res, s.cfg.Settings.TimeLimit.String()))
		return
	}
	rep.res = res
	s.setWriteDeadline(w)
	setTraceHeaders(w.Header(), res)
	if req.stream {
		stream(w, rep.chunks(req.includeUsage))
		return
	}
	writeJSON(w, http.StatusOK, rep.completion())
}

// settings are the loop's settings for req.
func (s *Server) settings(ctx context.Context, req *chatRequest, id string) *reasoning.Settings {
	st := *s.cfg.Settings
	if req.system != "" {
		st.Prompts.System = req.system
	}
	if req.rounds > 0 {
		st.MaxRounds = req.rounds
	}
	if req.budget > 0 {
		st.TokenBudget = req.budget
	}
	if req.temperature != nil {
		st.Temperature = req.temperature
	}
	if req.seed != nil {
		st.Seed = req.seed
	}
	st.OnRound = func(r reasoning.Round) {
		s.log.LogAttrs(context.WithoutCancel(ctx), slog.LevelDebug, "round", slog.String("id", id), slog.Int("round", r.N),
			slog.String("answer", r.Answer), slog.String("error", r.Error), slog.Int("completion_tokens", r.CompletionTokens),
			slog.Duration("duration", r.Duration), slog.Int("attempts", r.Attempts))
	}
	return &st
}

// readBody reads a request's body, within MaxRequestBytes and IOTimeout.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(s.cfg.IOTimeout)) == nil
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes))
	if deadline {
		// No deadline while the loop runs: a read that times out would
		// cancel the request's context, and with it the loop.
		rc.SetReadDeadline(time.Time{})
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, typ: typeInvalid, code: "request_too_large",
			message: fmt.Sprintf("the request body is over %d bytes, the most this server reads", tooLarge.Limit)}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, &apiError{status: http.StatusRequestTimeout, typ: typeInvalid, code: "request_timeout",
			message: fmt.Sprintf("the request body did not arrive within %v", s.cfg.IOTimeout)}
	case err != nil:
		return nil, &apiError{status: http.StatusBadRequest, typ: typeInvalid, code: "invalid_request", message: "reading the request body: " + err.Error()}
	}
	return body, nil
}

// setWriteDeadline bounds the writing of a reply, so that a client that
// does not read cannot hold the request for ever.
func (s *Server) setWriteDeadline(w http.ResponseWriter) {
	err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.cfg.IOTimeout))
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		httplog.Annotate(w, slog.String("write_deadline", err.Error()))
	}
}

// stream writes chunks as server-sent events, then "data: [DONE]".
func stream(w http.ResponseWriter, chunks []*completion) {
	var events []byte
	for _, c := range chunks {
		b, err := json.Marshal(c)
		if err != nil {
			fail(w, encodingError(err))
			return
		}
		events = fmt.Appendf(events, "data: %s\n\n", b)
	}
	events = append(events, "data: [DONE]\n\n"...)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(events); err != nil {
		httplog.Annotate(w, slog.String("write_error", err.Error()))
		return
	}
	http.NewResponseController(w).Flush()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fail(w, encodingError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if _, err := w.Write(append(b, '\n')); err != nil {
		httplog.Annotate(w, slog.String("write_error", err.Error()))
	}
}

func encodingError(err error) *apiError {
	return &apiError{status: http.StatusInternalServerError, typ: typeServer, code: "internal_error", message: "encoding the reply: " + err.Error()}
}

// fail writes an error reply; its trace, if it cannot be encoded, is left
// out.
func fail(w http.ResponseWriter, e *apiError) {
	httplog.Annotate(w, slog.String("error", e.message))
	if e.result != nil {
		setTraceHeaders(w.Header(), e.result)
	}
	b, err := json.Marshal(e.body())
	if err != nil {
		e.result = nil
		b, _ = json.Marshal(e.body())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	w.Write(append(b, '\n'))
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		fail(w, &apiError{status: http.StatusMethodNotAllowed, typ: typeInvalid, code: "method_not_allowed",
			message: fmt.Sprintf("%s %s: want %s", r.Method, r.URL.Path, allow)})
	}
}

// modelObject is an OpenAI model object: the served model, "created" when
// this server started.
type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) modelObject() modelObject {
	return modelObject{ID: s.cfg.Name, Object: "model", Created: s.started.Unix(), OwnedBy: "implicit"}
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}{"list", []modelObject{s.modelObject()}})
}

func (s *Server) model(w http.ResponseWriter, r *http.Request) {
	if name := r.PathValue("model"); name != s.cfg.Name {
		fail(w, &apiError{status: http.StatusNotFound, typ: typeInvalid, code: "model_not_found", param: "model",
			message: fmt.Sprintf("model %q is not served here; this server serves %q", name, s.cfg.Name)})
		return
	}
	writeJSON(w, http.StatusOK, s.modelObject())
}

// Serve serves on l until ctx is done, then shuts down gracefully: it stops
// accepting connections and waits for the requests in flight to finish, up
// to Config.ShutdownTimeout, then closes their connections, which cancels
// their loops (as does Close). It returns nil after a graceful shutdown,
// an error wrapping ErrCutShort if requests were cut short, or the error
// that stopped it from serving. A Server serves once.
//
// The requests' contexts carry ctx's values but not its cancellation: a
// shutdown lets them finish.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.IOTimeout,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.mu.Lock()
	if s.hs != nil {
		s.mu.Unlock()
		return errors.New("chatserver: Serve called twice")
	}
	s.hs = hs
	s.mu.Unlock()

	served := make(chan error, 1)
	go func() { served <- hs.Serve(l) }()
	select {
	case err := <-served:
		if s.wasForced() {
			return fmt.Errorf("chatserver: %w: closed", ErrCutShort)
		}
		return fmt.Errorf("chatserver: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: no new connections; waiting for the requests in flight", "in_flight", s.inflight.Load(),
		"timeout", s.cfg.ShutdownTimeout.String())
	sctx := context.Background()
	if s.cfg.ShutdownTimeout > 0 {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(sctx, s.cfg.ShutdownTimeout)
		defer cancel()
	}
	err := hs.Shutdown(sctx)
	<-served // http.ErrServerClosed, once Shutdown has closed the listener
	if s.wasForced() {
		return fmt.Errorf("chatserver: %w: closed during the shutdown", ErrCutShort)
	}
	if err != nil {
		n := s.inflight.Load()
		hs.Close()
		return fmt.Errorf("chatserver: %w: %d still in flight after the shutdown timeout, %v", ErrCutShort, n, s.cfg.ShutdownTimeout)
	}
	s.log.Info("shut down")
	return nil
}

func (s *Server) wasForced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forced
}

// Close closes the listener and every connection at once, which cancels
// the loops in flight; Serve then returns an error wrapping ErrCutShort.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs == nil {
		return errors.New("chatserver: Close before Serve")
	}
	s.forced = true
	return s.hs.Close()
}
