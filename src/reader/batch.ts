// SPDX-License-Identifier: MIT
// One read's worth of events, left where they are in the perf rings: the
// batch records where each event is (view, offset) and its timestamp, and
// gives the order in which to show them. Nothing is copied and no object is
// made per event; the rings' space is released only after the batch has
// been rendered (PerfReader.collect/release). Pure.

import { EVENT_SIZE, eventTsNs } from '../decode/event.js';
import type { RecordSink } from './ring.js';

/** Room for ~40 ms of a loopback flood from the start, so that the first
 * busy reads do not take the (rarely run, so slowly compiled) growth path. */
const INITIAL_EVENTS = 8192;

export class EventBatch implements RecordSink {
  /** Events in this batch. */
  count = 0;
  /** Where event i is: views[i] at offsets[i]. */
  readonly views: DataView[] = [];
  offsets = new Uint32Array(INITIAL_EVENTS);
  timestamps = new Float64Array(INITIAL_EVENTS);
  /** Samples the kernel dropped (PERF_RECORD_LOST), since the start. */
  lostInRings = 0;
  /** Samples too short to be an event, since the start. */
  undecodable = 0;
  private order = new Uint32Array(INITIAL_EVENTS);
  private spare = new Uint32Array(INITIAL_EVENTS);
  private runStarts = new Uint32Array(INITIAL_EVENTS);

  /** Empties the batch (the loss counters keep counting). */
  clear(): void {
    this.count = 0;
  }

  /** @param recordSize the bytes each of this trace's records must have:
   * TRANSITION_EVENT_SIZE for tcpstates, EVENT_SIZE for tcplife. */
  constructor(readonly recordSize: number = EVENT_SIZE) {}

  sample(view: DataView, offset: number, size: number): void {
    if (size < this.recordSize) {
      this.undecodable++;
      return;
    }
    const index = this.count;
    if (index === this.offsets.length) this.grow();
    this.views[index] = view;
    this.offsets[index] = offset;
    this.timestamps[index] = eventTsNs(view, offset);
    this.count = index + 1;
  }

  lost(count: number): void {
    this.lostInRings += count;
  }

  /**
   * Indexes of the events in time order, ties in arrival order: the same
   * order as a stable sort by timestamp. Each CPU's ring is already in time
   * order, so this merges those runs (a natural merge sort) rather than
   * sorting. Valid until the batch changes.
   */
  timeOrder(): Uint32Array {
    const count = this.count;
    const keys = this.timestamps;
    let order = this.order;
    for (let i = 0; i < count; i++) order[i] = i;
    let runs = 0;
    const starts = this.runStarts;
    for (let i = 0; i < count; i++) {
      if (i === 0 || (keys[i] as number) < (keys[i - 1] as number)) starts[runs++] = i;
    }
    let spare = this.spare;
    while (runs > 1) {
      let merged = 0;
      for (let run = 0; run < runs; run += 2) {
        const start = starts[run] as number;
        const middle = run + 1 < runs ? (starts[run + 1] as number) : count;
        const end = run + 2 < runs ? (starts[run + 2] as number) : count;
        mergeRuns(keys, order, spare, start, middle, end);
        starts[merged++] = start;
      }
      runs = merged;
      [order, spare] = [spare, order];
    }
    this.order = order;
    this.spare = spare;
    return order.subarray(0, count);
  }

  private grow(): void {
    const size = this.offsets.length * 2;
    const offsets = new Uint32Array(size);
    offsets.set(this.offsets);
    this.offsets = offsets;
    const timestamps = new Float64Array(size);
    timestamps.set(this.timestamps);
    this.timestamps = timestamps;
    this.order = new Uint32Array(size);
    this.spare = new Uint32Array(size);
    this.runStarts = new Uint32Array(size);
  }
}

/** Merges the sorted index runs [start, middle) and [middle, end) of `from`
 * into `to`, by key, taking from the left run on ties (stable). */
function mergeRuns(
  keys: Float64Array,
  from: Uint32Array,
  to: Uint32Array,
  start: number,
  middle: number,
  end: number,
): void {
  let left = start;
  let right = middle;
  let out = start;
  while (left < middle && right < end) {
    const a = from[left] as number;
    const b = from[right] as number;
    if ((keys[b] as number) < (keys[a] as number)) {
      to[out++] = b;
      right++;
    } else {
      to[out++] = a;
      left++;
    }
  }
  while (left < middle) to[out++] = from[left++] as number;
  while (right < end) to[out++] = from[right++] as number;
}
