// SPDX-License-Identifier: MIT
// Perf ring arithmetic on synthetic buffers: samples, lost records, records
// that wrap past the end of the ring, and torn headers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RingData, type RecordSink } from '../../src/reader/ring.js';
import { FakeRing } from '../../harness/rings.js';

class Collect implements RecordSink {
  samples: number[][] = [];
  lostCounts: number[] = [];
  sample(view: DataView, offset: number, size: number): void {
    const bytes: number[] = [];
    for (let i = 0; i < size; i++) bytes.push(view.getUint8(offset + i));
    this.samples.push(bytes);
  }
  lost(count: number): void {
    this.lostCounts.push(count);
  }
}

test('consumes samples and lost records in order and returns the head', () => {
  const ring = new FakeRing(256);
  ring.sample([1, 2, 3]);
  ring.lost(42);
  ring.sample([4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const sink = new Collect();
  const tail = new RingData(ring.bytes).consume(0, ring.head, sink);
  assert.equal(tail, ring.head);
  assert.deepEqual(sink.samples, [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11, 12]]);
  assert.deepEqual(sink.lostCounts, [42]);
});

test('an empty range consumes nothing', () => {
  const ring = new FakeRing(64);
  const sink = new Collect();
  assert.equal(new RingData(ring.bytes).consume(40, 40, sink), 40);
  assert.equal(sink.samples.length, 0);
});

test('a record whose body wraps past the end is seen contiguous', () => {
  // Start 16 bytes before the end: the header fits, the 20-byte payload wraps.
  const ring = new FakeRing(64, 48);
  const payload = Array.from({ length: 20 }, (_, i) => 100 + i);
  ring.sample(payload);
  const sink = new Collect();
  const tail = new RingData(ring.bytes).consume(48, ring.head, sink);
  assert.equal(tail, 48 + 32);
  assert.deepEqual(sink.samples, [payload]);
});

test('positions beyond the ring size index modulo the size', () => {
  // Free-running counters: many laps around a 64-byte ring.
  const ring = new FakeRing(64, 64 * 1000 + 8);
  ring.sample([9, 8, 7]);
  ring.sample([6, 5]);
  const sink = new Collect();
  new RingData(ring.bytes).consume(64 * 1000 + 8, ring.head, sink);
  assert.deepEqual(sink.samples, [[9, 8, 7], [6, 5]]);
});

test('a lost record that wraps is decoded from the scratch copy', () => {
  const ring = new FakeRing(64, 56); // header at 56, body wraps to 0
  ring.lost(123456789);
  const sink = new Collect();
  new RingData(ring.bytes).consume(56, ring.head, sink);
  assert.deepEqual(sink.lostCounts, [123456789]);
});

test('a torn or corrupt header is an error, not an endless loop', () => {
  const ring = new FakeRing(64);
  ring.sample([1]);
  new DataView(ring.bytes.buffer).setUint16(6, 0, true); // size 0
  assert.throws(() => new RingData(ring.bytes).consume(0, ring.head, new Collect()), {
    name: 'RangeError',
    message: 'bad perf record at 0: size 0, head 16',
  });
});

test('a record extending past head is rejected', () => {
  const ring = new FakeRing(64);
  ring.sample([1, 2, 3, 4, 5, 6, 7, 8, 9]); // 24 bytes
  assert.throws(() => new RingData(ring.bytes).consume(0, 16, new Collect()), /bad perf record at 0: size 24, head 16/);
});

test('the data area must be a power of two', () => {
  assert.throws(() => new RingData(new Uint8Array(48)), /power of two, got 48/);
});
