// The npm package (package.json): `npm pack` into a temporary directory,
// `npm install` of the tarball into a fresh scratch project there, offline
// (the package has no dependencies), then Node scripts in that project that
// import it by name: package-test/consumer.mjs and the Node example of
// wasm/README.md. With IMPLICIT_TS set to a directory where typescript and
// @types/node are installed, `tsc --noEmit --strict` checks
// package-test/*.ts against the installed package too. Everything is made
// in one temporary directory (npm's cache included), removed at the end.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));
const tmp = mkdtempSync(join(tmpdir(), 'implicit-npm-'));
const project = join(tmp, 'project');
const installed = join(project, 'node_modules', ...pkg.name.split('/'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const env = {
  ...process.env,
  npm_config_cache: join(tmp, 'npm-cache'),
  npm_config_update_notifier: 'false',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
};
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

let tarball;

test('npm pack: the wrapper, the Node loader, their types, implicit.wasm and kernels.wasm, and the directory left as it was', () => {
  const before = readdirSync(here);
  const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', tmp], here));
  assert.deepEqual(readdirSync(here), before, 'postpack removed the copies of the modules');
  assert.deepEqual(packed.files.map((f) => f.path).sort(), ['implicit.d.ts', 'implicit.mjs', 'implicit.wasm', 'kernels.wasm', 'node.d.ts', 'node.mjs', 'package.json']);
  const wasm = packed.files.find((f) => f.path === 'implicit.wasm');
  assert.equal(wasm.size, readFileSync(join(repo, 'wasm', 'implicit.wasm')).length);
  assert.equal(packed.files.find((f) => f.path === 'kernels.wasm').size, readFileSync(join(repo, 'wasm', 'kernels.wasm')).length);
  assert.deepEqual(packed.bundled, []);
  tarball = join(tmp, packed.filename);
});

test('npm install of the tarball in a fresh project, offline; the package works by name', () => {
  assert.ok(tarball, 'packed');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], project);
  assert.deepEqual(readdirSync(installed).sort(), ['implicit.d.ts', 'implicit.mjs', 'implicit.wasm', 'kernels.wasm', 'node.d.ts', 'node.mjs', 'package.json']);
  assert.deepEqual(readdirSync(join(project, 'node_modules')).filter((f) => !f.startsWith('.')), [pkg.name.split('/')[0]], 'no dependencies');
  copyFileSync(join(here, 'package-test', 'consumer.mjs'), join(project, 'consumer.mjs'));
  const out = run(process.execPath, ['consumer.mjs', repo], project);
  assert.match(out, /the package works by name/);
});

test("wasm/README.md's Node example runs as written", () => {
  assert.ok(tarball, 'packed');
  const readme = readFileSync(join(repo, 'wasm', 'README.md'), 'utf8');
  const node = readme.slice(readme.indexOf('\n### Node\n'));
  const example = /\n```js\n([^]*?)\n```\n/.exec(node)?.[1];
  assert.ok(example && readme.includes('\n### Node\n'), 'a ```js block under "### Node"');
  writeFileSync(join(project, 'example.mjs'), example);
  copyFileSync(join(repo, 'testdata', 'torch', 'direct_relu.safetensors'), join(project, 'model.safetensors'));
  const out = run(process.execPath, ['example.mjs'], project);
  assert.match(out, /converged/);
});

test('the types: tsc --noEmit --strict on package-test/*.ts', { skip: !process.env.IMPLICIT_TS && 'IMPLICIT_TS names no directory with typescript and @types/node' }, (t) => {
  assert.ok(tarball, 'packed');
  const ts = process.env.IMPLICIT_TS;
  const tsc = join(ts, 'node_modules', 'typescript', 'bin', 'tsc');
  const version = run(process.execPath, [tsc, '--version'], project).trim();
  const common = ['--noEmit', '--strict', '--target', 'es2022', '--types', 'node', '--typeRoots', join(ts, 'node_modules', '@types')];
  const checks = [
    ['types.ts', '--module', 'nodenext', '--moduleResolution', 'nodenext'],
    ['types.ts', '--module', 'esnext', '--moduleResolution', 'bundler'],
    ['nodom.ts', '--lib', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext'],
  ];
  for (const [file, ...options] of checks) {
    copyFileSync(join(here, 'package-test', file), join(project, file));
    try {
      run(process.execPath, [tsc, ...common, ...options, file], project);
    } catch (e) {
      assert.fail(`${version} ${options.join(' ')} ${file}:\n${e.stdout}${e.stderr}`);
    }
  }
  t.diagnostic(version);
});
