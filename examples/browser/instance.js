// The pages' one way to start implicit.wasm in a worker: the browser WASI
// shim (no files, no environment, no arguments; the guest's stderr to the
// console) and the SIMD kernels wired in (wasm/README.md, "Kernels"). A
// browser without WebAssembly SIMD cannot compile kernels.wasm: the module
// then runs its own Go kernels, with the same results.
import { WASI, OpenFile, File, ConsoleStdout } from './node_modules/@bjorn3/browser_wasi_shim/dist/index.js';
import { Implicit, kernelImports } from '../../wasm/js/implicit.mjs';

const wasmURL = new URL('../../wasm/implicit.wasm', import.meta.url);
const kernelsURL = new URL('../../wasm/kernels.wasm', import.meta.url);

/** startImplicit returns an Implicit on a new instance, and whether the SIMD kernels run. */
export async function startImplicit() {
  const fds = [new OpenFile(new File([])), ConsoleStdout.lineBuffered(console.log), ConsoleStdout.lineBuffered(console.warn)];
  const wasi = new WASI([], [], fds);
  const k = kernelImports();
  const { instance } = await WebAssembly.instantiateStreaming(fetch(wasmURL), { wasi_snapshot_preview1: wasi.wasiImport, ...k.imports });
  wasi.initialize(instance);
  let simd = true;
  try {
    await k.attach(instance, await WebAssembly.compileStreaming(fetch(kernelsURL)));
  } catch (e) {
    console.warn('implicit: no WebAssembly SIMD kernels, running the Go kernels:', e);
    simd = false;
  }
  return { im: new Implicit(instance), simd };
}
