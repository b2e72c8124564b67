// SPDX-License-Identifier: MIT
// src/io/output.ts on a simulated fd: partial writes, EAGAIN (a reader that
// is slow or stopped), EPIPE (the reader left), the backlog bound and the
// exit-time drain with its deadline.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { Output, type WriteFn } from '../../src/io/output.js';
import { PROMPTLY_MS } from '../../harness/system.js';

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(code), { code });
}

/** A fake fd taking at most `capacity` bytes per call until `blocked`. */
class FakeFd {
  written = '';
  blocked = false;
  gone = false;
  calls = 0;
  constructor(readonly capacity = Infinity) {}
  readonly write: WriteFn = (bytes, offset, length) => {
    this.calls++;
    if (this.gone) throw errno('EPIPE');
    if (this.blocked) throw errno('EAGAIN');
    const count = Math.min(length, this.capacity);
    this.written += Buffer.from(bytes.subarray(offset, offset + count)).toString();
    return count;
  };
}

test('whole text goes out through partial writes, in order', () => {
  const fd = new FakeFd(3);
  const output = new Output(fd.write);
  output.push('header\n');
  output.push('row 1\nrow 2\n');
  assert.equal(fd.written, 'header\nrow 1\nrow 2\n');
  assert.equal(output.pendingBytes, 0);
});

test('EAGAIN keeps the rest pending, in order, and a later flush writes it', () => {
  const fd = new FakeFd(4);
  const output = new Output(fd.write);
  output.push('abcdef\n');
  fd.blocked = true;
  output.push('ghij\n');
  assert.equal(output.flush(), false);
  assert.equal(output.pendingBytes, 5);
  fd.blocked = false;
  assert.equal(output.flush(), true);
  assert.equal(fd.written, 'abcdef\nghij\n');
});

test('backlogged once the pending bytes reach the bound', () => {
  const fd = new FakeFd();
  fd.blocked = true;
  const output = new Output(fd.write, 10);
  output.push('12345\n');
  assert.equal(output.backlogged, false);
  output.push('67890\n');
  assert.equal(output.backlogged, true);
  fd.blocked = false;
  output.flush();
  assert.equal(output.backlogged, false);
});

test('EPIPE closes the output and drops what was pending; later pushes are ignored', () => {
  const fd = new FakeFd();
  fd.blocked = true;
  const output = new Output(fd.write);
  output.push('row\n');
  fd.blocked = false;
  fd.gone = true;
  assert.equal(output.flush(), true);
  assert.equal(output.closed, true);
  assert.equal(output.pendingBytes, 0);
  const calls = fd.calls;
  output.push('more\n');
  assert.equal(fd.calls, calls);
  assert.equal(output.drain(100), 0);
});

test('other write errors are not swallowed', () => {
  const output = new Output(() => {
    throw errno('EIO');
  });
  assert.throws(() => output.push('row\n'), /EIO/);
});

test('drain gives up at its deadline and returns what is left', () => {
  const fd = new FakeFd();
  fd.blocked = true;
  const output = new Output(fd.write);
  output.push('0123456789\n');
  const start = performance.now();
  assert.equal(output.drain(50), 11);
  const elapsedMs = performance.now() - start;
  // Not before its deadline; the upper bound only catches a drain that
  // ignored it: a busy machine can deschedule this process for seconds.
  assert.ok(elapsedMs >= 45 && elapsedMs < PROMPTLY_MS, `waited ${elapsedMs} ms`);
});

test('drain returns 0 at once when everything goes out', () => {
  const fd = new FakeFd(2);
  const output = new Output(fd.write);
  fd.blocked = true;
  output.push('abc\n');
  fd.blocked = false;
  assert.equal(output.drain(1000), 0);
  assert.equal(fd.written, 'abc\n');
});
