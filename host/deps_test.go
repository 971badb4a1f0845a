package host

import (
	"os/exec"
	"strings"
	"testing"
)

// The sandbox runs the engine inside the module: the host package itself
// must link none of it, no gonum and no kernel, only api's shared types.
func TestLinksNoEngine(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the dependencies with")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps printed %q", out)
	}
	for _, dep := range deps {
		if strings.HasPrefix(dep, "gonum.org/") || strings.HasPrefix(dep, "github.com/implicitlab/implicit/core") {
			t.Errorf("host links %s", dep)
		}
	}
}
