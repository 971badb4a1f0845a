// The solver, off the main thread: implicit.wasm under a browser WASI shim,
// one iteration a step so that the page shows the prediction as the
// iterations run. A newer request cancels the one under way.
import { METHODS } from '../../wasm/js/implicit.mjs';
import { startImplicit } from './instance.js';

const modelURLs = {
  dense: new URL('../../internal/models/digits.safetensors', import.meta.url),
  conv: new URL('../../internal/models/digits-conv.safetensors', import.meta.url),
};

let im;
let simd; // whether the SIMD kernels run (instance.js)
let model;
let latest = 0;
const pace = Number(new URL(self.location.href).searchParams.get('pace') ?? 12); // ms between iterations, for the eye

async function start() {
  ({ im, simd } = await startImplicit());
  await load('dense');
}

// load swaps in one of the two digits models.
async function load(name) {
  const file = new Uint8Array(await (await fetch(modelURLs[name])).arrayBuffer());
  latest++; // a solve under way stops at its next step
  if (model) model.free();
  model = im.load(file);
  postMessage({ type: 'ready', name, info: model.info, methods: METHODS, simd });
}

const tick = (ms) => new Promise((r) => setTimeout(r, ms));

async function solve({ id, pixels, budget, method }) {
  latest = id;
  const run = model.start(pixels, { method: method || undefined, maxIter: budget }); // '': the model's own
  try {
    let more = true;
    while (more) {
      more = run.step(1);
      const out = run.result();
      const p = run.progress();
      postMessage({ type: more ? 'progress' : 'done', id, scores: Array.from(out.y), iteration: p.iteration, relResidual: p.relResidual, status: out.result.status });
      if (more) {
        await tick(pace); // lets a newer request in
        if (latest !== id) {
          run.cancel();
          return;
        }
      }
    }
  } finally {
    run.free();
  }
}

const report = (e) => postMessage({ type: 'error', message: String(e.message ?? e) });
onmessage = ({ data }) => {
  if (data.type === 'solve') solve(data).catch(report);
  if (data.type === 'load') load(data.name).catch(report);
};

start().catch((e) => postMessage({ type: 'error', message: String(e.message ?? e) }));
