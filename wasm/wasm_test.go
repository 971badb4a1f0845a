package wasm

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/implicitlab/implicit/api"
)

// The JavaScript wrapper numbers the solvers as the Settings record does:
// by their place in the one method table, api.Methods.
func TestJSMethodsAreTheTable(t *testing.T) {
	src, err := os.ReadFile("js/implicit.mjs")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`export const METHODS = \[([^\]]*)\];`).FindSubmatch(src)
	if m == nil {
		t.Fatal("js/implicit.mjs has no METHODS list")
	}
	var js []string
	for _, s := range strings.Split(string(m[1]), ",") {
		js = append(js, strings.Trim(strings.TrimSpace(s), "'"))
	}
	if !slices.Equal(js, api.MethodNames()) {
		t.Errorf("js/implicit.mjs METHODS %q, the table (api.Methods) %q", js, api.MethodNames())
	}
}
