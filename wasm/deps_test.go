package wasm_test

import (
	"bytes"
	"testing"

	"github.com/implicitlab/implicit/wasm"
)

// TestGuestLeavesOutLibraries checks that the module holds no code of
// encoding/json and none of gonum's dense matrices and eigensolvers: they
// were a fifth of its code, and all its code is validated again at every
// start, even from wazero's cache (RATIONALE.md, "The guest's size"). The
// module's name section spells each function's package, with its dots
// and slashes as underscores.
func TestGuestLeavesOutLibraries(t *testing.T) {
	mod := wasm.Module()
	if !bytes.Contains(mod, []byte("github.com_implicitlab_implicit_core_model.")) {
		t.Fatal("the module has no name section to look in")
	}
	for _, pkg := range []string{"encoding_json.", "gonum.org_v1_gonum_mat.(*EigenSym)", "Implementation.Dsytrd", "Implementation.Dsteqr", "Implementation.Dsterf"} {
		if bytes.Contains(mod, []byte(pkg)) {
			t.Errorf("the module holds code of %s", pkg)
		}
	}
}
