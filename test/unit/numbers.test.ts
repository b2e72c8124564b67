// SPDX-License-Identifier: MIT
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { microsAsMillis2, microsAsMillis3, microsAsSeconds6 } from '../../src/format/numbers.js';

test('%.3f of us/1000', () => {
  assert.equal(microsAsMillis3(0), '0.000');
  assert.equal(microsAsMillis3(5), '0.005');
  assert.equal(microsAsMillis3(1234567), '1234.567');
});

test('%.6f of us/1e6', () => {
  assert.equal(microsAsSeconds6(0), '0.000000');
  assert.equal(microsAsSeconds6(1_500_001), '1.500001');
  assert.equal(microsAsSeconds6(123_000_000_007), '123000.000007');
});

test('%.2f of us/1000 rounds exactly as Python does, ties to even included', () => {
  const values = [0, 1, 5, 15, 125, 375, 625, 875, 1125, 2500, 4995, 5005, 99995, 123456789];
  for (let us = 0; us < 3000; us += 1) values.push(us);
  const python = execFileSync('python3', ['-c', 'import sys\nfor v in sys.stdin.read().split(): print("%.2f" % (float(int(v)) / 1000))'], {
    input: values.join(' '),
    encoding: 'utf8',
  }).trim().split('\n');
  assert.deepEqual(values.map(microsAsMillis2), python);
});
