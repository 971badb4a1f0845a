// The page: drawing, the 8×8 input, and the display of the solve, which runs
// in worker.js.
import { strokesToPixels } from './digits.js';

const pad = document.getElementById('pad');
const ctx = pad.getContext('2d');
const grid = document.getElementById('grid').getContext('2d');
const digitEl = document.getElementById('digit');
const statusEl = document.getElementById('status');
const budget = document.getElementById('budget');
const solver = document.getElementById('solver');
const modelSelect = document.getElementById('model');
const bars = document.getElementById('bars');

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let strokes = [];
let drawing = false;
let request = 0;
let ready = false;

// State the browser test reads.
window.implicitDemo = { ready: false, done: false, digit: null, iterations: 0, pixels: null, kind: null, simd: null };

const barEls = [];
for (let c = 0; c < 10; c++) {
  const label = document.createElement('span');
  label.textContent = c;
  const bar = document.createElement('span');
  bar.className = 'bar';
  const val = document.createElement('span');
  bars.append(label, bar, val);
  barEls.push({ bar, val });
}

function clearPad() {
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, pad.width, pad.height);
  strokes = [];
  digitEl.textContent = '?';
  showPixels(new Array(64).fill(0));
  window.implicitDemo.done = false;
  window.implicitDemo.digit = null;
}

function point(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}

pad.addEventListener('pointerdown', (e) => {
  drawing = true;
  pad.setPointerCapture(e.pointerId);
  strokes.push([point(e)]);
});
pad.addEventListener('pointermove', (e) => {
  if (!drawing) return;
  const s = strokes[strokes.length - 1];
  const [x0, y0] = s[s.length - 1];
  const [x1, y1] = point(e);
  s.push([x1, y1]);
  ctx.strokeStyle = '#111';
  ctx.lineWidth = 16;
  ctx.lineCap = ctx.lineJoin = 'round';
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
});
const end = () => {
  if (!drawing) return;
  drawing = false;
  solve();
};
pad.addEventListener('pointerup', end);
pad.addEventListener('pointercancel', end);

function showPixels(px) {
  const img = grid.createImageData(8, 8);
  px.forEach((v, i) => {
    const g = 255 - Math.round(255 * v);
    img.data.set([g, g, g, 255], 4 * i);
  });
  grid.putImageData(img, 0, 0);
}

function solve() {
  if (!ready || strokes.length === 0) return;
  const pixels = strokesToPixels(strokes);
  showPixels(pixels);
  window.implicitDemo.pixels = pixels;
  window.implicitDemo.done = false;
  request++;
  worker.postMessage({ type: 'solve', id: request, pixels, budget: Number(budget.value), method: solver.value });
}

worker.onmessage = ({ data }) => {
  if (data.type === 'ready') {
    const { info, methods } = data;
    const chosen = solver.value;
    solver.replaceChildren(new Option(`the model's (${info.method})`, ''), ...methods.map((m) => new Option(m, m)));
    solver.value = chosen;
    ready = true;
    Object.assign(window.implicitDemo, { ready: true, kind: info.kind, simd: data.simd });
    statusEl.textContent = `Ready: ${info.kind} (${info.description}), ${info.params} parameters${data.simd ? ', WebAssembly SIMD kernels' : ''}. Draw a digit.`;
    solve();
    return;
  }
  if (data.type === 'error') {
    statusEl.textContent = `Error: ${data.message}`;
    return;
  }
  if (data.id !== request) return; // an older drawing
  const { scores, iteration, relResidual, status } = data;
  const best = scores.indexOf(Math.max(...scores));
  digitEl.textContent = best;
  const lo = Math.min(...scores), hi = Math.max(...scores);
  scores.forEach((s, c) => {
    barEls[c].bar.style.width = `${(100 * (s - lo)) / (hi - lo || 1)}%`;
    barEls[c].bar.className = c === best ? 'bar best' : 'bar';
    barEls[c].val.textContent = s.toFixed(2);
  });
  statusEl.textContent = `iteration ${iteration} of at most ${budget.value}, relative residual ${relResidual.toExponential(1)}` +
    (data.type === 'done' ? ` — ${status}` : '');
  if (data.type === 'done') Object.assign(window.implicitDemo, { done: true, digit: best, iterations: iteration, status });
};

budget.addEventListener('input', () => { document.getElementById('budgetValue').textContent = budget.value; solve(); });
solver.addEventListener('change', solve);
modelSelect.addEventListener('change', () => {
  ready = false;
  window.implicitDemo.ready = false;
  statusEl.textContent = 'Loading the model…';
  worker.postMessage({ type: 'load', name: modelSelect.value });
});
document.getElementById('clear').addEventListener('click', clearPad);
clearPad();
