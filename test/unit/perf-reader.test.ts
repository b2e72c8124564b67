// SPDX-License-Identifier: MIT
// PerfReader over synthetic rings: collect() hands out records in place and
// keeps their space until release() stores data_tail.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import type { PerfRings } from '../../src/ffi/libbpf.js';
import { PerfReader } from '../../src/reader/perf-reader.js';
import { DATA_HEAD_OFFSET, DATA_TAIL_OFFSET, type RecordSink } from '../../src/reader/ring.js';
import { FakeRing } from '../../harness/rings.js';

const PAGE = 4096;
const DATA = 1024;

/** One ring whose data area holds `payloads` as PERF_RECORD_SAMPLEs from position `start`. */
function ringWith(start: number, payloads: readonly number[][]): { rings: PerfRings; control: DataView } {
  const memory = new ArrayBuffer(PAGE + DATA);
  const control = new DataView(memory, 0, PAGE);
  const data = new Uint8Array(memory, PAGE, DATA);
  const ring = new FakeRing(data, start);
  for (const payload of payloads) ring.sample(payload);
  control.setBigUint64(DATA_TAIL_OFFSET, BigInt(start), true);
  control.setBigUint64(DATA_HEAD_OFFSET, BigInt(ring.head), true);
  return { rings: { rings: [{ index: 0, memory, pageSize: PAGE, dataSize: DATA }], free: () => {} }, control };
}

class Collect implements RecordSink {
  readonly samples: { view: DataView; offset: number; size: number }[] = [];
  sample(view: DataView, offset: number, size: number): void {
    this.samples.push({ view, offset, size });
  }
  lost(): void {}
  bytes(index: number): number[] {
    const { view, offset, size } = this.samples[index]!;
    return Array.from(new Uint8Array(view.buffer, view.byteOffset + offset, size));
  }
}

test('collect keeps the space until release; the records stay readable', () => {
  const { rings, control } = ringWith(0, [[1, 2, 3, 4], [5, 6, 7, 8, 9, 10, 11, 12]]);
  const reader = new PerfReader(rings);
  const sink = new Collect();
  assert.equal(reader.collect(sink), 16 + 24);
  assert.equal(control.getBigUint64(DATA_TAIL_OFFSET, true), 0n);
  assert.deepEqual(sink.bytes(0), [1, 2, 3, 4]);
  assert.deepEqual(sink.bytes(1), [5, 6, 7, 8, 9, 10, 11, 12]);
  reader.release();
  assert.equal(control.getBigUint64(DATA_TAIL_OFFSET, true), 40n);
  // Nothing new: nothing collected, the tail stays.
  assert.equal(reader.collect(sink), 0);
  reader.release();
  assert.equal(control.getBigUint64(DATA_TAIL_OFFSET, true), 40n);
});

test('a record that wraps past the end of the ring is handed out whole', () => {
  const payload = Array.from({ length: 20 }, (_, i) => i + 1);
  const { rings, control } = ringWith(DATA - 16, [payload]);
  const reader = new PerfReader(rings);
  const sink = new Collect();
  reader.collect(sink);
  reader.release();
  assert.deepEqual(sink.bytes(0), payload);
  assert.equal(control.getBigUint64(DATA_TAIL_OFFSET, true), BigInt(DATA - 16 + 32));
});

test('close turns collect and release into no-ops', () => {
  const { rings, control } = ringWith(0, [[1, 2, 3, 4]]);
  const reader = new PerfReader(rings);
  reader.close();
  assert.equal(reader.collect(new Collect()), 0);
  reader.release();
  assert.equal(control.getBigUint64(DATA_TAIL_OFFSET, true), 0n);
});
