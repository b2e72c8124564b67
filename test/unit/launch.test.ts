// SPDX-License-Identifier: MIT
// Start-up from the build's one-file bundle and its V8 code cache
// (cli/launch.cts, scripts/bundle.mjs): the cache is accepted as built, a
// bad one is rejected without changing anything but speed, and the bundle
// holds working tools; without a build, bin/* say so.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BUNDLE_PATH, CODE_CACHE_PATH, evaluateBundle, loadBundle } from '../../src/cli/launch.cjs';

const DIST_CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli');

test('the build made a bundle whose code cache V8 accepts', () => {
  const { bundle, script } = evaluateBundle(readFileSync(BUNDLE_PATH, 'utf8'), readFileSync(CODE_CACHE_PATH));
  assert.equal(script.cachedDataRejected, false);
  assert.equal(typeof bundle.tcpstates, 'function');
  assert.equal(typeof bundle.tcplife, 'function');
  assert.equal(typeof bundle.runMain, 'function');
});

/** Evaluates the bundle (with `source` appended to it) and `cache` in a
 * fresh process, since V8 reuses what this one compiled; runs prime(). */
function evaluateFresh(cache: Buffer, appended = ''): { rejected: boolean } {
  const dir = mkdtempSync(join(tmpdir(), 'tcpstates-launch-'));
  try {
    writeFileSync(join(dir, 'cache'), cache);
    const code = `
      import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
      import { evaluateBundle, BUNDLE_PATH } from ${JSON.stringify(pathToFileURL(join(DIST_CLI, 'launch.cjs')).href)};
      const source = readFileSync(BUNDLE_PATH, 'utf8') + ${JSON.stringify(appended)};
      const { bundle, script } = evaluateBundle(source, readFileSync(${JSON.stringify(join(dir, 'cache'))}));
      bundle.prime();
      process.stdout.write(JSON.stringify({ rejected: script.cachedDataRejected }));`;
    return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' })) as { rejected: boolean };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a stale or corrupt code cache is rejected silently and the bundle still works', () => {
  const cache = readFileSync(CODE_CACHE_PATH);
  assert.deepEqual(evaluateFresh(cache), { rejected: false });
  const corrupt = Buffer.from(cache);
  corrupt.fill(0x5a, 16, 64);
  assert.deepEqual(evaluateFresh(corrupt), { rejected: true });
  assert.deepEqual(evaluateFresh(Buffer.from('not a code cache')), { rejected: true });
  // The cache of other source (a rebuilt bundle with an old cache) does not fit.
  assert.deepEqual(evaluateFresh(cache, '\n// changed'), { rejected: true });
});

test('loadBundle: the bundle as the tools load it', () => {
  const bundle = loadBundle();
  // Null only when the bundle is older than the tsc output (a build:ts after
  // the build); npm test builds everything, in order.
  assert.ok(bundle !== null, 'expected the bundle from npm run build');
  bundle.prime();
});

test('bin/* from a clone not built yet: one line saying to build, exit 1, no stack trace', () => {
  const repo = join(DIST_CLI, '..', '..', '..');
  const dir = mkdtempSync(join(tmpdir(), 'tcpstates-unbuilt-'));
  try {
    for (const tool of ['tcpstates', 'tcplife']) {
      mkdirSync(join(dir, 'bin'), { recursive: true });
      copyFileSync(join(repo, 'bin', tool), join(dir, 'bin', tool));
      copyFileSync(join(repo, 'bin', 'package.json'), join(dir, 'bin', 'package.json'));
      const run = spawnSync(process.execPath, [join(dir, 'bin', tool), '-h'], { encoding: 'utf8' });
      assert.equal(run.status, 1, tool);
      assert.equal(run.stdout, '');
      assert.equal(run.stderr, `${tool}: not built: run npm run build\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bin/* built, but a module will not load (koffi\'s native module missing, say): one line saying to reinstall, exit 1, no stack trace', () => {
  const repo = join(DIST_CLI, '..', '..', '..');
  const dir = mkdtempSync(join(tmpdir(), 'tcpstates-broken-'));
  try {
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'dist', 'src', 'cli'), { recursive: true });
    mkdirSync(join(dir, 'dist', 'src', 'trace'), { recursive: true });
    copyFileSync(join(repo, 'bin', 'package.json'), join(dir, 'bin', 'package.json'));
    writeFileSync(join(dir, 'dist', 'src', 'trace', 'signals.cjs'), '');
    writeFileSync(join(dir, 'dist', 'src', 'cli', 'launch.cjs'), "throw new Error('Cannot find the native Koffi module; did you bundle it correctly?');\n");
    for (const tool of ['tcpstates', 'tcplife']) {
      copyFileSync(join(repo, 'bin', tool), join(dir, 'bin', tool));
      const run = spawnSync(process.execPath, [join(dir, 'bin', tool), '-h'], { encoding: 'utf8' });
      assert.equal(run.status, 1, tool);
      assert.equal(run.stdout, '');
      assert.equal(
        run.stderr,
        `${tool}: broken installation: Cannot find the native Koffi module; did you bundle it correctly?: reinstall the tools (npm ci in a clone, or install the package again)\n`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
