// SPDX-License-Identifier: MIT
// Rules of the repository's layout, read from the sources: every kernel test
// file checks for root the same way, before any test; the bench and the
// harness never import test/; no TypeScript runs a C compiler (the Makefile
// is the one build graph, harness/build.ts calls it); CI lints first; a
// failed test ends the run red instead of hanging it.

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

test('every test script ends a failed run red instead of hanging it: --test-force-exit and a --test-timeout', () => {
  // The runner waits for a file's process, which a tracer left running keeps
  // alive; harness/children.ts kills what is left once the file's tests are done.
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  const runs = Object.entries(scripts).filter(([, command]) => command.includes('node --test '));
  assert.ok(runs.length >= 4, `${runs.length} test scripts`);
  for (const [name, command] of runs) {
    assert.match(command, /node --test [^&|;]*--test-force-exit/, `${name} passes --test-force-exit`);
    assert.match(command, /node --test [^&|;]*--test-timeout=\d+/, `${name} passes --test-timeout`);
  }
});

test('every process the harness and the tests start is adopted (harness/children.ts), so that none outlives a failed test', () => {
  for (const file of [...sources('test'), ...sources('harness')]) {
    const text = read(file);
    const spawned = [...text.matchAll(/\bspawn\(/g)].length;
    const adopted = [...text.matchAll(/\b(adopt|new FixturePeer)\(\s*spawn\(/g)].length;
    assert.equal(adopted, spawned, `${file}: ${spawned - adopted} of its spawn calls not adopted`);
  }
});
