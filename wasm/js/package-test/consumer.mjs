// A user of the packed package: package.test.mjs copies this script into a
// scratch project that has the tarball installed and runs it there as
// `node consumer.mjs REPOSITORY`. It imports the package by name only; the
// repository is read for the fixtures and the module to compare with.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WASI } from 'node:wasi';
import * as wrapper from '@implicitlab/implicit';
import * as node from '@implicitlab/implicit/node';

const repo = process.argv[2];
const torch = join(repo, 'testdata', 'torch');
const csv = (name) => readFileSync(join(torch, name), 'utf8').trim().split('\n').map((l) => l.split(',').map(Number));
const x = csv('direct_relu.input.csv');
const want = csv('direct_relu.output.csv');
const model = readFileSync(join(torch, 'direct_relu.safetensors'));

// The entries: the wrapper everywhere, the Node loader with all of it.
assert.equal(wrapper.ABI_VERSION, 4);
for (const [k, v] of Object.entries(wrapper)) assert.equal(node[k], v, `the Node entry re-exports ${k}`);
assert.deepEqual(Object.keys(node).filter((k) => !(k in wrapper)).sort(), ['compile', 'compileKernels', 'instantiate', 'load']);
const wrapperFile = fileURLToPath(import.meta.resolve('@implicitlab/implicit'));
assert.doesNotMatch(readFileSync(wrapperFile, 'utf8'), /\bfrom\s*['"]|^\s*import\s*['"]|\bimport\s*\(/m, 'the wrapper imports nothing (no node: module): it runs in browsers');
assert.match(wrapperFile, /node_modules[\\/]@implicitlab[\\/]implicit[\\/]implicit\.mjs$/);

// The packaged module is the repository's, and the loader's default.
const wasmFile = fileURLToPath(import.meta.resolve('@implicitlab/implicit/implicit.wasm'));
assert.ok(readFileSync(wasmFile).equals(readFileSync(join(repo, 'wasm', 'implicit.wasm'))), 'the packaged implicit.wasm is the repository\'s');

function check(im, how) {
  const m = im.load(model);
  assert.deepEqual([m.info.kind, m.info.in, m.info.out], ['deq-dense', x[0].length, want[0].length], how);
  const out = m.infer(x.flat(), { relTol: 1e-13, absTol: 1e-15, maxIter: 5000 });
  m.free();
  assert.equal(out.error, null, how);
  assert.equal(out.result.status, 'converged', how);
  assert.equal(out.y.length, want.length * m.info.out, how);
  want.flat().forEach((w, i) => assert.ok(Math.abs(out.y[i] - w) <= 1e-6 * Math.max(1, Math.abs(w)), `${how}: y[${i}] = ${out.y[i]}, PyTorch ${w}`));
  return out.y;
}

// The Node loader, with its default module (only the packaged copy exists
// here), then with compile and instantiate.
const y1 = check(await node.load(), 'load()');
const y2 = check(await node.instantiate(await node.compile(wasmFile)), 'instantiate(compile(path))');

// The wrapper alone on an instance made outside the package, as a browser
// does with its WASI shim, with the packaged SIMD kernels wired in.
const kernelsFile = fileURLToPath(import.meta.resolve('@implicitlab/implicit/kernels.wasm'));
assert.ok(readFileSync(kernelsFile).equals(readFileSync(join(repo, 'wasm', 'kernels.wasm'))), 'the packaged kernels.wasm is the repository\'s');
const wasi = new WASI({ version: 'preview1', args: [], env: {}, returnOnExit: true });
const k = wrapper.kernelImports();
const { instance } = await WebAssembly.instantiate(readFileSync(wasmFile), { ...wasi.getImportObject(), ...k.imports });
wasi.initialize(instance);
await k.attach(instance, await WebAssembly.compile(readFileSync(kernelsFile)));
const y3 = check(new wrapper.Implicit(instance), 'new Implicit(instance)');
assert.deepEqual(y2, y1);
assert.deepEqual(y3, y1);
assert.throws(() => new wrapper.Implicit(instance).load(new Uint8Array(9)), (e) => e instanceof wrapper.ImplicitError && e.kind === 'model');

console.log(`the package works by name: ${want.length} samples of direct_relu match PyTorch to 1e-6 three ways`);
