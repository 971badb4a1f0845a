package model_test

import (
	"testing"
)

// gnnCases are the graph kinds' cases a fixture directory must hold.
var gnnCases = map[string]int{"gnn-lp": 2, "gnn-lp-explicit": 1}

// The fixtures in testdata/gnn are reference.py's gnn-lp cases (seed 1).
func TestGNNPyTorchFixtures(t *testing.T) {
	checkKindTorchCases(t, "testdata/gnn", gnnCases)
}

// TestGNNPyTorchLive runs the reference script, as TestPyTorchLive does.
func TestGNNPyTorchLive(t *testing.T) {
	checkKindTorchCases(t, runReference(t, "--seed", "7"), gnnCases)
}
