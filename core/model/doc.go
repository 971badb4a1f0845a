// Package model runs implicit (deep-equilibrium) models of every kind the
// runtime knows, and reads and writes their files.
//
// An implicit model computes its output by iterating one parameter block to
// a fixed point, z* = f(z*, x), then reading out y = h(z*). A kind of model
// is an [Architecture] (its parameters, named as its PyTorch module's
// state_dict names them) that builds a [Layer] (its maps: the input
// injection, the batched map f with its splitting where it has one, the
// readout, and the vector-Jacobian products of implicit differentiation).
// [Model] runs any of them with the solvers of core/fixedpoint. The kinds:
//
//   - "deq-dense" ([Dense]): z* = σ(W z* + U x + b), y = C z* + c, with W
//     given directly or through the monotone parametrisation of Winston &
//     Kolter (2020), which guarantees a unique fixed point;
//   - "mlp" ([MLP]): y = C σ(U x + b) + c, the explicit baseline, evaluated
//     once.
//
// A model file is a safetensors file whose metadata names its kind
// ([Decode], [Encode]); the registry of kinds is the list in kind.go, and
// docs/model-kinds.md says how to add one. The package does no file-system
// I/O: it reads and writes bytes.
//
// The package has no cgo and no unsafe code, so it also compiles for
// GOOS=wasip1 and GOOS=js with GOARCH=wasm.
package model
