// Browser test: headless Chromium (Debian's) draws digits on the page, waits
// for the worker's solve, checks the predictions and takes a screenshot.
//
//	node test.mjs   (test.sh installs what it needs first)
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

const out = process.env.SCREENSHOT_DIR ?? fileURLToPath(new URL('../../out/', import.meta.url));
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

// Strokes on the 256×256 pad, as lists of points.
const ellipse = (cx, cy, rx, ry) => Array.from({ length: 41 }, (_, i) => [cx + rx * Math.sin((2 * Math.PI * i) / 40), cy - ry * Math.cos((2 * Math.PI * i) / 40)]);
const digits = [
  { label: 7, strokes: [[[70, 45], [190, 45], [150, 120], [115, 215]]] },
  { label: 0, strokes: [ellipse(128, 128, 55, 85)] },
  { label: 1, strokes: [[[110, 70], [140, 40], [140, 215]]] },
  { label: 2, strokes: [[[70, 80], [100, 45], [160, 45], [185, 90], [75, 215], [195, 215]]] },
  { label: 4, strokes: [[[150, 40], [65, 150], [195, 150]], [[150, 40], [150, 220]]] },
];

let failed = 0;
const check = (ok, msg) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${msg}`);
  if (!ok) failed++;
};

const server = await serve(0);
const url = `http://127.0.0.1:${server.address().port}/examples/browser/?pace=0`;
const profile = mkdtempSync(join(tmpdir(), 'implicit-chromium-'));
// A fresh profile (--user-data-dir) for every run.
const browser = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1100, height: 640 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url);
  await page.waitForFunction(() => window.implicitDemo?.ready, null, { timeout: 30000 });
  if (await page.evaluate(() => window.implicitDemo.simd) !== true) throw new Error('the page runs without the SIMD kernels');
  const box = await page.locator('#pad').boundingBox();
  for (const kind of ['deq-dense', 'deq-conv']) {
    if (kind === 'deq-conv') {
      await page.selectOption('#model', 'conv');
      await page.waitForFunction(() => window.implicitDemo.ready && window.implicitDemo.kind === 'deq-conv', null, { timeout: 30000 });
    }
    for (const d of digits) {
      await page.click('#clear');
      for (const s of d.strokes) {
        await page.mouse.move(box.x + s[0][0], box.y + s[0][1]);
        await page.mouse.down();
        for (const [x, y] of s.slice(1)) await page.mouse.move(box.x + x, box.y + y, { steps: 8 });
        await page.mouse.up();
      }
      await page.waitForFunction(() => window.implicitDemo.done, null, { timeout: 30000 });
      const r = await page.evaluate(() => ({ ...window.implicitDemo }));
      check(r.digit === d.label && r.kind === kind, `${kind}: drew a ${d.label}: predicted ${r.digit} after ${r.iterations} iterations (${r.status})`);
      if (r.digit !== d.label) {
        for (let y = 0; y < 8; y++) console.log(r.pixels.slice(8 * y, 8 * y + 8).map((v) => String(Math.round(16 * v)).padStart(3)).join(''));
      }
      if (d.label === 7) {
        mkdirSync(out, { recursive: true });
        const shot = join(out, `browser-digit-${kind}.png`);
        await page.screenshot({ path: shot });
        console.log(`screenshot: ${shot}`);
      }
    }
  }
  // The budget control: one iteration gives exactly one.
  await page.locator('#budget').fill('1');
  await page.waitForFunction(() => window.implicitDemo.done && window.implicitDemo.iterations === 1, null, { timeout: 30000 });
  check(true, 'a budget of 1 runs one iteration');
  check(errors.length === 0, `no page errors ${errors.join('; ')}`);
} finally {
  await browser.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${2 * digits.length + 2 - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
