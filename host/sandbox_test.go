package host

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental/sock"
)

// TestSandbox runs a probe program built for wasip1 with the configuration
// every instance gets, and checks that it reaches no file, no environment
// variable and no socket of the host. The same probe with a directory and
// an environment granted reaches them, which shows that it can tell.
func TestSandbox(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the probe")
	}
	dir := t.TempDir()
	probe := filepath.Join(dir, "probe.wasm")
	build := exec.Command(goTool, "build", "-o", probe, "./testdata/probe")
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the probe: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("host data"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("PROBE_ADDR", ln.Addr().String()) // in the host's environment, not the guest's

	ctx := context.Background()
	rt := sharedRuntime(t)
	compiled, err := rt.rt.CompileModule(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	defer compiled.Close(ctx)
	run := func(ctx context.Context, cfg wazero.ModuleConfig) map[string]string {
		t.Helper()
		var out, stderr bytes.Buffer
		mod, err := rt.rt.InstantiateModule(ctx, compiled, cfg.WithStdout(&out))
		if err != nil {
			t.Fatalf("running the probe: %v\n%s", err, stderr.String())
		}
		mod.Close(ctx)
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			what, result, _ := strings.Cut(line, ": ")
			got[what] = result
		}
		return got
	}

	// The probe's argument names a host file; arguments are the only thing
	// the test adds to the instances' configuration.
	sandboxed := run(ctx, sandbox(&bytes.Buffer{}).WithArgs("probe", secret))
	// The granted guest also gets a socket (wazero's experimental sock), on
	// which the test connects.
	port := freePort(t)
	stop := make(chan struct{})
	defer close(stop)
	got := make(chan string, 1)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				c.SetReadDeadline(time.Now().Add(time.Second))
				b, _ := io.ReadAll(c)
				c.Close()
				got <- string(b)
				return
			}
		}
	}()
	grantedCtx := sock.WithConfig(ctx, sock.NewConfig().WithTCPListener("127.0.0.1", port))
	granted := run(grantedCtx, sandbox(&bytes.Buffer{}).WithArgs("probe", "/secret").
		WithFSConfig(wazero.NewFSConfig().WithDirMount(dir, "/")).
		WithEnv("PROBE_ADDR", ln.Addr().String()))
	for _, what := range []string{"read /", "read .", "create /probe", "environment", "dial", "accept"} {
		if !strings.HasPrefix(sandboxed[what], "denied") {
			t.Errorf("sandboxed guest: %s: %q, want denied", what, sandboxed[what])
		}
	}
	if r := sandboxed["open "+secret]; !strings.HasPrefix(r, "denied") {
		t.Errorf("sandboxed guest opened the host file %s: %q", secret, r)
	}
	for _, what := range []string{"read /", "read .", "open /secret", "create /probe", "environment", "accept"} {
		if granted[what] != "ok" {
			t.Errorf("granted guest: %s: %q, want ok: the probe cannot tell", what, granted[what])
		}
	}
	// The granted guest reached the test through its socket. (wasip1 cannot
	// dial out, whatever the configuration; Go's port falls back to an
	// in-process fake network, whose dial the granted guest reports as ok
	// once it has a socket.)
	select {
	case b := <-got:
		if b != "probe" {
			t.Errorf("the granted guest's connection carried %q, want what it wrote", b)
		}
	case <-time.After(30 * time.Second):
		t.Error("the granted guest reported the network, but the test got no connection")
	}
}

// freePort returns a TCP port on the loopback interface that was free a
// moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
