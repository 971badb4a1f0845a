// implicit.mjs: a JavaScript wrapper for wasm/implicit.wasm (ABI version 4,
// see wasm/README.md). It works on an instance that is already instantiated
// with WASI preview 1 imports and the kernels' imports (kernelImports) and
// initialized (its _initialize called), so the same code runs in Node
// (node.mjs) and in browsers, with any WASI shim.

export const ABI_VERSION = 4;

/** The solvers, in the order of the Go method table (api.Methods): a Settings record numbers them from 1, 0 being the model's default. */
export const METHODS = ['picard', 'anderson', 'broyden', 'forward-backward', 'peaceman-rachford'];
export const STATUS = ['running', 'converged', 'iteration limit', 'diverged', 'non-finite', 'canceled'];
const CODES = {
  [-1]: 'model', [-2]: 'problem', [-3]: 'diverged', [-4]: 'non-finite',
  [-5]: 'handle', [-6]: 'argument', [-7]: 'internal',
};

const SETTINGS_SIZE = 88;
// The precision flags of a Settings record (internal/abi FlagFloat32, FlagFloat64).
const PRECISIONS = { '': 0n, float32: 2n, float64: 4n };
const OUT_SIZE = 88;
const HEADER = 104;
const SAMPLE = 48;
const INFO_HEADER = 88;

/**
 * kernelImports returns the imports implicit.wasm takes besides WASI's
 * (implicit_kernels: available, and f64_muladd and f32_muladd, its matrix
 * product in each precision), and
 * attach, which instantiates the SIMD kernels' module (kernels.wasm, a
 * WebAssembly.Module, against the instance's memory) once the instance
 * exists and before it solves. Without attach, or with null (a runtime with
 * no WebAssembly SIMD), the module runs its own Go kernels: the results are
 * the same bit for bit, only slower.
 */
export function kernelImports() {
  let muladd = null;
  let muladd32 = null;
  return {
    imports: {
      implicit_kernels: {
        available: () => (muladd && muladd32 ? 1 : 0),
        f64_muladd: (c, a, b, m, k, np, ldc) => muladd(c, a, b, m, k, np, ldc),
        f32_muladd: (c, a, b, m, k, np, ldc) => muladd32(c, a, b, m, k, np, ldc),
      },
    },
    async attach(instance, kernels) {
      if (!kernels) return;
      const k = await WebAssembly.instantiate(kernels, { implicit: { memory: instance.exports.memory } });
      muladd32 = k.exports.f32_muladd;
      muladd = k.exports.f64_muladd;
    },
  };
}

/** An error that crossed the boundary: code (negative) and kind ('model', 'problem', ...). */
export class ImplicitError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'ImplicitError';
    this.code = code;
    this.kind = CODES[code] ?? 'unknown';
  }
}

/** Implicit wraps one instance of the module. Calls must not overlap. */
export class Implicit {
  /** @param {WebAssembly.Instance} instance instantiated and initialized */
  constructor(instance) {
    this.x = instance.exports;
    const v = this.x.implicit_abi_version();
    if (v !== ABI_VERSION) throw new Error(`implicit.wasm has ABI version ${v}, this wrapper speaks ${ABI_VERSION}`);
    this.in = this.alloc(SETTINGS_SIZE);
    this.out = this.alloc(OUT_SIZE);
  }

  /** The bytes of guest memory from ptr (a fresh view after every call: memory may grow). */
  bytes(ptr, n) { return new Uint8Array(this.x.memory.buffer, ptr, n); }
  view(ptr, n) { return new DataView(this.x.memory.buffer, ptr, n); }

  alloc(n) {
    const p = this.x.implicit_alloc(n) >>> 0;
    if (p === 0) this.fail(-6);
    return p;
  }

  free(p) { this.check(this.x.implicit_free(p)); }

  /** check throws the guest's error for a negative result and returns r otherwise. */
  check(r) {
    if (r < 0) this.fail(r);
    return r;
  }

  fail(code) {
    let msg = `implicit: error ${code}`;
    if (this.x.implicit_error(this.out) === 0) {
      const v = this.view(this.out, 16);
      const p = Number(v.getBigUint64(0, true)), n = Number(v.getBigUint64(8, true));
      msg = new TextDecoder().decode(this.bytes(p, n));
    }
    throw new ImplicitError(code, msg);
  }

  /** region reads the {ptr, len} record at out and returns a copy of its bytes. */
  region() {
    const v = this.view(this.out, 16);
    const p = Number(v.getBigUint64(0, true)), n = Number(v.getBigUint64(8, true));
    return this.bytes(p, n).slice();
  }

  /** withBuffer copies data into a guest buffer for the duration of f. */
  withBuffer(data, f) {
    if (data.byteLength === 0) return f(0);
    const p = this.alloc(data.byteLength);
    try {
      this.bytes(p, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      return f(p);
    } finally {
      this.free(p);
    }
  }

  /** load decodes and validates a model file (Uint8Array). */
  load(file) {
    const h = this.withBuffer(file, (p) => this.check(this.x.implicit_model_load(p, file.byteLength)));
    return new Model(this, h);
  }

  putSettings(s = {}) {
    const v = this.view(this.in, SETTINGS_SIZE);
    for (let i = 0; i < SETTINGS_SIZE; i += 8) v.setBigUint64(i, 0n, true);
    const id = s.method == null ? 0 : METHODS.indexOf(s.method) + 1;
    if (s.method != null && id === 0) throw new ImplicitError(-2, `unknown solver ${JSON.stringify(s.method)} (want ${METHODS.join(', ')})`);
    v.setBigInt64(0, BigInt(id), true);
    v.setBigInt64(8, BigInt(s.maxIter ?? 0), true);
    v.setFloat64(16, s.absTol ?? 0, true);
    v.setFloat64(24, s.relTol ?? 0, true);
    v.setFloat64(32, s.divergenceRatio ?? 0, true);
    v.setBigInt64(40, BigInt(s.memory ?? 0), true);
    v.setFloat64(48, s.damping ?? 0, true);
    v.setFloat64(56, s.reg ?? 0, true);
    v.setFloat64(64, s.mixing ?? 0, true);
    v.setFloat64(72, s.alpha ?? 0, true);
    const precision = PRECISIONS[s.precision ?? ''];
    if (precision === undefined) throw new ImplicitError(-2, `unknown precision ${JSON.stringify(s.precision)} (want float32, float64 or none for the model's own)`);
    v.setBigInt64(80, (s.noTrace ? 1n : 0n) | precision, true);
  }

  getSettings() {
    const v = this.view(this.out, SETTINGS_SIZE);
    const s = {
      method: METHODS[Number(v.getBigInt64(0, true)) - 1],
      maxIter: Number(v.getBigInt64(8, true)),
      absTol: v.getFloat64(16, true), relTol: v.getFloat64(24, true),
      divergenceRatio: v.getFloat64(32, true),
    };
    const params = { memory: Number(v.getBigInt64(40, true)), damping: v.getFloat64(48, true), reg: v.getFloat64(56, true), mixing: v.getFloat64(64, true), alpha: v.getFloat64(72, true) };
    for (const [k, val] of Object.entries(params)) if (val !== 0) s[k] = val;
    const flags = v.getBigInt64(80, true);
    if (flags & 1n) s.noTrace = true;
    if (flags & 2n) s.precision = 'float32';
    if (flags & 4n) s.precision = 'float64';
    return s;
  }
}

/**
 * Model is a loaded model of any kind. info describes it: {kind, description,
 * in, state, out (sizes per sample), params, method (the default solver),
 * defaults: {solver, tol, maxIter} (the file's own), explicit, precision (the
 * model's own: 'float32' for a file of F32 tensors, else 'float64')}.
 */
export class Model {
  constructor(im, handle) {
    this.im = im;
    this.handle = handle;
    im.check(im.x.implicit_model_info(handle, im.out));
    this.info = decodeInfo(im.region());
  }

  /** settings returns s completed with the model's defaults. */
  settings(s = {}) {
    this.im.putSettings(s);
    this.im.check(this.im.x.implicit_model_settings(this.handle, this.im.in, this.im.out));
    return this.im.getSettings();
  }

  /**
   * start begins a solve of the samples x (n×info.in, row-major) with
   * settings s; init, if given, is the n×info.state warm start.
   */
  start(x, s = {}, init = null) {
    const im = this.im;
    const xs = Float64Array.from(x);
    const is = init ? Float64Array.from(init) : new Float64Array(0);
    im.putSettings(s);
    const h = im.withBuffer(xs, (xp) => im.withBuffer(is, (ip) =>
      im.check(im.x.implicit_run_start(this.handle, xp, xs.length, im.in, ip, is.length))));
    return new Run(im, h);
  }

  /**
   * infer solves to the end, chunk iterations a call; onProgress, if given,
   * sees each chunk's last iteration and may return false to cancel.
   * It returns {y, z, result, error}: error is the solve's failure, if any.
   */
  infer(x, s = {}, { chunk = 100, onProgress = null, init = null } = {}) {
    const run = this.start(x, s, init);
    try {
      while (run.step(chunk)) {
        if (onProgress && onProgress(run.progress()) === false) {
          run.cancel();
          break;
        }
      }
      return run.result();
    } finally {
      run.free();
    }
  }

  free() { this.im.check(this.im.x.implicit_model_free(this.handle)); }
}

/** Run is a solve in progress. */
export class Run {
  constructor(im, handle) {
    this.im = im;
    this.handle = handle;
  }

  /** step runs at most maxIters iterations; true while samples still run. */
  step(maxIters) { return this.im.check(this.im.x.implicit_run_step(this.handle, maxIters)) === 1; }

  /** progress is the last iteration: {iteration, active, residual, relResidual}. */
  progress() {
    const im = this.im;
    im.check(im.x.implicit_run_progress(this.handle, im.out));
    const v = im.view(im.out, 32);
    return { iteration: Number(v.getBigInt64(0, true)), active: Number(v.getBigInt64(8, true)), residual: v.getFloat64(16, true), relResidual: v.getFloat64(24, true) };
  }

  cancel() { this.im.check(this.im.x.implicit_run_cancel(this.handle)); }

  /** result decodes the Result record: the outputs so far and the statistics. */
  result() {
    const im = this.im;
    im.check(im.x.implicit_run_result(this.handle, im.out));
    return decodeResult(im.region());
  }

  free() { this.im.check(this.im.x.implicit_run_free(this.handle)); }
}

function decodeResult(b) {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const int = (o) => Number(v.getBigInt64(o, true));
  const n = int(0), h = int(8), q = int(16);
  const stats = (o) => ({ iterations: int(o), funcEvals: int(o + 8), residual: v.getFloat64(o + 16, true), relResidual: v.getFloat64(o + 24, true) });
  const result = { status: STATUS[int(24)], ...stats(32), samples: [] };
  let error = null;
  const code = int(64);
  if (code !== 0) error = { kind: CODES[code], sample: int(72), iteration: int(80), residual: v.getFloat64(88, true) };
  const lens = [];
  let off = HEADER;
  for (let i = 0; i < n; i++, off += SAMPLE) {
    result.samples.push({ status: STATUS[int(off)], ...stats(off + 8) });
    lens.push(int(off + 40));
  }
  const floats = (k) => {
    const a = new Float64Array(k);
    for (let i = 0; i < k; i++, off += 8) a[i] = v.getFloat64(off, true);
    return a;
  };
  const z = floats(n * h);
  const y = floats(n * q);
  for (let i = 0; i < n; i++) {
    if (lens[i] > 0) {
      result.samples[i].trace = floats(lens[i]);
      result.samples[i].relTrace = floats(lens[i]);
    }
  }
  return { n, h, q, y, z, result, error };
}

function decodeInfo(b) {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const int = (o) => Number(v.getBigInt64(o, true));
  let off = INFO_HEADER;
  const str = (k) => {
    const n = int(56 + 8 * k);
    const s = new TextDecoder().decode(b.subarray(off, off + n));
    off += n;
    return s;
  };
  const [kind, description, method, solver] = [0, 1, 2, 3].map(str);
  return {
    kind, description, in: int(0), state: int(8), out: int(16), params: int(24), method,
    defaults: { solver, tol: v.getFloat64(40, true), maxIter: int(32) },
    explicit: (int(48) & 1) === 1,
    precision: (int(48) & 2) === 2 ? 'float32' : 'float64',
  };
}
