// The deblurring page's solver, off the main thread: implicit.wasm under the
// browser WASI shim, a pnp model resized to the photograph (pnpfile.js), one
// plain iteration y ← G(y, x) a step, the restored image and its PSNR posted
// after each. A newer request cancels the one under way.
import { startImplicit } from './instance.js';
import { parse, tensor, resized, blur, gaussianNoise, psnr } from './pnpfile.js';

const modelURL = new URL('./deblur.safetensors', import.meta.url);
const pace = Number(new URL(self.location.href).searchParams.get('pace') ?? 30); // ms between iterations, for the eye

let im, file, kernel, periodic, noise;
let loaded = null; // {w, h, model}
let latest = 0;

async function start() {
  ({ im } = await startImplicit());
  file = new Uint8Array(await (await fetch(modelURL)).arrayBuffer());
  const st = parse(file);
  const meta = st.header.__metadata__;
  if (meta['implicit.kind'] !== 'pnp') throw new Error(`deblur.safetensors is a ${meta['implicit.kind']} model, want pnp`);
  kernel = tensor(st, 'kernel');
  periodic = meta['implicit.boundary'] === 'periodic';
  noise = Number(meta['implicit.noise']);
  const m = im.load(file); // checks the file once
  const info = m.info;
  m.free();
  postMessage({ type: 'ready', info, noise, kernel: kernel.shape, splitting: meta['implicit.splitting'] });
}

// modelFor returns the model resized to w×h pixels, loading it on a change of size.
function modelFor(w, h) {
  if (loaded && loaded.w === w && loaded.h === h) return loaded.model;
  if (loaded) loaded.model.free();
  loaded = { w, h, model: im.load(resized(file, h, w)) };
  return loaded.model;
}

const tick = (ms) => new Promise((r) => setTimeout(r, ms));

async function restore({ id, clean, w, h, budget, seed }) {
  latest = id;
  const x = blur(clean, w, h, kernel, periodic);
  const eps = gaussianNoise(x.length, noise, seed);
  for (let i = 0; i < x.length; i++) x[i] += eps[i];
  postMessage({ type: 'observed', id, x, psnr: psnr(x, clean) });
  const run = modelFor(w, h).start(x, { method: 'picard', maxIter: budget, relTol: -1 });
  try {
    let more = true;
    while (more) {
      more = run.step(1);
      const out = run.result();
      const p = run.progress();
      postMessage({ type: more ? 'progress' : 'done', id, y: out.y, iteration: p.iteration, psnr: psnr(out.y, clean), relResidual: p.relResidual });
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
  if (data.type === 'restore') restore(data).catch(report);
};
start().catch(report);
