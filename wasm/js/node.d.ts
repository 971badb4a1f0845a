// Types of node.mjs, the Node loader (node:wasi), written by hand. It
// exports everything implicit.mjs does.
import type { Implicit } from './implicit.js';

export * from './implicit.js';

declare global {
  // lib.dom declares WebAssembly, Node's types do not: without the DOM lib,
  // this leaves WebAssembly.Module an opaque type (with it, it merges into
  // lib.dom's, changing nothing).
  namespace WebAssembly {
    interface Module {}
  }
}

/**
 * Compiles implicit.wasm once (instantiate it as often as needed): the file
 * at path, by default the package's own (or, in the repository, wasm/implicit.wasm).
 */
export declare function compile(path?: string | URL): Promise<WebAssembly.Module>;

/** Compiles the SIMD kernels' module, kernels.wasm (by default the package's own). */
export declare function compileKernels(path?: string | URL): Promise<WebAssembly.Module>;

/**
 * A ready Implicit on a new instance of module, with no files, no environment
 * and no arguments, and the SIMD kernels (the package's own if kernels is
 * not given; none with null: the module's Go kernels, the same results).
 */
export declare function instantiate(module: WebAssembly.Module, kernels?: WebAssembly.Module | null): Promise<Implicit>;

/** Compiles and instantiates the module at path (by default the package's own). */
export declare function load(path?: string | URL): Promise<Implicit>;
