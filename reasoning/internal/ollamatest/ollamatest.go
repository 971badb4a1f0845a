// Package ollamatest starts a real Ollama server for tests, on a free
// loopback port with a scratch home and model store, and registers models
// in it.
//
// The server binary comes from the environment variable IMPLICIT_OLLAMA_BIN
// (.ci/ollama.sh builds it and prints its path).
package ollamatest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/implicitlab/implicit/reasoning/internal/servetest"
)

const (
	// BinEnv names the environment variable with the server binary's path.
	BinEnv = "IMPLICIT_OLLAMA_BIN"
	// RequireEnv, set to 1, makes a missing server a test failure, not a
	// skip (CI sets it).
	RequireEnv = "IMPLICIT_REQUIRE_OLLAMA"
)

// ErrNoBinary means BinEnv is not set.
var ErrNoBinary = errors.New(BinEnv + " is not set; build the server with .ci/ollama.sh and set it to the printed path")

// Server is a running Ollama server.
type Server struct {
	URL    string // http://127.0.0.1:PORT
	Client *api.Client

	cmd  *exec.Cmd
	log  *servetest.Buffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done
}

// Start starts the server binary named by BinEnv, with its home, model
// store and log under dir, and waits until it answers.
func Start(ctx context.Context, dir string) (*Server, error) {
	bin := os.Getenv(BinEnv)
	if bin == "" {
		return nil, ErrNoBinary
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	home, models := filepath.Join(dir, "home"), filepath.Join(dir, "models")
	for _, d := range []string{home, models} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(bin, "serve")
	// The caller's OLLAMA_* settings must not leak into the test server.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OLLAMA_") && !strings.HasPrefix(kv, "HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+home, "OLLAMA_MODELS="+models, "OLLAMA_HOST="+host, "OLLAMA_KEEP_ALIVE=10m")
	s := &Server{URL: "http://" + host, cmd: cmd, log: &servetest.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ollamatest: starting %s: %w", bin, err)
	}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	u, _ := url.Parse(s.URL)
	s.Client = api.NewClient(u, http.DefaultClient)

	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		if _, err := s.Client.Version(ctx); err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("ollamatest: server exited: %v\n%s", s.err, s.Log())
		case <-ctx.Done():
			s.Stop()
			return nil, fmt.Errorf("ollamatest: server did not answer on %s: %w\n%s", host, ctx.Err(), s.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop ends the server by its PID: SIGTERM, then SIGKILL if it has not
// exited within 10 seconds.
func (s *Server) Stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	return nil
}

// Log returns what the server has written so far.
func (s *Server) Log() string { return s.log.String() }

// Alive reports whether the server process is still running.
func (s *Server) Alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Create registers the GGUF model in ggufFile as name, with a chat
// template, by uploading the file as a blob.
func (s *Server) Create(ctx context.Context, name, ggufFile, template string) error {
	data, err := os.ReadFile(ggufFile)
	if err != nil {
		return err
	}
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256(data))
	if err := s.Client.CreateBlob(ctx, digest, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("ollamatest: uploading %s: %w", ggufFile, err)
	}
	stream := false
	req := &api.CreateRequest{
		Model:    name,
		Files:    map[string]string{filepath.Base(ggufFile): digest},
		Template: template,
		Stream:   &stream,
	}
	if err := s.Client.Create(ctx, req, func(api.ProgressResponse) error { return nil }); err != nil {
		return fmt.Errorf("ollamatest: creating %s: %w", name, err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
