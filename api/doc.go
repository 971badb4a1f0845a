// Package api holds the types that implicit's engine (the packages under
// core), its WebAssembly ABI and the sandboxed host (package host) share:
// the settings of a solve and its methods, the outcome of a solve, what a
// loaded model is, and the sentinel errors every layer returns.
//
// It has no numerical dependencies, so that a program running models only in
// the sandbox links none of the engine. The engine computes; this package
// only names things. A solver's parameters live here (as [Picard],
// [Anderson], …); its algorithm lives in core/fixedpoint.
package api
