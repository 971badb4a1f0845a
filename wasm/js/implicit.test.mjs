// Node tests of the module through implicit.mjs: run with `node --test`
// (test.sh does).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { ImplicitError, compile, instantiate, load } from './node.mjs';

const torch = new URL('../../testdata/torch/', import.meta.url);
const csv = (name) => readFileSync(new URL(name, torch), 'utf8').trim().split('\n').map((l) => l.split(',').map(Number));

const im = await load();

test("load() runs the repository's implicit.wasm and kernels.wasm", () => {
  // node.mjs prefers a copy beside it, which only `npm pack` makes (and removes).
  for (const f of ['implicit.wasm', 'kernels.wasm']) {
    const copy = new URL(f, import.meta.url);
    assert.ok(!existsSync(copy) || readFileSync(copy).equals(readFileSync(new URL('../' + f, import.meta.url))),
      `wasm/js/${f}, a stale copy left by an interrupted npm pack, would be loaded: remove it`);
  }
});

test('the SIMD kernels give the Go kernels\' results bit for bit', async () => {
  const plain = await instantiate(await compile(), null);
  for (const name of ['monotone_relu', 'direct_tanh']) {
    const file = readFileSync(new URL(`${name}.safetensors`, torch));
    const x = csv(`${name}.input.csv`).flat();
    const [a, b] = [im.load(file), plain.load(file)];
    for (const s of [{ method: 'picard', maxIter: 7, relTol: -1 }, { maxIter: 50 }]) {
      for (const precision of ['float64', 'float32']) {
        const settings = { ...s, precision };
        const [ya, yb] = [a.infer(x, settings).y, b.infer(x, settings).y];
        assert.equal(ya.length, yb.length);
        ya.forEach((v, i) => assert.ok(Object.is(v, yb[i]), `${name}, ${precision}: y[${i}] = ${v} with SIMD, ${yb[i]} without`));
      }
    }
    a.free();
    b.free();
  }
});

test('every PyTorch fixture matches PyTorch to 1e-6 in float64, an F32 one to 1e-4 in its own float32', () => {
  const { cases } = JSON.parse(readFileSync(new URL('cases.json', torch), 'utf8'));
  const models = readdirSync(torch).filter((f) => f.endsWith('.safetensors') && !f.endsWith('.grad.safetensors'));
  assert.equal(models.length, cases.length, 'every model file is a case');
  assert.ok(cases.some((c) => c.kind === 'mlp') && cases.some((c) => c.kind === 'deq-dense'), 'both kinds');
  for (const { name, kind, dtype } of cases) {
    const m = im.load(readFileSync(new URL(`${name}.safetensors`, torch)));
    const x = csv(`${name}.input.csv`);
    const want = csv(`${name}.output.csv`);
    assert.equal(x[0].length, m.info.in, name);
    assert.equal(m.info.kind, kind, name);
    const out = m.infer(x.flat(), { relTol: 1e-13, absTol: 1e-15, maxIter: 5000, precision: 'float64' });
    assert.equal(out.error, null, name);
    assert.equal(out.result.status, 'converged', name);
    assert.equal(out.y.length, want.length * m.info.out);
    want.flat().forEach((w, i) => assert.ok(Math.abs(out.y[i] - w) <= 1e-6 * Math.max(1, Math.abs(w)), `${name}: y[${i}] = ${out.y[i]}, PyTorch ${w}`));
    const own = m.infer(x.flat(), { relTol: 1e-6, maxIter: 5000 });
    assert.equal(own.result.status, 'converged', name);
    const loose64 = m.infer(x.flat(), { relTol: 1e-6, maxIter: 5000, precision: 'float64' });
    const differs = own.y.some((v, i) => v !== loose64.y[i]);
    assert.equal(differs, dtype === 'F32', `${name} (${dtype}): its own precision ${differs ? 'differs from' : 'is'} float64`);
    want.flat().forEach((w, i) => assert.ok(Math.abs(own.y[i] - w) <= 1e-4 * Math.max(1, Math.abs(w)), `${name} in its own precision: y[${i}] = ${own.y[i]}, PyTorch ${w}`));
    m.free();
  }
});

test('info describes the model as the Go engine does', () => {
  const m = im.load(readFileSync(new URL('monotone_relu.safetensors', torch)));
  const { kind, description, method, explicit, defaults } = m.info;
  assert.deepEqual({ kind, method, explicit }, { kind: 'deq-dense', method: 'peaceman-rachford', explicit: false });
  assert.match(description, /^monotone \(m=[0-9.]+\) relu, h=\d+$/);
  assert.equal(m.info.state * (m.info.in + 1) + m.info.out * (m.info.state + 1) + 2 * m.info.state ** 2, m.info.params);
  assert.deepEqual(defaults, { solver: '', tol: 0, maxIter: 0 });
  m.free();
});

test('settings, chunks, progress and cancel', () => {
  const m = im.load(readFileSync(new URL('direct_tanh.safetensors', torch)));
  const s = m.settings({ method: 'anderson', memory: 3 });
  assert.equal(s.method, 'anderson');
  assert.equal(s.memory, 3);
  const x = csv('direct_tanh.input.csv').flat();
  // Picard with a negative tolerance runs exactly maxIter iterations.
  const seen = [];
  const out = m.infer(x, { method: 'picard', maxIter: 9, relTol: -1 }, { chunk: 2, onProgress: (p) => { seen.push(p.iteration); } });
  assert.deepEqual(seen, [2, 4, 6, 8]);
  assert.equal(out.result.iterations, 9);
  assert.equal(out.result.status, 'iteration limit');
  assert.equal(out.result.samples[0].trace.length, 9);
  // Cancel from the progress callback.
  const cut = m.infer(x, { method: 'picard', maxIter: 1000000, relTol: -1 }, { chunk: 5, onProgress: (p) => p.iteration < 20 });
  assert.equal(cut.result.status, 'canceled');
  assert.equal(cut.result.iterations, 20);
  m.free();
});

test('errors are codes with messages, never traps', () => {
  assert.throws(() => im.load(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])), (e) => e instanceof ImplicitError && e.kind === 'model' && /invalid model/.test(e.message));
  const m = im.load(readFileSync(new URL('direct_relu.safetensors', torch)));
  assert.throws(() => m.infer([1, 2, 3], {}), (e) => e.kind === 'problem' && /whole number of samples/.test(e.message));
  assert.throws(() => m.infer(new Array(m.info.in).fill(0), { method: 'anderson', memory: 1000 }), (e) => e.kind === 'problem');
  assert.throws(() => m.infer(new Array(m.info.in).fill(0), { method: 'newton' }), (e) => e.kind === 'problem');
  m.free();
  assert.throws(() => m.free(), (e) => e.kind === 'handle');
  // The instance still works.
  const again = im.load(readFileSync(new URL('direct_relu.safetensors', torch)));
  assert.equal(again.infer(new Array(again.info.in).fill(0.5)).result.status, 'converged');
  again.free();
});

test('thousands of load/infer/free cycles keep memory flat', () => {
  const file = readFileSync(new URL('monotone_relu.safetensors', torch));
  const x = csv('monotone_relu.input.csv').flat();
  let warm = 0;
  for (let i = 1; i <= 2000; i++) {
    const m = im.load(file);
    m.infer(x, {});
    m.free();
    if (i === 200) warm = im.x.memory.buffer.byteLength;
  }
  const end = im.x.memory.buffer.byteLength;
  assert.ok(end <= warm * 1.1, `memory grew from ${warm} to ${end} bytes`);
});
