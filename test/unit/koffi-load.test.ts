// SPDX-License-Identifier: MIT
// koffi loaded directly where koffi's own loader would pick its glibc build
// (src/ffi/koffi.ts), and through its entry point everywhere else.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { glibcPrebuiltPath, koffi, koffiLoadedBy } from '../../src/ffi/koffi.js';

const require = createRequire(import.meta.url);
const KOFFI_DIR = dirname(require.resolve('koffi'));
const GLIBC_MAPS = '7f0000000000-7f0000001000 r--p 00000000 08:01 123 /usr/lib/x86_64-linux-gnu/libc.so.6\n';
const MUSL_MAPS = '7f0000000000-7f0000001000 r--p 00000000 08:01 123 /lib/ld-musl-x86_64.so.1\n';

/** A node_modules with koffi at `koffiVersion` and its x64 platform package at `platformVersion` (none: null). */
function fakeNodeModules(koffiVersion: string, platformVersion: string | null): string {
  const root = mkdtempSync(join(tmpdir(), 'koffi-load-'));
  mkdirSync(join(root, 'koffi'));
  writeFileSync(join(root, 'koffi', 'package.json'), JSON.stringify({ version: koffiVersion }));
  if (platformVersion !== null) {
    mkdirSync(join(root, '@koromix', 'koffi-linux-x64'), { recursive: true });
    writeFileSync(join(root, '@koromix', 'koffi-linux-x64', 'package.json'), JSON.stringify({ version: platformVersion }));
  }
  return root;
}

test('the glibc build is chosen only on Linux with libc.so.6 mapped, from the platform package beside koffi, of koffi\'s version', (t) => {
  const same = fakeNodeModules('3.3.4', '3.3.4');
  const other = fakeNodeModules('3.3.4', '3.3.3');
  const none = fakeNodeModules('3.3.4', null);
  t.after(() => [same, other, none].forEach((root) => rmSync(root, { recursive: true, force: true })));
  assert.equal(glibcPrebuiltPath(GLIBC_MAPS, join(same, 'koffi'), 'linux', 'x64'), join(same, '@koromix', 'koffi-linux-x64', 'linux_x64', 'koffi.node'));
  assert.equal(glibcPrebuiltPath(MUSL_MAPS, join(same, 'koffi'), 'linux', 'x64'), null, 'musl: koffi chooses');
  assert.equal(glibcPrebuiltPath(GLIBC_MAPS, join(same, 'koffi'), 'freebsd', 'x64'), null, 'not Linux: koffi chooses');
  assert.equal(glibcPrebuiltPath(GLIBC_MAPS, join(other, 'koffi'), 'linux', 'x64'), null, 'another version: koffi chooses, nothing of it loaded');
  assert.equal(glibcPrebuiltPath(GLIBC_MAPS, join(none, 'koffi'), 'linux', 'x64'), null, 'no platform package beside koffi: koffi chooses');
});

test('here (glibc, the platform package installed) koffi is loaded directly, and is the module its entry point exports', () => {
  const path = glibcPrebuiltPath(readFileSync('/proc/self/maps', 'utf8'), KOFFI_DIR);
  assert.ok(path !== null && existsSync(path), `the glibc build of koffi for ${process.arch}`);
  assert.equal(koffiLoadedBy, 'prebuilt');
  const entryPoint = require('koffi') as { default: unknown; version: unknown; load: unknown };
  assert.equal(koffi, entryPoint.default, 'one native module either way');
  assert.equal(typeof koffi.load, 'function');
});
