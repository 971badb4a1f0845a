package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/host"
	"github.com/implicitlab/implicit/oip"
)

// modelExt is the extension of the model files a --models directory
// serves.
const modelExt = ".safetensors"

// maxServedModels bounds the models one server loads.
const maxServedModels = 1024

// oipFlags are the flags of "implicit serve".
type oipFlags struct {
	models                  []string
	addr, grpcAddr, runtime string
	instances, maxBatch     int
	maxIter                 int
	maxRequestBytes         int64
	timeout, ioTimeout      time.Duration
	shutdownTimeout, drain  time.Duration
	log                     logFlags
}

func newServeCmd() *cobra.Command {
	var f oipFlags
	cmd := &cobra.Command{
		Use:   "serve --models DIR|FILE... [--addr 127.0.0.1:8080] [--grpc-addr 127.0.0.1:8081] [--runtime wasm|native] [--instances N]",
		Short: "Serve models on the Open Inference Protocol v2 (KServe, Triton), REST and gRPC",
		Long: `Serve answers the Open Inference Protocol v2 (the V2 protocol of KServe,
Triton and Seldon) over REST on --addr and gRPC on --grpc-addr, for every
model file given by --models: a file, or a directory whose *.safetensors files
are served. A model's name is its file name without the extension.

  GET  /v2/health/live, /v2/health/ready, /v2
  GET  /v2/models/{name}, /v2/models/{name}/ready
  POST /v2/models/{name}/infer   {"inputs": [{"name": "x", "shape": [n, p], "datatype": "FP64", "data": [...]}],
                                  "parameters": {"solver": "anderson", "tol": 1e-6, "max_iter": 100}}
  GET  /metrics                  Prometheus metrics

The answer holds the outputs y [n, q], iterations [n] and status [n]. Solves run
sandboxed (--runtime wasm: a pool of --instances WebAssembly instances) or in
this process (--runtime native), at most --instances at once.

SIGTERM or Ctrl-C drains: new inferences and readiness checks get 503 while
the requests in flight finish (up to --shutdown-timeout), and for at least
--drain; then the server stops listening and exits. A second signal stops it
at once. See docs/serving.md.`,
		Example: `  implicit serve --models ./models
  curl -s http://127.0.0.1:8080/v2/models/digits/infer -d '{"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP64", "data": [0, 0.3, ...]}]}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), cmd.ErrOrStderr(), &f)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.models, "models", nil, "model files or directories of *"+modelExt+" files (repeat the flag or separate with commas)")
	fl.StringVar(&f.addr, "addr", "127.0.0.1:8080", "REST address to listen on (host:port; :8080 for every interface; port 0 picks a free one)")
	fl.StringVar(&f.grpcAddr, "grpc-addr", "127.0.0.1:8081", `gRPC address to listen on ("" for none)`)
	fl.StringVar(&f.runtime, "runtime", "wasm", "wasm (each solve sandboxed in a WebAssembly instance, run by wazero) or native (in this process)")
	fl.IntVar(&f.instances, "instances", runtime.GOMAXPROCS(0), "solves at once: the pool's WebAssembly instances, or native solver slots")
	fl.IntVar(&f.maxBatch, "max-batch", oip.DefaultMaxBatch, "most samples a request may hold")
	fl.IntVar(&f.maxIter, "max-iter-limit", oip.DefaultMaxIter, `most iterations a request may ask for with "max_iter"`)
	fl.Int64Var(&f.maxRequestBytes, "max-request-bytes", oip.DefaultMaxRequestBytes, "limit on a request's size (REST body or gRPC message)")
	fl.DurationVar(&f.timeout, "timeout", oip.DefaultTimeout, "deadline of each inference, its wait for a free instance included (504 past it)")
	fl.DurationVar(&f.ioTimeout, "io-timeout", oip.DefaultIOTimeout, "limit on reading a REST request and on writing its reply")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM or Ctrl-C, how long the requests in flight may take to finish before they are cut short (0: as long as they take)")
	fl.DurationVar(&f.drain, "drain", 0, "on SIGTERM or Ctrl-C, the least time to go on listening and answering 503, for load balancers to notice (it listens on until the requests in flight finish)")
	f.log.register(fl, "each request")
	cmd.AddCommand(newServeLoadCmd())
	return cmd
}

// servedModel is a model file to serve and its name.
type servedModel struct{ name, path string }

// servedModels resolves --models: files, and the *.safetensors files of
// directories, each named by its file name without the extension.
func servedModels(args []string) ([]servedModel, error) {
	if len(args) == 0 {
		return nil, errors.New("--models is required: model files, or directories of *" + modelExt + " files")
	}
	var out []servedModel
	byName := map[string]string{}
	add := func(path string) error {
		name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		if prev, ok := byName[name]; ok {
			return fmt.Errorf("--models: %s and %s are both named %q; rename one", prev, path, name)
		}
		if len(out) == maxServedModels {
			return fmt.Errorf("--models: more than %d models", maxServedModels)
		}
		byName[name] = path
		out = append(out, servedModel{name, path})
		return nil
	}
	for _, arg := range args {
		fi, err := os.Stat(arg)
		if err != nil {
			return nil, fmt.Errorf("--models: %w", err)
		}
		if !fi.IsDir() {
			if err := add(arg); err != nil {
				return nil, err
			}
			continue
		}
		entries, err := os.ReadDir(arg)
		if err != nil {
			return nil, fmt.Errorf("--models: %w", err)
		}
		found := 0
		for _, e := range entries {
			if e.IsDir() || filepath.Ext(e.Name()) != modelExt {
				continue
			}
			if err := add(filepath.Join(arg, e.Name())); err != nil {
				return nil, err
			}
			found++
		}
		if found == 0 {
			return nil, fmt.Errorf("--models %s: the directory holds no *%s model file", arg, modelExt)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func (f *oipFlags) check() error {
	switch {
	case f.runtime != "wasm" && f.runtime != "native":
		return fmt.Errorf("--runtime %q: want wasm or native", f.runtime)
	case f.instances < 1 || f.instances > 1024:
		return fmt.Errorf("--instances %d: want 1 to 1024", f.instances)
	case f.maxBatch < 1:
		return fmt.Errorf("--max-batch %d: want 1 or more", f.maxBatch)
	case f.maxIter < 1:
		return fmt.Errorf("--max-iter-limit %d: want 1 or more", f.maxIter)
	case f.maxRequestBytes < 1:
		return fmt.Errorf("--max-request-bytes %d: want 1 or more", f.maxRequestBytes)
	case f.timeout <= 0 || f.ioTimeout <= 0:
		return fmt.Errorf("--timeout %v, --io-timeout %v: want more than 0", f.timeout, f.ioTimeout)
	case f.shutdownTimeout < 0 || f.drain < 0:
		return fmt.Errorf("--shutdown-timeout %v, --drain %v: want 0 or more", f.shutdownTimeout, f.drain)
	}
	return nil
}

// runServe serves until ctx is done or a signal comes; the log (whose
// "listening" record has the addresses) goes to logw.
func runServe(ctx context.Context, logw io.Writer, f *oipFlags) error {
	log, err := f.log.logger(logw)
	if err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	files, err := servedModels(f.models)
	if err != nil {
		return err
	}
	srv, err := oip.New(oip.Config{
		Version: buildVersion(), MaxBatch: f.maxBatch, MaxRequestBytes: f.maxRequestBytes, MaxIter: f.maxIter,
		Timeout: f.timeout, IOTimeout: f.ioTimeout, Concurrency: f.instances,
		ShutdownTimeout: f.shutdownTimeout, Drain: f.drain, Logger: log,
	})
	if err != nil {
		return err
	}
	for _, m := range files {
		if err := srv.Declare(m.name); err != nil {
			return fmt.Errorf("--models %s: %w", m.path, err)
		}
	}

	rest, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", f.addr, err)
	}
	var grpcL net.Listener
	grpcAddr := ""
	if f.grpcAddr != "" {
		if grpcL, err = net.Listen("tcp", f.grpcAddr); err != nil {
			rest.Close()
			return fmt.Errorf("--grpc-addr %s: %w", f.grpcAddr, err)
		}
		grpcAddr = grpcL.Addr().String()
	}
	log.Info("listening", "rest", "http://"+rest.Addr().String()+"/v2", "grpc", grpcAddr, "runtime", f.runtime,
		"instances", f.instances, "models", len(files))

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	defer onSignals(ctx, log, stop, srv.Close)()

	// Load while listening: the health and readiness routes answer
	// meanwhile. A model that fails to load stops the server.
	loadErr := make(chan error, 1)
	var release func()
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		var err error
		release, err = loadServed(ctx, srv, files, f, log)
		if err != nil && ctx.Err() == nil { // else: shutting down while loading
			loadErr <- err
			stop()
		}
	}()
	serveErr := srv.Serve(ctx, rest, grpcL)
	<-loaded
	if release != nil {
		release()
	}
	select {
	case err := <-loadErr:
		return err
	default:
	}
	return serveErr
}

// loadServed loads the models in the runtime and makes each ready; release
// frees the runtime.
func loadServed(ctx context.Context, srv *oip.Server, files []servedModel, f *oipFlags, log *slog.Logger) (release func(), err error) {
	release = func() {}
	var rt *host.Runtime
	if f.runtime == "wasm" {
		t0 := time.Now()
		rt, err = newRuntime(ctx, warnLog{log}, f.instances)
		if err != nil {
			return release, err
		}
		release = func() { rt.Close(context.Background()) }
		log.Info("module compiled", "duration", time.Since(t0).Round(time.Millisecond).String())
	}
	for _, m := range files {
		t0 := time.Now()
		file, err := readModelFile(m.path)
		if err != nil {
			return release, err
		}
		var inf api.Inferer
		if rt != nil {
			inf, err = rt.Load(ctx, file)
		} else {
			inf, err = model.Load(file)
		}
		if err != nil {
			return release, fmt.Errorf("%s: %w", m.path, err)
		}
		if err := srv.SetReady(m.name, inf); err != nil {
			return release, err
		}
		info := inf.Info()
		log.Info("model ready", "model", m.name, "kind", info.Kind, "description", info.Description,
			"inputs", info.In, "outputs", info.Out, "solver", info.Method, "duration", time.Since(t0).Round(time.Millisecond).String())
	}
	return release, nil
}

// warnLog logs each line written to it as a warning: the sandbox's
// warnings, in the server's log format.
type warnLog struct{ log *slog.Logger }

func (w warnLog) Write(p []byte) (int, error) {
	w.log.Warn(strings.TrimSpace(string(p)))
	return len(p), nil
}

// buildVersion is the module's version, as GET /v2 reports it.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}

// onSignals ends a serve at the first SIGTERM or interrupt (gracefully:
// stop is called) and calls hard at the second. The returned function
// stops listening for signals.
func onSignals(ctx context.Context, log *slog.Logger, stop, hard func()) func() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			log.Info("signal: shutting down once the requests in flight finish; send another to stop at once", "signal", sig.String())
			stop()
		case <-done:
			return
		}
		select {
		case sig := <-sigs:
			log.Warn("second signal: stopping at once", "signal", sig.String())
			hard()
		case <-done:
		}
	}()
	return func() { signal.Stop(sigs); close(done) }
}

// logFlags are the servers' logging flags.
type logFlags struct{ format, level string }

// register adds --log-format and --log-level; info is what the info level
// logs.
func (f *logFlags) register(fl *pflag.FlagSet, info string) {
	fl.StringVar(&f.format, "log-format", "text", "log format on standard error: text or json")
	fl.StringVar(&f.level, "log-level", "info", "log level: debug, info ("+info+"), warn or error")
}

// logger returns the logger the flags describe, writing to w.
func (f *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", f.format)
}
