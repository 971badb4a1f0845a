// node.mjs: load wasm/implicit.wasm in Node with its built-in WASI
// (node:wasi), with no filesystem, no environment and no arguments.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { Implicit, kernelImports } from './implicit.mjs';

export * from './implicit.mjs';

// The module: the copy that `npm pack` puts beside this file (package.json's
// prepack script; git ignores it), else the repository's wasm/implicit.wasm,
// one directory up (running from the repository, or from a package installed
// as a link to this directory).
const beside = (name) => {
  const packaged = new URL('./' + name, import.meta.url);
  return existsSync(packaged) ? packaged : new URL('../' + name, import.meta.url);
};
const defaultPath = beside('implicit.wasm');
const defaultKernelsPath = beside('kernels.wasm');

/** compile compiles the module once; instantiate it as often as needed. */
export async function compile(path = defaultPath) {
  return WebAssembly.compile(await readFile(path));
}

/** compileKernels compiles the SIMD kernels' module (kernels.wasm) once. */
export async function compileKernels(path = defaultKernelsPath) {
  return WebAssembly.compile(await readFile(path));
}

/**
 * instantiate returns a ready Implicit on a new instance of module, with the
 * SIMD kernels (compiled by compileKernels; the package's own if not given,
 * none with null).
 */
export async function instantiate(module, kernels) {
  if (kernels === undefined) kernels = await compileKernels();
  const wasi = new WASI({ version: 'preview1', args: [], env: {}, returnOnExit: true });
  const k = kernelImports();
  const instance = await WebAssembly.instantiate(module, { ...wasi.getImportObject(), ...k.imports });
  wasi.initialize(instance); // a reactor: runs _initialize
  await k.attach(instance, kernels);
  return new Implicit(instance);
}

/** load compiles and instantiates the module, with the SIMD kernels. */
export async function load(path = defaultPath) {
  return instantiate(await compile(path));
}
