// SPDX-License-Identifier: MIT
// ByteOutput: the byte writers print what String(), toString(16), padStart
// and padEnd would.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { ByteOutput } from '../../src/format/output.js';
import { microsAsSeconds6, writeMicrosAsSeconds6 } from '../../src/format/numbers.js';

function written(write: (out: ByteOutput) => void): string {
  const out = new ByteOutput(1);
  write(out);
  return out.toString();
}

test('uint prints integers as String() does', () => {
  for (const value of [0, 7, 10, 99, 100, 65535, 4294967295, 4294967296, 1e15 + 7, Number.MAX_SAFE_INTEGER]) {
    assert.equal(written((out) => out.uint(value)), String(value));
  }
});

test('zeroPadded', () => {
  assert.equal(written((out) => out.zeroPadded(7, 3)), '007');
  assert.equal(written((out) => out.zeroPadded(999999, 6)), '999999');
});

test('pad aligns left and right; never truncates', () => {
  assert.equal(written((out) => (out.text('ab'), out.pad(0, 5, 'left'))), 'ab   ');
  assert.equal(written((out) => (out.text('x|'), out.text('ab'), out.pad(2, 5, 'right'))), 'x|   ab');
  assert.equal(written((out) => (out.text('abcdef'), out.pad(0, 3, 'left'))), 'abcdef');
});

test('text writes UTF-8 and grows the buffer', () => {
  const long = `${'a'.repeat(100)}\u00e9\u20ac\ud83d\ude00z`;
  assert.equal(written((out) => out.text(long)), long);
  const out = new ByteOutput(2);
  for (let i = 0; i < 1000; i++) out.text('0123456789');
  assert.equal(out.length, 10000);
  assert.equal(out.toString(), '0123456789'.repeat(1000));
});

test('writeMicrosAsSeconds6 agrees with microsAsSeconds6, and declines negatives', () => {
  for (const us of [0, 1, 999, 1000, 1001, 123456789, 2 ** 40 + 3]) {
    assert.equal(written((out) => assert.ok(writeMicrosAsSeconds6(out, us))), microsAsSeconds6(us));
  }
  const out = new ByteOutput();
  assert.equal(writeMicrosAsSeconds6(out, -5), false);
  assert.equal(out.length, 0);
});
