// SPDX-License-Identifier: MIT
// Synthetic perf rings for the reader's unit tests: records written the way
// the kernel writes them, so ring arithmetic can be tested without a kernel.

import { PERF_RECORD_LOST, PERF_RECORD_SAMPLE } from '../src/reader/ring.js';

/** Builds records into a ring the way the kernel does, from a free-running position. */
export class FakeRing {
  readonly bytes: Uint8Array;
  head: number;

  /** A ring of `size` bytes of its own, or over `bytes` (a data area in a larger mapping). */
  constructor(size: number | Uint8Array, start = 0) {
    this.bytes = typeof size === 'number' ? new Uint8Array(size) : size;
    this.head = start;
  }

  private put(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.bytes[(this.head + i) % this.bytes.length] = bytes[i] as number;
    this.head += bytes.length;
  }

  sample(payload: number[]): void {
    // header(8) + u32 size + payload, padded to 8
    const size = Math.ceil((8 + 4 + payload.length) / 8) * 8;
    const record = new Uint8Array(size);
    const view = new DataView(record.buffer);
    view.setUint32(0, PERF_RECORD_SAMPLE, true);
    view.setUint16(6, size, true);
    view.setUint32(8, payload.length, true);
    record.set(payload, 12);
    this.put(record);
  }

  lost(count: number): void {
    const record = new Uint8Array(24);
    const view = new DataView(record.buffer);
    view.setUint32(0, PERF_RECORD_LOST, true);
    view.setUint16(6, 24, true);
    view.setBigUint64(8, 7n, true); // id
    view.setBigUint64(16, BigInt(count), true);
    this.put(record);
  }
}
