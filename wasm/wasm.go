// Package wasm is implicit's core compiled to one WebAssembly module, a WASI
// (preview 1) reactor that exports the ABI of package internal/abi (documented
// for other hosts in wasm/README.md). Package host
// runs it from Go with wazero; wasm/js runs it in Node and in browsers.
//
// The module is committed as implicit.wasm, so that using it needs no
// toolchain step; go generate rebuilds it, reproducibly.
package wasm

import _ "embed"

//go:generate go run ./internal/build -o implicit.wasm

//go:embed implicit.wasm
var module string

// Module returns the bytes of the module (a fresh copy).
func Module() []byte { return []byte(module) }

//go:embed kernels.wasm
var kernels string

// Kernels returns the bytes of the kernels' module (a fresh copy): the
// WebAssembly SIMD matrix product of kernels/kernels.wat. It imports the
// main module's memory as implicit.memory and exports f64_muladd and
// f32_muladd, which the main module imports from implicit_kernels through
// its host, with
// implicit_kernels.available (1: the host forwards to this module; 0: the
// module runs its own Go kernels, with the same results).
func Kernels() []byte { return []byte(kernels) }
