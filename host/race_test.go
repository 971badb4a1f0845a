//go:build race

package host

// raceEnabled: the race detector slows wazero's compiler down about
// tenfold, so tests that compile the module without a cache are skipped.
const raceEnabled = true
