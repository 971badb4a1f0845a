// The deblurring page: the photograph (the shipped cat, or the user's), its
// observation and the restoration as the iterations of deblur-worker.js run,
// with the PSNR of each.
const maxSide = Number(new URL(location.href).searchParams.get('side') ?? 160);
document.getElementById('side').textContent = maxSide;
const statusEl = document.getElementById('status');
const budget = document.getElementById('budget');
const psnrList = document.getElementById('psnrs');
const plot = document.getElementById('plot');
const worker = new Worker(new URL('./deblur-worker.js', import.meta.url), { type: 'module' });

// State the browser test reads.
window.deblurDemo = { ready: false, done: false, iterations: 0, psnrs: [], observed: null, width: 0, height: 0 };

let photo = null; // {clean, w, h}
let request = 0;
let ready = false;
let info = null;

function draw(id, pix, w, h) {
  const c = document.getElementById(id);
  c.width = w;
  c.height = h;
  const ctx = c.getContext('2d');
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    const g = Math.round(255 * Math.min(1, Math.max(0, pix[i])));
    img.data.set([g, g, g, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
}

// toGrey scales an image to at most maxSide a side and returns its luma in [0, 1].
function toGrey(bitmap) {
  const s = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
  const w = Math.max(8, Math.round(bitmap.width * s)), h = Math.max(8, Math.round(bitmap.height * s));
  const c = new OffscreenCanvas(w, h);
  const ctx = c.getContext('2d');
  ctx.drawImage(bitmap, 0, 0, w, h);
  const d = ctx.getImageData(0, 0, w, h).data;
  const clean = new Float64Array(w * h);
  for (let i = 0; i < w * h; i++) clean[i] = (0.299 * d[4 * i] + 0.587 * d[4 * i + 1] + 0.114 * d[4 * i + 2]) / 255;
  return { clean, w, h };
}

async function usePhoto(blob) {
  photo = toGrey(await createImageBitmap(blob));
  draw('clean', photo.clean, photo.w, photo.h);
  restore();
}

function restore() {
  if (!ready || !photo) return;
  request++;
  Object.assign(window.deblurDemo, { done: false, iterations: 0, psnrs: [], observed: null, width: photo.w, height: photo.h });
  psnrList.replaceChildren();
  statusEl.textContent = `Restoring ${photo.w}×${photo.h} pixels…`;
  worker.postMessage({ type: 'restore', id: request, clean: photo.clean, w: photo.w, h: photo.h, budget: Number(budget.value), seed: 1 });
}

function drawPlot(psnrs, observed) {
  const W = plot.width.baseVal.value, H = plot.height.baseVal.value, pad = 30;
  const n = Number(budget.value);
  const all = psnrs.concat([observed]);
  const lo = Math.floor(Math.min(...all) - 0.5), hi = Math.ceil(Math.max(...all) + 0.5);
  const X = (i) => pad + ((W - 2 * pad) * (i - 1)) / Math.max(1, n - 1);
  const Y = (v) => H - pad + ((pad * 2 - H) * (v - lo)) / (hi - lo);
  const pts = psnrs.map((v, i) => `${X(i + 1).toFixed(1)},${Y(v).toFixed(1)}`).join(' ');
  plot.innerHTML = `<line x1="${pad}" y1="${Y(observed)}" x2="${W - pad}" y2="${Y(observed)}" stroke="#999" stroke-dasharray="4 3"/>` +
    `<polyline points="${pts}" fill="none" stroke="#2f6fd6" stroke-width="2"/>` +
    `<text x="4" y="${Y(hi) + 4}" font-size="11">${hi}</text><text x="4" y="${Y(lo) + 4}" font-size="11">${lo}</text>` +
    `<text x="${pad}" y="${H - 8}" font-size="11">1</text><text x="${W - pad - 10}" y="${H - 8}" font-size="11">${n}</text>`;
}

worker.onmessage = ({ data }) => {
  if (data.type === 'ready') {
    info = data.info;
    ready = true;
    window.deblurDemo.ready = true;
    statusEl.textContent = `Ready: ${info.kind} (${data.splitting}, ${info.params} parameters), a ${data.kernel.join('×')} blur, noise σ = ${data.noise}.`;
    restore();
    return;
  }
  if (data.type === 'error') {
    statusEl.textContent = `Error: ${data.message}`;
    window.deblurDemo.error = data.message;
    return;
  }
  if (data.id !== request) return; // an older request
  if (data.type === 'observed') {
    draw('observed', data.x, photo.w, photo.h);
    document.getElementById('observedCap').textContent = `blurred + noise: ${data.psnr.toFixed(2)} dB`;
    window.deblurDemo.observed = data.psnr;
    return;
  }
  draw('restored', data.y, photo.w, photo.h);
  const d = window.deblurDemo;
  d.psnrs.push(data.psnr);
  d.iterations = data.iteration;
  const li = document.createElement('li');
  li.textContent = `${data.psnr.toFixed(2)} dB`;
  psnrList.append(li);
  document.getElementById('restoredCap').textContent = `restored, iteration ${data.iteration}: ${data.psnr.toFixed(2)} dB`;
  drawPlot(d.psnrs, d.observed);
  statusEl.textContent = `iteration ${data.iteration} of ${budget.value}, relative step ${data.relResidual.toExponential(1)}` + (data.type === 'done' ? ' — done' : '');
  if (data.type === 'done') d.done = true;
};

budget.addEventListener('input', () => { document.getElementById('budgetValue').textContent = budget.value; restore(); });
document.getElementById('photo').addEventListener('change', (e) => { if (e.target.files[0]) usePhoto(e.target.files[0]).catch((err) => { statusEl.textContent = `Error: ${err.message}`; }); });
fetch(new URL('../imaging/testdata/chelsea-grey.png', import.meta.url)).then((r) => r.blob()).then(usePhoto)
  .catch((err) => { statusEl.textContent = `Error: ${err.message}`; });
