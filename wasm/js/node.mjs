// node.mjs: load wasm/implicit.wasm in Node with its built-in WASI
// (node:wasi), with no filesystem, no environment and no arguments.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { Implicit } from './implicit.mjs';

export * from './implicit.mjs';

// The module: the copy that `npm pack` puts beside this file (package.json's
// prepack script; git ignores it), else the repository's wasm/implicit.wasm,
// one directory up (running from the repository, or from a package installed
// as a link to this directory).
const packaged = new URL('./implicit.wasm', import.meta.url);
const defaultPath = existsSync(packaged) ? packaged : new URL('../implicit.wasm', import.meta.url);

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
