// SPDX-License-Identifier: MIT
// The bench's floor (bench/floor.ts): the loader's counts line read right,
// and the table's ratios and event checks computed from the right runs.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { parseFloorLine, summarizeFloor, type FloorRun, type FloorSetup } from '../../bench/floor.js';

test("the loader's counts line", () => {
  assert.deepEqual(parseFloorLine('floor: mode=storage+output read=1100256 lost=3 output_failed=3 missed=1\n'), {
    mode: 'storage+output',
    read: 1100256,
    lost: 3,
    outputFailed: 3,
    missed: 1,
  });
  assert.equal(parseFloorLine('libbpf: something\nfloor: mode=empty read=0 lost=0 output_failed=0 missed=0\n')?.mode, 'empty');
  assert.equal(parseFloorLine('floor: mode=storage+second read=0 lost=0 output_failed=0 missed=2\n')?.missed, 2);
  assert.equal(parseFloorLine('floor: mode=bogus read=0 lost=0 output_failed=0 missed=0\n'), null);
  assert.equal(parseFloorLine('floor: load: Operation not permitted\n'), null);
  assert.equal(parseFloorLine(''), null);
});

test('the floor table: medians, ratios to untraced, events only for the output modes', () => {
  const run = (setup: FloorSetup, rate: number, read = 0): FloorRun => ({
    setup,
    round: 1,
    load: { connections: 100_000, failures: 0, seconds: 100_000 / rate, rate, cpuUs: 0 },
    expected: 1_000_128,
    counts: setup === 'untraced' ? null : { mode: setup, read, lost: setup === 'output' ? 2 : 0, outputFailed: 0, missed: 0 },
  });
  const table = summarizeFloor([
    run('untraced', 100_000),
    run('untraced', 120_000),
    run('untraced', 140_000),
    run('empty', 118_000),
    run('hash', 112_000),
    run('hash+second', 110_000),
    run('storage', 102_000),
    run('storage+second', 100_000),
    run('output', 108_000, 1_000_126),
    run('storage+output', 96_000, 1_000_130),
  ]);
  assert.match(table.columns[0]!, /the floor: minimal programs on the same tracepoint, no tool/);
  const cells = (label: string) => {
    const row = table.rows.find((cells) => cells[0]!.startsWith(label));
    assert.ok(row, label);
    return row.slice(1);
  };
  // Columns: untraced, empty, hash, hash+second, storage, storage+second, output, storage+output.
  assert.deepEqual(cells('workload conn/s'), ['120000', '118000', '112000', '110000', '102000', '100000', '108000', '96000']);
  assert.deepEqual(cells('  vs untraced'), ['1.00x', '0.98x', '0.93x', '0.92x', '0.85x', '0.83x', '0.90x', '0.80x']);
  assert.deepEqual(cells('events read'), ['', '', '', '', '', '', '1000126', '1000130']);
  assert.deepEqual(cells('runs that read fewer'), ['', '', '', '', '', '', '1', '0']);
  assert.deepEqual(cells('events lost'), ['', '', '', '', '', '', '2', '0']);
  assert.deepEqual(cells('runs skipped'), ['', '0', '0', '0', '0', '0', '0', '0']);
});
