// strokesToPixels turns a drawing into the model's 64 inputs the way the
// UCI optdigits set was made: the digit is scaled (keeping its aspect) so
// that its larger side fills a 32×32 bitmap and centred, drawn with a pen
// about as wide as the set's strokes, and each 4×4 block's set pixels are
// counted (0..16); the model takes the counts divided by 16.
export function strokesToPixels(strokes) {
  const pts = strokes.flat();
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const pen = 6; // pixels of the 32×32 bitmap: the set's strokes are 4 to 8 wide
  const box = 32 - pen; // the strokes' centres stay inside the bitmap
  const scale = box / Math.max(x1 - x0, y1 - y0, 1);
  const ox = (32 - (x1 - x0) * scale) / 2, oy = (32 - (y1 - y0) * scale) / 2;

  const c = new OffscreenCanvas(32, 32);
  const g = c.getContext('2d');
  g.fillStyle = '#fff';
  g.fillRect(0, 0, 32, 32);
  g.strokeStyle = g.fillStyle = '#000';
  g.lineWidth = pen;
  g.lineCap = g.lineJoin = 'round';
  for (const s of strokes) {
    const t = s.map(([x, y]) => [ox + (x - x0) * scale, oy + (y - y0) * scale]);
    g.beginPath();
    g.moveTo(...t[0]);
    if (t.length === 1) g.arc(t[0][0], t[0][1], pen / 2, 0, 2 * Math.PI);
    for (const p of t.slice(1)) g.lineTo(...p);
    g.stroke();
  }
  const img = g.getImageData(0, 0, 32, 32).data;
  const px = new Array(64).fill(0);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      if (img[4 * (32 * y + x)] < 128) px[8 * (y >> 2) + (x >> 2)]++; // a set pixel
    }
  }
  return px.map((n) => n / 16);
}
