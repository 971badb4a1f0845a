// What the deblurring page needs of a pnp model file besides the module: its
// blur and noise level (to degrade a photograph as the model assumes) and the
// same file for another image size. A pnp file's tensors do not depend on the
// image's size (the model is convolutional), so a resized file is the same
// bytes with implicit.height and implicit.width changed in the header: what
// model.Resize does in Go, and the module loads it like any model file.

/** parse reads a safetensors file: {header (JSON), data (the tensor bytes)}. */
export function parse(file) {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const n = Number(v.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n)));
  return { header, data: file.subarray(8 + n) };
}

/** tensor returns a float tensor's values as a Float64Array. */
export function tensor(st, name) {
  const t = st.header[name];
  if (!t) throw new Error(`the model file has no tensor ${name}`);
  const [b, e] = t.data_offsets;
  const bytes = st.data.slice(b, e);
  const vals = t.dtype === 'F64' ? new Float64Array(bytes.buffer) : t.dtype === 'F32' ? new Float32Array(bytes.buffer) : null;
  if (!vals) throw new Error(`tensor ${name} is ${t.dtype}, want F32 or F64`);
  return { shape: t.shape, data: Float64Array.from(vals) };
}

/** resized returns the file with implicit.height and implicit.width set to h and w. */
export function resized(file, h, w) {
  const st = parse(file);
  st.header.__metadata__['implicit.height'] = String(h);
  st.header.__metadata__['implicit.width'] = String(w);
  let hb = new TextEncoder().encode(JSON.stringify(st.header));
  const pad = (8 - (hb.length % 8)) % 8;
  const out = new Uint8Array(8 + hb.length + pad + st.data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length + pad), true);
  out.set(hb, 8);
  out.fill(0x20, 8 + hb.length, 8 + hb.length + pad);
  out.set(st.data, 8 + hb.length + pad);
  return out;
}

const index = (i, n, periodic) => {
  if (periodic) return ((i % n) + n) % n;
  i = ((i % (2 * n)) + 2 * n) % (2 * n); // the symmetric extension has period 2n
  return i >= n ? 2 * n - 1 - i : i;
};

/** blur is the model's A: correlation with the kernel on the extended image (core/model/pnpop.go). */
export function blur(x, w, h, kernel, periodic) {
  const [kh, kw] = kernel.shape;
  const k = kernel.data;
  const out = new Float64Array(w * h);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      let s = 0;
      for (let a = 0; a < kh; a++) {
        const r = index(i + a - (kh >> 1), h, periodic) * w;
        for (let c = 0; c < kw; c++) s += k[a * kw + c] * x[r + index(j + c - (kw >> 1), w, periodic)];
      }
      out[i * w + j] = s;
    }
  }
  return out;
}

/** gaussianNoise returns n draws of N(0, σ²) from a seeded generator (mulberry32, Box–Muller). */
export function gaussianNoise(n, sigma, seed = 1) {
  let t = seed >>> 0;
  const uniform = () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(uniform(), 1e-300), v = uniform();
    const m = sigma * Math.sqrt(-2 * Math.log(u));
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** psnr in dB of est (clipped to [0, 1]) against clean, peak 1. */
export function psnr(est, clean) {
  let se = 0;
  for (let i = 0; i < clean.length; i++) {
    const d = Math.min(1, Math.max(0, est[i])) - clean[i];
    se += d * d;
  }
  return 10 * Math.log10(clean.length / se);
}
