// node.mjs: load wasm/implicit.wasm in Node with its built-in WASI
// (node:wasi), with no filesystem, no environment and no arguments.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { Implicit } from './implicit.mjs';

export * from './implicit.mjs';

const defaultPath = new URL('../implicit.wasm', import.meta.url);

/** compile compiles the module once; instantiate it as often as needed. */
export async function compile(path = defaultPath) {
  return WebAssembly.compile(await readFile(path));
}

/** instantiate returns a ready Implicit on a new instance of module. */
export async function instantiate(module) {
  const wasi = new WASI({ version: 'preview1', args: [], env: {}, returnOnExit: true });
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
  wasi.initialize(instance); // a reactor: runs _initialize
  return new Implicit(instance);
}

/** load compiles and instantiates the module. */
export async function load(path = defaultPath) {
  return instantiate(await compile(path));
}
