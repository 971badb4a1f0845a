// Browser test of the deblurring page: headless Chromium (Debian's) loads the
// page, waits for the worker to restore the shipped photograph iteration by
// iteration, checks the PSNRs and the budget, and takes a screenshot.
//
//	node test-deblur.mjs   (test.sh installs what it needs first)
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

const out = process.env.SCREENSHOT_DIR ?? fileURLToPath(new URL('../../out/', import.meta.url));
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

let failed = 0, passed = 0;
const check = (ok, msg) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${msg}`);
  if (ok) passed++;
  else failed++;
};

const server = await serve(0);
const url = `http://127.0.0.1:${server.address().port}/examples/browser/deblur.html?pace=0&side=96`;
const profile = mkdtempSync(join(tmpdir(), 'implicit-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1100, height: 760 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url);
  await page.waitForFunction(() => window.deblurDemo?.ready || window.deblurDemo?.error, null, { timeout: 60000 });
  await page.waitForFunction(() => window.deblurDemo.done || window.deblurDemo.error, null, { timeout: 120000 });
  const r = await page.evaluate(() => ({ ...window.deblurDemo }));
  check(!r.error, `no worker error ${r.error ?? ''}`);
  const ps = r.psnrs ?? [];
  const last = ps[ps.length - 1];
  check(ps.length === 24 && r.iterations === 24, `the default budget runs 24 iterations (${ps.length} PSNRs, ${r.width}×${r.height} pixels)`);
  check(last > r.observed + 1, `restored ${last?.toFixed(2)} dB against the observation's ${r.observed?.toFixed(2)} dB`);
  check(last >= ps[0] && Math.abs(last - ps[ps.length - 2]) < 0.05, `PSNR rises and settles: ${ps.map((v) => v.toFixed(2)).join(' ')}`);
  mkdirSync(out, { recursive: true });
  const shot = join(out, 'browser-deblur.png');
  await page.screenshot({ path: shot });
  console.log(`screenshot: ${shot}`);
  // The budget control: 3 gives exactly three iterations.
  await page.locator('#budget').fill('3');
  await page.waitForFunction(() => window.deblurDemo.done && window.deblurDemo.psnrs.length === 3, null, { timeout: 60000 });
  check(true, 'a budget of 3 runs three iterations');
  check(errors.length === 0, `no page errors ${errors.join('; ')}`);
} finally {
  await browser.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
