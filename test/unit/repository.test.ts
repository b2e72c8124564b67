// SPDX-License-Identifier: MIT
// Rules of the repository's layout, read from the sources: every kernel test
// file checks for root the same way, before any test; the bench and the
// harness never import test/; no TypeScript runs a C compiler (the Makefile
// is the one build graph, harness/build.ts calls it); CI lints first.

import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { REPO_ROOT as ROOT } from '../../harness/system.js';

/** The .ts and .cts files under `dir` (relative to the repository), recursively. */
function sources(dir: string): string[] {
  return readdirSync(`${ROOT}${dir}`, { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.c?ts$/.test(name))
    .map((name) => `${dir}/${name}`);
}

const read = (path: string) => readFileSync(`${ROOT}${path}`, 'utf8');

test('every kernel test file calls requireRoot() at top level, before its first test', () => {
  const files = sources('test/kernel');
  assert.ok(files.length >= 20, `${files.length} kernel test files`);
  for (const file of files) {
    const text = read(file);
    const check = text.search(/^requireRoot\(\);$/m);
    assert.ok(check >= 0, `${file} calls requireRoot() at top level`);
    assert.match(text, /import \{[^}]*\brequireRoot\b[^}]*\} from '\.\.\/\.\.\/harness\/system\.js';/, `${file} takes requireRoot from the harness`);
    const firstTest = text.search(/^(describe|test|before)\(/m);
    assert.ok(firstTest < 0 || check < firstTest, `${file}: requireRoot() comes before the first test`);
  }
});

test('bench/ and harness/ never import from test/', () => {
  for (const file of [...sources('bench'), ...sources('harness')]) {
    const imports = [...read(file).matchAll(/from '([^']+)'/g)].map((match) => match[1]!);
    assert.deepEqual(
      imports.filter((path) => /(^|\/)test\//.test(path)),
      [],
      `${file} imports from test/`,
    );
  }
});

test('no TypeScript runs a C compiler: C is built by the Makefile', () => {
  for (const file of [...sources('src'), ...sources('test'), ...sources('bench'), ...sources('harness')]) {
    assert.doesNotMatch(read(file), /(spawn|spawnSync|execFile|execFileSync|exec|execSync)\(\s*'(cc|gcc|clang)'/, `${file} runs a compiler`);
  }
});

test('CI lints (tsc --noEmit and eslint) before it runs the tests', () => {
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  assert.match(scripts['lint'] ?? '', /^tsc -p tsconfig\.json --noEmit && eslint \.$/);
  const steps = read('.ci/run').split('\n').filter((line) => /^npm /.test(line));
  assert.deepEqual(steps, ['npm run lint', 'npm test']);
});
