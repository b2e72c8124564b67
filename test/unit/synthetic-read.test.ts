// SPDX-License-Identifier: MIT
// The read path over synthetic rings (reader/synthetic.ts, what the tracer
// warms up on): every event read once, in time order, also when a ring is
// read in bounded steps (PerfReader.collect's maxBytesPerRing).

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { EVENT_SIZE, EventView, TRANSITION_EVENT_SIZE } from '../../src/decode/event.js';
import { ByteOutput } from '../../src/format/output.js';
import { EventBatch } from '../../src/reader/batch.js';
import { PerfReader } from '../../src/reader/perf-reader.js';
import { renderBatch } from '../../src/reader/render.js';
import { sampleRecordBytes, syntheticRings } from '../../src/reader/synthetic.js';

for (const recordSize of [TRANSITION_EVENT_SIZE, EVENT_SIZE]) {
  test(`synthetic rings of ${recordSize}-byte records: one batch reads every event, in time order`, () => {
    const rings = syntheticRings(3, 1 << 16, recordSize, 200);
    assert.equal(rings.events, 600);
    const reader = new PerfReader(rings);
    const times: number[] = [];
    const rows = renderBatch(reader, new EventBatch(recordSize), new ByteOutput(64), new EventView(), (_out, event) => {
      times.push(event.tsNs);
    }, Number.MAX_SAFE_INTEGER);
    assert.equal(rows, 600);
    assert.equal(reader.truncated, false);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    assert.equal(new Set(times).size, 600);
    // Released: nothing left to read until a refill.
    assert.equal(renderBatch(reader, new EventBatch(recordSize), new ByteOutput(64), new EventView(), () => {}, 10), 0);
  });
}

test('bounded reads take whole records, say when more is left, and together read each event once', () => {
  const rings = syntheticRings(2, 1 << 16, TRANSITION_EVENT_SIZE, 300);
  const reader = new PerfReader(rings);
  const sink = new EventBatch(TRANSITION_EVENT_SIZE);
  const seen: number[] = [];
  const limit = 10 * sampleRecordBytes(TRANSITION_EVENT_SIZE) + 1;
  let batches = 0;
  do {
    const rows = renderBatch(reader, sink, new ByteOutput(64), new EventView(), (_out, event) => {
      seen.push(event.tsNs);
    }, Number.MAX_SAFE_INTEGER, limit);
    assert.ok(rows <= 2 * 11, `at most 11 records per ring per batch, got ${rows}`);
    batches++;
  } while (reader.truncated);
  assert.equal(seen.length, 600);
  assert.equal(new Set(seen).size, 600);
  assert.ok(batches >= 27, `${batches} batches`);
});

test('maxRows: the rows beyond it are read (released) but not written', () => {
  const rings = syntheticRings(2, 1 << 16, TRANSITION_EVENT_SIZE, 50);
  const reader = new PerfReader(rings);
  const sink = new EventBatch(TRANSITION_EVENT_SIZE);
  let written = 0;
  assert.equal(renderBatch(reader, sink, new ByteOutput(64), new EventView(), () => void written++, 7), 7);
  assert.equal(written, 7);
  assert.equal(sink.count, 100);
  assert.equal(renderBatch(reader, sink, new ByteOutput(64), new EventView(), () => void written++, 7), 0);
});
