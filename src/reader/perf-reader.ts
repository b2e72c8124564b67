// SPDX-License-Identifier: MIT
// Reads the per-CPU perf rings of a BPF_MAP_TYPE_PERF_EVENT_ARRAY straight
// from their mmap'd memory: no FFI call and no callback per event. The kernel
// publishes data_head after writing a record; we read it with an atomic load,
// walk the records, then release the space by storing data_tail. collect()
// and release() split the two, so that records can be formatted in place
// and their space handed back to the kernel only afterwards.

import type { MappedRing, PerfRings } from '../ffi/libbpf.js';
import { DATA_HEAD_OFFSET, DATA_TAIL_OFFSET, RingData, type RecordSink } from './ring.js';

interface RingState {
  readonly control: BigUint64Array; // the perf_event_mmap_page, as u64 words
  readonly data: RingData;
  /** Where the last collect() stopped, not yet released; -1 if none. */
  pendingTail: number;
}

const HEAD_WORD = DATA_HEAD_OFFSET / 8;
const TAIL_WORD = DATA_TAIL_OFFSET / 8;

export class PerfReader {
  private readonly states: RingState[];
  private closed = false;
  /** True when the last collect() left records in a ring (its byte limit). */
  truncated = false;
  /** The rings' perf event fds, for wakeups (rings without one are left out). */
  readonly fds: readonly number[];

  constructor(private readonly perfRings: PerfRings) {
    this.states = perfRings.rings.map((ring: MappedRing) => ({
      control: new BigUint64Array(ring.memory, 0, ring.pageSize / 8),
      data: new RingData(new Uint8Array(ring.memory, ring.pageSize, ring.dataSize)),
      pendingTail: -1,
    }));
    this.fds = perfRings.rings.flatMap((ring: MappedRing) => (ring.fd === undefined ? [] : [ring.fd]));
  }

  /** No rings: the program emits no record (in-kernel aggregation). */
  get ringless(): boolean {
    return this.states.length === 0;
  }

  /**
   * Hands every record now in the rings to `sink` without releasing their
   * space: the views given to the sink stay valid (the kernel cannot write
   * over them) until release(), which must follow before the next collect.
   * Returns how many bytes were collected. With `maxBytesPerRing`, takes
   * about that much at most from each ring (whole records) and sets
   * `truncated` if some were left, so that a caller can work through a full
   * ring in bounded steps instead of in one batch as large as the rings.
   */
  collect(sink: RecordSink, maxBytesPerRing = Number.MAX_SAFE_INTEGER): number {
    this.truncated = false;
    if (this.closed) return 0;
    let collected = 0;
    for (const state of this.states) {
      const head = Number(Atomics.load(state.control, HEAD_WORD));
      const tail = Number(state.control[TAIL_WORD]);
      if (head === tail) continue;
      state.pendingTail = state.data.consume(tail, head, sink, maxBytesPerRing);
      if (state.pendingTail < head) this.truncated = true;
      collected += state.pendingTail - tail;
    }
    return collected;
  }

  /** Gives the space of the records handed out by collect() back to the kernel. */
  release(): void {
    if (this.closed) return;
    for (const state of this.states) {
      if (state.pendingTail < 0) continue;
      Atomics.store(state.control, TAIL_WORD, BigInt(state.pendingTail));
      state.pendingTail = -1;
    }
  }

  /** Unmaps the rings. The views must not be touched afterwards, so this
   * also turns collect() and release() into no-ops. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.perfRings.free();
  }
}
