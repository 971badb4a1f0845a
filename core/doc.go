// Package core solves fixed-point problems and runs implicit (deep-equilibrium)
// models in pure Go.
//
// An implicit model computes its output by iterating one parameter block to a
// fixed point, z* = f(z*, x), then reading out y = h(z*). This package holds
// the pieces such a model needs:
//
//   - Fixed-point solvers for user-defined maps, one vector or a batch of
//     independent vectors: [Picard] (damped), [Anderson] acceleration,
//     limited-memory [Broyden], and the [ForwardBackward] and
//     [PeacemanRachford] operator splittings for monotone layers. A solve is
//     described by a [Problem] or [BatchProblem] and [Settings], and returns a
//     [Result] with a [Status] and statistics; a [Recorder] observes every
//     iteration.
//   - The implicit dense model "deq-dense", z* = σ(W z* + U x + b),
//     y = C z* + c ([Dense] holds its parameters, [Model] runs it), with W given
//     directly or through the monotone parametrisation of Winston & Kolter
//     (2020), which guarantees a unique fixed point.
//   - Model files in the safetensors format ([DecodeDense], [ReadDenseFile],
//     [Dense.Encode], [Dense.WriteFile]).
//
// The package has no cgo and no unsafe code, so it also compiles for
// GOOS=wasip1 and GOOS=js with GOARCH=wasm.
package core
