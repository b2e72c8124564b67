// SPDX-License-Identifier: MIT
// koffi loaded directly where koffi's own loader would pick its glibc build
// (src/ffi/koffi.ts), and through its entry point everywhere else.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { glibcPrebuiltPath, koffi, koffiLoadedBy } from '../../src/ffi/koffi.js';

const require = createRequire(import.meta.url);
const resolve = (name: string) => require.resolve(`${name}/package.json`);
const GLIBC_MAPS = '7f0000000000-7f0000001000 r--p 00000000 08:01 123 /usr/lib/x86_64-linux-gnu/libc.so.6\n';
const MUSL_MAPS = '7f0000000000-7f0000001000 r--p 00000000 08:01 123 /lib/ld-musl-x86_64.so.1\n';

test('the glibc build is chosen only on Linux with libc.so.6 mapped, from the platform package', () => {
  const path = glibcPrebuiltPath(GLIBC_MAPS, resolve, 'linux', 'x64');
  assert.match(path ?? '', /\/@koromix\/koffi-linux-x64\/linux_x64\/koffi\.node$/);
  assert.equal(glibcPrebuiltPath(MUSL_MAPS, resolve, 'linux', 'x64'), null, 'musl: koffi chooses');
  assert.equal(glibcPrebuiltPath(GLIBC_MAPS, resolve, 'freebsd', 'x64'), null, 'not Linux: koffi chooses');
  const missing = () => {
    throw new Error('Cannot find module');
  };
  assert.equal(glibcPrebuiltPath(GLIBC_MAPS, missing, 'linux', 'riscv64'), null, 'no platform package: koffi chooses');
});

test('here (glibc, the platform package installed) koffi is loaded directly, and is the module its entry point exports', () => {
  const path = glibcPrebuiltPath(readFileSync('/proc/self/maps', 'utf8'), resolve);
  assert.ok(path !== null && existsSync(path), `the glibc build of koffi for ${process.arch}`);
  assert.equal(koffiLoadedBy, 'prebuilt');
  const entryPoint = require('koffi') as { default: unknown; version: unknown; load: unknown };
  assert.equal(koffi, entryPoint.default, 'one native module either way');
  assert.equal(typeof koffi.load, 'function');
});
