//go:build wasip1

// Command guest is the implicit WebAssembly module: the engine's models and
// solvers behind the exports of package internal/abi. Build it as a WASI
// reactor (go generate in wasm/ does):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o implicit.wasm ./guest
//
// Every export forwards to package wasm/internal/guest.
package main

import (
	"unsafe"

	"github.com/implicitlab/implicit/internal/abi"
	"github.com/implicitlab/implicit/wasm/internal/guest"
)

// main does not run in a reactor; the host calls _initialize instead.
func main() {}

// addr is the guest address of a buffer's first byte.
func addr(b []byte) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

// st is the instance's state. An instance runs one export at a time.
var st = guest.New(addr)

//go:wasmexport implicit_abi_version
func abiVersion() int32 { return abi.Version }

//go:wasmexport implicit_alloc
func alloc(size int32) uint32 { return st.Alloc(size) }

//go:wasmexport implicit_free
func free(ptr uint32) int32 { return st.Free(ptr) }

//go:wasmexport implicit_error
func lastError(out uint32) int32 { return st.Error(out) }

//go:wasmexport implicit_model_load
func modelLoad(ptr uint32, n int32) int32 { return st.Load(ptr, n) }

//go:wasmexport implicit_model_info
func modelInfo(model int32, out uint32) int32 { return st.Info(model, out) }

//go:wasmexport implicit_model_settings
func modelSettings(model int32, in, out uint32) int32 { return st.Settings(model, in, out) }

//go:wasmexport implicit_model_free
func modelFree(model int32) int32 { return st.FreeModel(model) }

//go:wasmexport implicit_run_start
func runStart(model int32, x uint32, xlen int32, settings uint32, init uint32, initlen int32) int32 {
	return st.Start(model, x, xlen, settings, init, initlen)
}

//go:wasmexport implicit_run_step
func runStep(run int32, maxIters int32) int32 { return st.Step(run, maxIters) }

//go:wasmexport implicit_run_progress
func runProgress(run int32, out uint32) int32 { return st.Progress(run, out) }

//go:wasmexport implicit_run_cancel
func runCancel(run int32) int32 { return st.Cancel(run) }

//go:wasmexport implicit_run_result
func runResult(run int32, out uint32) int32 { return st.Result(run, out) }

//go:wasmexport implicit_run_free
func runFree(run int32) int32 { return st.FreeRun(run) }
