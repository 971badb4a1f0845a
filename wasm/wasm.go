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
