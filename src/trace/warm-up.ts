// SPDX-License-Identifier: MIT
// The read path's warm-up: before its first real read, the tracer runs
// renderBatch with the batch, buffer, cursor and row writer it then uses
// over synthetic rings until it runs optimised, so that the first real
// events are not read by the interpreter at several microseconds each (the
// rings would fill). Costs some tens of ms of CPU, while the rings hold
// what arrives meanwhile.

import type { EventView } from '../decode/event.js';
import type { ByteOutput } from '../format/output.js';
import type { EventBatch } from '../reader/batch.js';
import { PerfReader } from '../reader/perf-reader.js';
import { renderBatch, type RowWriter } from '../reader/render.js';
import { sampleRecordBytes, syntheticRings } from '../reader/synthetic.js';

/** Passes over WARM_EVENTS_PER_RING synthetic events per ring, until two
 * passes in a row run at optimised speed, at most WARM_MAX_PASSES. Short
 * passes: until the optimised code arrives, a pass runs at several µs per
 * event, so the warm-up ends sooner after it does (under a 500,000
 * events/s load on 2 CPUs, 40 to 90 ms in place of 80 to 125 with 1000). */
const WARM_EVENTS_PER_RING = 250;
const WARM_MAX_PASSES = 64;
const WARM_FAST_NS_PER_EVENT = 1000;

/** The read path's objects, shared with the tracer's real reads. */
export interface ReadPath {
  readonly sink: EventBatch;
  readonly out: ByteOutput;
  readonly cursor: EventView;
  readonly writeRow: RowWriter;
  /** The most read from each ring in one batch. */
  readonly readBytesPerRing: number;
}

/** Warms `path` up; leaves its batch and buffer empty and its LOST count
 * as it was. */
export function warmUp(path: ReadPath): void {
  const { sink, out, cursor, writeRow } = path;
  // Rings as real ones are after a while (see reader/synthetic.ts): what
  // the warm-up leaves out costs a deoptimisation on the first real reads.
  const rings = syntheticRings(2, 256 << 10, sink.recordSize, WARM_EVENTS_PER_RING, {
    wrapped: true,
    lostRecord: true,
    wideValues: true,
  });
  const reader = new PerfReader(rings);
  const boundedReadBytes = (WARM_EVENTS_PER_RING / 2) * sampleRecordBytes(sink.recordSize);
  const lostInRings = sink.lostInRings;
  let fastPasses = 0;
  for (let pass = 0; pass < WARM_MAX_PASSES && fastPasses < 2; pass++) {
    // From pass to pass, what real reads meet: either ring's events ending
    // last (the two ends of the merge), and reads bounded below what a
    // ring holds (a full ring, read in steps).
    rings.refill(pass % 2 === 1);
    out.clear();
    const started = performance.now();
    renderBatch(reader, sink, out, cursor, writeRow, Number.MAX_SAFE_INTEGER, pass % 4 < 2 ? path.readBytesPerRing : boundedReadBytes);
    const nsPerEvent = ((performance.now() - started) * 1e6) / Math.max(sink.count, 1);
    fastPasses = nsPerEvent < WARM_FAST_NS_PER_EVENT ? fastPasses + 1 : 0;
  }
  reader.close();
  sink.clear();
  // The rings' LOST records were made up.
  sink.lostInRings = lostInRings;
  out.clear();
}
