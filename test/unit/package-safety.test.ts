// SPDX-License-Identifier: MIT
// What the code may load and run: the BPF object only from the package's
// own files (never the working directory or an environment-controlled
// path), and no shell or child process at all.

import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { test } from 'node:test';
import { BPF_OBJECT_PATH } from '../../src/bpf/loader.js';
import { REPO_ROOT as ROOT } from '../../harness/system.js';

function sources(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.c?ts$/.test(entry.name))
    .map((entry) => `${entry.parentPath}/${entry.name}`);
}

test('the BPF object path is fixed inside the package, next to the compiled code', () => {
  assert.ok(isAbsolute(BPF_OBJECT_PATH));
  assert.equal(BPF_OBJECT_PATH, `${ROOT}dist/bpf/tcpstates.bpf.o`);
});

test('no source spawns a process or a shell', () => {
  for (const file of sources(`${ROOT}src`)) {
    const text = readFileSync(file, 'utf8');
    assert.doesNotMatch(text, /child_process|\bexecSync\b|\bspawn\(|\bexecFile\b/, file);
  }
});

test('the loader and the FFI read no environment and no working directory', () => {
  for (const file of [`${ROOT}src/bpf/loader.ts`, `${ROOT}src/bpf/counters.ts`, `${ROOT}src/ffi/libbpf.ts`, `${ROOT}src/trace/run.ts`]) {
    const text = readFileSync(file, 'utf8');
    assert.doesNotMatch(text, /process\.env|process\.cwd|process\.chdir/, file);
  }
});

test('the CLI and the tracer never pass an object path to the loader', () => {
  for (const file of [...sources(`${ROOT}src/cli`), ...sources(`${ROOT}src/trace`)]) {
    assert.doesNotMatch(readFileSync(file, 'utf8'), /objectPath/, file);
  }
});
