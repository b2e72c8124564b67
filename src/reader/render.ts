// SPDX-License-Identifier: MIT
// The hot path of a read, shared by the tracer, its warm-up and the
// micro-benchmark: collect where the events are in the rings, merge the
// CPUs' rings into time order, format each event in place through one
// EventView into one byte buffer, then hand the ring space back. Pure
// apart from the rings' memory: it writes nothing anywhere.

import type { EventView } from '../decode/event.js';
import type { ByteOutput } from '../format/output.js';
import type { EventBatch } from './batch.js';
import type { PerfReader } from './perf-reader.js';

export type RowWriter = (out: ByteOutput, event: EventView) => void;

/**
 * Appends the rows of every event now in `reader`'s rings to `out`, at most
 * `maxRows` of them (the rest are read and dropped), and releases the rings'
 * space. With `maxBytesPerRing`, reads about that much at most from each
 * ring (see PerfReader.collect: `truncated` then says whether more is left). `sink` is cleared first; afterwards `sink.count` is the number of
 * events read. Returns the rows written.
 */
export function renderBatch(
  reader: PerfReader,
  sink: EventBatch,
  out: ByteOutput,
  cursor: EventView,
  writeRow: RowWriter,
  maxRows: number,
  maxBytesPerRing = Number.MAX_SAFE_INTEGER,
): number {
  sink.clear();
  let rows = 0;
  try {
    reader.collect(sink, maxBytesPerRing);
    if (sink.count > 0) {
      // Rows from different CPUs' rings interleave: show them in time order.
      const order = sink.timeOrder();
      rows = Math.min(order.length, maxRows);
      const views = sink.views;
      const offsets = sink.offsets;
      for (let i = 0; i < rows; i++) {
        const index = order[i] as number;
        writeRow(out, cursor.at(views[index] as DataView, offsets[index] as number));
      }
    }
  } finally {
    // Formatted (or failed): either way the kernel may have the space back.
    reader.release();
  }
  return rows;
}
