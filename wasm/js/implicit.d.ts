// Types of implicit.mjs, the wrapper of implicit.wasm (ABI version 4, see
// wasm/README.md), written by hand. They name no WebAssembly or DOM type, so
// they check under any lib: browsers, workers and Node alike.

/** The ABI version this wrapper speaks; the constructor refuses any other. */
export declare const ABI_VERSION: 3;

/** The solvers, in the order of the Go method table (api.Methods): a Settings record numbers them from 1, 0 being the model's default. */
export declare const METHODS: readonly ['picard', 'anderson', 'broyden', 'forward-backward', 'peaceman-rachford'];
/** A solver's name. */
export type Method = (typeof METHODS)[number];

/** The statuses of a batch and of a sample, in the order of their codes (0 running … 5 canceled). */
export declare const STATUS: readonly ['running', 'converged', 'iteration limit', 'diverged', 'non-finite', 'canceled'];
/** A batch's or a sample's status. */
export type Status = (typeof STATUS)[number];

/** The kind of an error code: −1 model, −2 problem, −3 diverged, −4 non-finite, −5 handle, −6 argument, −7 internal. */
export type ErrorKind = 'model' | 'problem' | 'diverged' | 'non-finite' | 'handle' | 'argument' | 'internal';

/**
 * The imports implicit.wasm takes besides WASI's (implicit_kernels), to merge
 * into its import object, and attach, which instantiates the SIMD kernels'
 * module (kernels.wasm, compiled; null for none) against the instance's
 * memory after instantiation and before the first solve. Without it the
 * module runs its own Go kernels, with the same results.
 */
export declare function kernelImports(): {
  readonly imports: { readonly implicit_kernels: Record<'available' | 'f64_muladd' | 'f32_muladd', (...args: number[]) => number | void> };
  attach(instance: InstanceLike, kernels: unknown): Promise<void>;
};

/** An error that crossed the boundary: a negative code, its kind, and the guest's message. */
export declare class ImplicitError extends Error {
  constructor(code: number, message: string);
  readonly name: 'ImplicitError';
  /** The error code, negative. */
  readonly code: number;
  /** The code's kind; 'unknown' for a code this wrapper does not know. */
  readonly kind: ErrorKind | 'unknown';
}

/**
 * What the wrapper needs of a WebAssembly instance: a WebAssembly.Instance
 * of implicit.wasm, instantiated with WASI preview 1 imports and initialized
 * (its _initialize called, e.g. by the WASI shim's initialize).
 */
export interface InstanceLike {
  readonly exports: object;
}

/** The module's exports (wasm/README.md, "ABI, version 3"): every argument and result is an i32. */
export interface Exports {
  readonly memory: { readonly buffer: ArrayBuffer };
  implicit_abi_version(): number;
  implicit_alloc(size: number): number;
  implicit_free(ptr: number): number;
  implicit_error(out: number): number;
  implicit_model_load(ptr: number, len: number): number;
  implicit_model_info(model: number, out: number): number;
  implicit_model_settings(model: number, settingsIn: number, out: number): number;
  implicit_model_free(model: number): number;
  implicit_run_start(model: number, x: number, xlen: number, settings: number, init: number, initlen: number): number;
  implicit_run_step(run: number, maxIters: number): number;
  implicit_run_progress(run: number, out: number): number;
  implicit_run_cancel(run: number): number;
  implicit_run_result(run: number, out: number): number;
  implicit_run_free(run: number): number;
}

/**
 * The settings of a solve. Absent or zero fields take the defaults: the
 * model's solver and tolerances, and the method's parameters. A parameter
 * the method does not have must be absent or zero.
 */
export interface Settings {
  /** The solver; absent (or undefined): the model's default (ModelInfo.method). */
  method?: Method | undefined;
  /** The iteration limit; 0: the default. */
  maxIter?: number;
  /** The absolute tolerance; absTol and relTol both 0: the defaults; negative: never converge (run exactly maxIter iterations). */
  absTol?: number;
  /** The relative tolerance (see absTol). */
  relTol?: number;
  /** The residual growth that counts as divergence; 0: 1e4; negative: off. */
  divergenceRatio?: number;
  /** Anderson, Broyden: the history kept. */
  memory?: number;
  /** Picard: the damping. */
  damping?: number;
  /** Anderson: the regularization. */
  reg?: number;
  /** Anderson: the mixing. */
  mixing?: number;
  /** Forward-backward, Peaceman-Rachford: the step. */
  alpha?: number;
  /** Leave the residual traces empty (SampleStats.trace absent). */
  noTrace?: boolean;
  /** The precision of the matrix products; absent: the model's own (float32 for a file of F32 tensors). */
  precision?: 'float32' | 'float64';
}

/**
 * Settings completed with a model's defaults (Model.settings): its file's
 * solver, tolerance and iteration limit, then its kind's default solver,
 * where the settings leave them unset. What stays unset is left to the
 * engine: method undefined (ModelInfo.method names the solver used), 0 for
 * maxIter and the tolerances. The method's parameters appear only when
 * non-zero, noTrace only when set.
 */
export interface CompletedSettings extends Settings {
  method: Method | undefined;
  maxIter: number;
  absTol: number;
  relTol: number;
  divergenceRatio: number;
}

/** The defaults the model file itself sets. */
export interface ModelDefaults {
  /** The file's solver (implicit.solver); '' if it sets none. */
  solver: Method | '';
  /** The file's relative tolerance; 0 if it sets none. */
  tol: number;
  /** The file's iteration limit; 0 if it sets none. */
  maxIter: number;
}

/** What a loaded model is (the Info record). */
export interface ModelInfo {
  /** The model kind, the file's implicit.kind: 'deq-dense', 'mlp', or one a later module knows. */
  kind: 'deq-dense' | 'mlp' | (string & {});
  /** A one-line description, e.g. 'monotone (m=0.5) relu, h=64'. */
  description: string;
  /** Inputs per sample. */
  in: number;
  /** The dimension of the state z a fixed point is found in (h for deq-dense). */
  state: number;
  /** Outputs per sample. */
  out: number;
  /** Trained parameters. */
  params: number;
  /** The solver used when the settings name none. */
  method: Method;
  defaults: ModelDefaults;
  /** The model evaluates its map once, with no fixed point (the mlp kind). */
  explicit: boolean;
  /** The model's own precision: what a solve whose settings name none computes in (float32 for a file of F32 tensors). */
  precision: 'float32' | 'float64';
}

/** The last iteration of a run. */
export interface Progress {
  /** 0 before the first. */
  iteration: number;
  /** Samples evaluated in it. */
  active: number;
  /** The largest absolute residual over those samples. */
  residual: number;
  /** The largest relative residual over those samples. */
  relResidual: number;
}

/** How a solve went, a sample's or (Stats) a batch's. */
export interface SolveStats {
  status: Status;
  /** Iterations run; a batch's: the most any sample ran. */
  iterations: number;
  /** Function evaluations; a batch's: summed over the samples. */
  funcEvals: number;
  /** The last absolute residual; a batch's: the largest. */
  residual: number;
  /** The last relative residual; a batch's: the largest. */
  relResidual: number;
}

/** A sample's solve. */
export interface SampleStats extends SolveStats {
  /** The absolute residual of each iteration; absent when empty (noTrace, or no iteration run). */
  trace?: Float64Array;
  /** The relative residual of each iteration, beside trace. */
  relTrace?: Float64Array;
}

/** A batch's solve. */
export interface Stats extends SolveStats {
  /** One per sample. */
  samples: SampleStats[];
}

/** The first failed sample of a batch. */
export interface SolveError {
  kind: 'diverged' | 'non-finite';
  sample: number;
  iteration: number;
  residual: number;
}

/** The outputs of a run (the Result record): so far, or in the end. */
export interface Output {
  /** Samples. */
  n: number;
  /** The state dimension (ModelInfo.state). */
  h: number;
  /** Outputs per sample (ModelInfo.out). */
  q: number;
  /** n×q outputs h(z), row-major. */
  y: Float64Array;
  /** n×h fixed points, row-major. */
  z: Float64Array;
  result: Stats;
  /** The solve's failure, or null. */
  error: SolveError | null;
}

/** Values: an array, a typed array, or any iterable of numbers. */
export type Values = ArrayLike<number> | Iterable<number>;

/** Options of Model.infer. */
export interface InferOptions {
  /** The iterations of one call into the module (default 100). */
  chunk?: number;
  /** Sees the last iteration after each chunk; returning false cancels the solve. */
  onProgress?: ((p: Progress) => boolean | void) | null;
  /** The n×state warm start, row-major. */
  init?: Values | null;
}

/** Implicit wraps one instance of the module. Calls must not overlap. */
export declare class Implicit {
  /** Throws an Error if the module's ABI version is not ABI_VERSION. */
  constructor(instance: InstanceLike);
  /** Decodes and validates a model file (safetensors, of any kind the module knows). */
  load(file: ArrayBufferView): Model;

  // The low-level calls the classes are made of.

  /** The instance's exports. */
  readonly x: Exports;
  /** The guest buffer the settings are written to (88 bytes). */
  readonly in: number;
  /** The guest buffer the records are read from (88 bytes). */
  readonly out: number;
  /** A view of n bytes of guest memory at ptr, valid until the next call (memory may grow). */
  bytes(ptr: number, n: number): Uint8Array;
  /** A DataView of n bytes of guest memory at ptr, valid until the next call. */
  view(ptr: number, n: number): DataView;
  /** Allocates n zeroed guest bytes; throws an ImplicitError if it cannot. */
  alloc(n: number): number;
  /** Frees a buffer from alloc. */
  free(ptr: number): void;
  /** Throws the guest's error for a negative result; returns r otherwise. */
  check(r: number): number;
  /** Throws the ImplicitError of code, with the guest's last message. */
  fail(code: number): never;
  /** A copy of the bytes of the Region record at out. */
  region(): Uint8Array;
  /** Copies data into a guest buffer for the duration of f (pointer 0 if data is empty). */
  withBuffer<T>(data: ArrayBufferView, f: (ptr: number) => T): T;
  /** Writes s as the Settings record at in; throws an ImplicitError for an unknown method. */
  putSettings(s?: Settings): void;
  /** Reads the Settings record at out. */
  getSettings(): CompletedSettings;
}

/** A loaded model of any kind. */
export declare class Model {
  constructor(im: Implicit, handle: number);
  readonly im: Implicit;
  /** The model handle. */
  readonly handle: number;
  readonly info: ModelInfo;
  /** s completed with the model's defaults. */
  settings(s?: Settings): CompletedSettings;
  /** Begins a solve of the samples x (n×info.in, row-major); init, if given, is the n×info.state warm start. */
  start(x: Values, s?: Settings, init?: Values | null): Run;
  /** Solves to the end, opts.chunk iterations a call. An invalid problem throws an ImplicitError; a failed solve is Output.error. */
  infer(x: Values, s?: Settings, opts?: InferOptions): Output;
  /** Frees the model; its runs go on. */
  free(): void;
}

/** A solve in progress. */
export declare class Run {
  constructor(im: Implicit, handle: number);
  readonly im: Implicit;
  /** The run handle. */
  readonly handle: number;
  /** Runs at most maxIters iterations; true while samples still run. */
  step(maxIters: number): boolean;
  /** The last iteration. */
  progress(): Progress;
  /** The samples still running become 'canceled'. */
  cancel(): void;
  /** The outputs so far and the statistics. */
  result(): Output;
  free(): void;
}
