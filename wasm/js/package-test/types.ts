// Type-checked, never run: package.test.mjs copies it into a scratch project
// that has the packed package installed and, if IMPLICIT_TS names a
// directory with typescript and @types/node installed, runs
// `tsc --noEmit --strict` on it. It uses every export of both entries, and
// each @ts-expect-error line is a misuse the types must reject.
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';
import {
  ABI_VERSION, Implicit, ImplicitError, METHODS, Model, Run, STATUS,
  type CompletedSettings, type ErrorKind, type Exports, type InferOptions, type InstanceLike, type Method,
  type ModelDefaults, type ModelInfo, type Output, type Progress, type SampleStats, type Settings,
  type SolveError, type SolveStats, type Stats, type Status, type Values,
} from '@implicitlab/implicit';
import * as node from '@implicitlab/implicit/node';

const three: 3 = ABI_VERSION;
const first: 'picard' = METHODS[0];
const methods: readonly Method[] = METHODS;
const statuses: readonly Status[] = STATUS;
// @ts-expect-error: METHODS is read-only
METHODS.push('newton');
// @ts-expect-error: not a method
const bad: Method = 'newton';

// The Node entry: compile once, instantiate, or both at once.
const wasmModule: WebAssembly.Module = await node.compile();
const im: Implicit = await node.instantiate(wasmModule);
const im2: node.Implicit = await node.load(new URL('./node_modules/@implicitlab/implicit/implicit.wasm', import.meta.url));
await node.load('node_modules/@implicitlab/implicit/implicit.wasm');
// @ts-expect-error: a path, not bytes
await node.load(new Uint8Array(8));

// The wrapper alone, on an instance made with any WASI.
const wasi = new WASI({ version: 'preview1', args: [], env: {}, returnOnExit: true });
const instance = await WebAssembly.instantiate(wasmModule, wasi.getImportObject() as WebAssembly.Imports);
wasi.initialize(instance);
const like: InstanceLike = instance;
const im3 = new Implicit(like);
// @ts-expect-error: an instance, not its exports
new Implicit(instance.exports.memory);

const file: Uint8Array = readFileSync('/dev/null');
const m: Model = im.load(file);
const info: ModelInfo = m.info;
const { kind, description, in: nIn, state, out, params, method, explicit } = info;
const defaults: ModelDefaults = info.defaults;
const sizes: number[] = [nIn, state, out, params, defaults.tol, defaults.maxIter, m.handle];
const names: string[] = [kind, description, method, defaults.solver];
const flag: boolean = explicit;
const same: Implicit = m.im;
// @ts-expect-error: info is read-only
m.info = info;

const s: Settings = {
  method: 'anderson', maxIter: 50, absTol: 1e-12, relTol: 1e-10, divergenceRatio: -1,
  memory: 5, damping: 0, reg: 1e-8, mixing: 1, alpha: 0, noTrace: false,
};
const full: CompletedSettings = m.settings(s);
const fullMethod: Method | undefined = full.method;
const maybeMemory: number | undefined = full.memory;
m.settings();
m.settings({ method: undefined });
// @ts-expect-error: not a setting
m.settings({ tolerance: 1e-6 });
// @ts-expect-error: not a method
m.settings({ method: 'newton' });

const x: Values = new Float64Array(nIn);
const opts: InferOptions = { chunk: 10, onProgress: (p: Progress) => p.iteration < 100, init: null };
const o: Output = m.infer([0.5, 0.25], s, opts);
m.infer(x);
m.infer(new Set([1, 2]), {}, { onProgress: (p) => { console.log(p.residual, p.relResidual, p.active); } });
m.infer(x, {}, { init: [0, 0] });
// @ts-expect-error: inputs are numbers
m.infer(['1']);
const { n, h, q, y, z, result, error } = o;
const ys: Float64Array = y;
const zs: Float64Array = z;
const st: Stats = result;
const batch: Status = st.status;
const counts: number[] = [n, h, q, st.iterations, st.funcEvals, st.residual, st.relResidual];
const sample: SampleStats = st.samples[0];
const base: SolveStats = sample;
const trace: Float64Array | undefined = sample.trace ?? sample.relTrace;
const perSample: [Status, number, number, number, number] = [sample.status, sample.iterations, sample.funcEvals, sample.residual, sample.relResidual];
const failed: SolveError | null = error;
if (failed) {
  const k: 'diverged' | 'non-finite' = failed.kind;
  console.log(k, failed.sample, failed.iteration, failed.residual);
}

const run: Run = m.start(x, { method: 'picard' }, [0, 0]);
m.start(x);
const more: boolean = run.step(10);
const p: Progress = run.progress();
const partial: Output = run.result();
run.cancel();
run.free();
const runHandle: number = run.handle;
const runOwner: Implicit = run.im;
// The constructors the wrapper itself calls (load, start).
const wrapped: [Model, Run] = [new Model(im, m.handle), new Run(im, run.handle)];
m.free();

try {
  im.load(new Uint8Array(3));
} catch (e) {
  if (e instanceof ImplicitError) {
    const code: number = e.code;
    const k: ErrorKind | 'unknown' = e.kind;
    const nm: 'ImplicitError' = e.name;
    console.log(code, k, nm, e.message);
  }
}
const err = new ImplicitError(-2, 'invalid problem');
const asError: Error = err;

// The low-level calls.
const xs: Exports = im.x;
const version: number = xs.implicit_abi_version();
const memory: ArrayBuffer = xs.memory.buffer;
const ptr: number = im.alloc(16);
const bytes: Uint8Array = im.bytes(ptr, 16);
const dv: DataView = im.view(ptr, 16);
im.free(ptr);
const r: number = im.check(0);
const region: Uint8Array = im.region();
const sum: number = im.withBuffer(new Float64Array(2), (q0) => q0 + 1);
im.putSettings({ method: 'broyden' });
im.putSettings();
const got: CompletedSettings = im.getSettings();
const buffers: number[] = [im.in, im.out];
const never: never = im.fail(-5);

console.log(three, first, methods, statuses, bad, im2, im3, sizes, names, flag, same, fullMethod, maybeMemory, ys, zs, batch, counts, trace,
  perSample, base, more, p, partial, runHandle, runOwner, wrapped, asError, version, memory, bytes, dv, r, region, sum, got, buffers, never);
