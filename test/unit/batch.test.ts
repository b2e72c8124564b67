// SPDX-License-Identifier: MIT
// EventBatch: where each event is, and the time order (that of a stable sort
// by timestamp) in which the rows are shown.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { EVENT_SIZE } from '../../src/decode/event.js';
import { EventBatch } from '../../src/reader/batch.js';
import { encodeEvent } from '../../harness/encode-event.js';

function stableOrder(timestamps: readonly number[]): number[] {
  return timestamps.map((_, index) => index).sort((a, b) => (timestamps[a] as number) - (timestamps[b] as number));
}

function batchOf(timestamps: readonly number[]): EventBatch {
  const batch = new EventBatch();
  for (const ts of timestamps) batch.sample(encodeEvent({ tsNs: BigInt(ts) }), 0, EVENT_SIZE);
  return batch;
}

test('merges per-CPU runs like a stable sort, ties in arrival order', () => {
  const cases: number[][] = [
    [],
    [5],
    [1, 2, 3],
    [3, 2, 1],
    [10, 20, 30, 15, 25, 35],
    [10, 20, 20, 5, 20, 40, 20, 20],
    [7, 7, 7, 7],
  ];
  for (const timestamps of cases) {
    assert.deepEqual([...batchOf(timestamps).timeOrder()], stableOrder(timestamps), `for ${timestamps}`);
  }
});

test('random batches of several runs, past the initial capacity', () => {
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 20; round++) {
    const timestamps: number[] = [];
    const runs = 1 + Math.floor(next() * 9);
    for (let run = 0; run < runs; run++) {
      let ts = 1e12 + Math.floor(next() * 1e6);
      const length = Math.floor(next() * 700);
      for (let i = 0; i < length; i++) timestamps.push((ts += Math.floor(next() * 3) * 1000));
    }
    // and now and then one out of order inside a run
    if (timestamps.length > 2 && next() < 0.5) timestamps[1] = 0;
    const batch = batchOf(timestamps);
    assert.equal(batch.count, timestamps.length);
    assert.deepEqual([...batch.timeOrder()], stableOrder(timestamps));
  }
});

test('records where each event is; counts short samples and losses; clear keeps the counters', () => {
  const batch = new EventBatch();
  const view = encodeEvent({ tsNs: 42n }, 16);
  batch.sample(view, 16, EVENT_SIZE + 4);
  batch.sample(view, 16, EVENT_SIZE - 1);
  batch.lost(3);
  assert.equal(batch.count, 1);
  assert.equal(batch.views[0], view);
  assert.equal(batch.offsets[0], 16);
  assert.equal(batch.timestamps[0], 42);
  assert.equal(batch.undecodable, 1);
  assert.equal(batch.lostInRings, 3);
  batch.clear();
  assert.equal(batch.count, 0);
  assert.equal(batch.undecodable, 1);
  assert.equal(batch.lostInRings, 3);
});
