package host

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
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
	run := func(cfg wazero.ModuleConfig) map[string]string {
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
	sandboxed := run(sandbox(&bytes.Buffer{}).WithArgs("probe", secret))
	granted := run(sandbox(&bytes.Buffer{}).WithArgs("probe", "/secret").
		WithFSConfig(wazero.NewFSConfig().WithDirMount(dir, "/")).
		WithEnv("PROBE_ADDR", ln.Addr().String()))
	for _, what := range []string{"read /", "read .", "create /probe", "environment", "dial"} {
		if !strings.HasPrefix(sandboxed[what], "denied") {
			t.Errorf("sandboxed guest: %s: %q, want denied", what, sandboxed[what])
		}
	}
	if r := sandboxed["open "+secret]; !strings.HasPrefix(r, "denied") {
		t.Errorf("sandboxed guest opened the host file %s: %q", secret, r)
	}
	for _, what := range []string{"read /", "read .", "open /secret", "create /probe", "environment"} {
		if granted[what] != "ok" {
			t.Errorf("granted guest: %s: %q, want ok: the probe cannot tell", what, granted[what])
		}
	}
	// wasip1 has no socket to dial with, whatever the configuration: Go's
	// port falls back to an in-process fake network.
	if !strings.HasPrefix(granted["dial"], "denied") {
		t.Errorf("granted guest dialled the host: %q", granted["dial"])
	}
}
