package model_test

import (
	"testing"
)

// pnpCases are the plug-and-play kinds' cases a fixture directory must
// hold: two a splitting, and the explicit kind.
var pnpCases = map[string]int{"pnp": 4, "pnp-explicit": 1}

// The fixtures in testdata/pnp are pnp_reference.py's cases (seed 1).
func TestPnPPyTorchFixtures(t *testing.T) {
	checkKindTorchCases(t, "testdata/pnp", pnpCases)
}

// TestPnPPyTorchLive runs the reference script, as TestPyTorchLive does.
func TestPnPPyTorchLive(t *testing.T) {
	checkKindTorchCases(t, runTorchScript(t, "pnp_reference.py", "--seed", "7"), pnpCases)
}
