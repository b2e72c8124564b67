// SPDX-License-Identifier: MIT
// Reads the per-CPU perf rings of a BPF_MAP_TYPE_PERF_EVENT_ARRAY straight
// from their mmap'd memory: no FFI call and no callback per event. The kernel
// publishes data_head after writing a record; we read it with an atomic load,
// walk the records, then release the space by storing data_tail.

import type { MappedRing, PerfRings } from '../ffi/libbpf.js';
import { DATA_HEAD_OFFSET, DATA_TAIL_OFFSET, RingData, type RecordSink } from './ring.js';

interface RingState {
  readonly control: BigUint64Array; // the perf_event_mmap_page, as u64 words
  readonly data: RingData;
}

const HEAD_WORD = DATA_HEAD_OFFSET / 8;
const TAIL_WORD = DATA_TAIL_OFFSET / 8;

export class PerfReader {
  private readonly states: RingState[];
  private closed = false;

  constructor(private readonly perfRings: PerfRings) {
    this.states = perfRings.rings.map((ring: MappedRing) => ({
      control: new BigUint64Array(ring.memory, 0, ring.pageSize / 8),
      data: new RingData(new Uint8Array(ring.memory, ring.pageSize, ring.dataSize)),
    }));
  }

  /** Hands every record now in the rings to `sink`; returns how many bytes
   * were consumed (0 when the rings were empty). */
  drain(sink: RecordSink): number {
    if (this.closed) return 0;
    let consumed = 0;
    for (const { control, data } of this.states) {
      const head = Number(Atomics.load(control, HEAD_WORD));
      const tail = Number(control[TAIL_WORD]);
      if (head === tail) continue;
      const newTail = data.consume(tail, head, sink);
      Atomics.store(control, TAIL_WORD, BigInt(newTail));
      consumed += newTail - tail;
    }
    return consumed;
  }

  /** Unmaps the rings. The views must not be touched afterwards, so this
   * also turns drain() into a no-op. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.perfRings.free();
  }
}
