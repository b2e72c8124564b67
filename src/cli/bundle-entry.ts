// SPDX-License-Identifier: MIT
// The entry point of the one-file bundle (scripts/bundle.mjs, loaded by
// cli/launch.cts): both tools, and `prime`, which the build runs before it
// saves V8's code cache so that the cache also holds the functions that
// start-up and the read path call, not only the top level.

import { EventView, TRANSITION_EVENT_SIZE } from '../decode/event.js';
import { ByteOutput } from '../format/output.js';
import { tcplifeRenderer } from '../format/tcplife.js';
import { tcpstatesRenderer } from '../format/tcpstates.js';
import { EventBatch } from '../reader/batch.js';
import { PerfReader } from '../reader/perf-reader.js';
import { renderBatch } from '../reader/render.js';
import { syntheticRings } from '../reader/synthetic.js';
import { TextRows } from '../trace/consumers.js';
import { Pipeline } from '../trace/pipeline.js';
import { parseTcplifeArgs } from './tcplife.js';
import { parseTcpstatesArgs } from './tcpstates.js';

export { runMain } from './main.js';
export { main as tcpstates } from './tcpstates.js';
export { main as tcplife } from './tcplife.js';

/** Runs what a default start runs, without the kernel: option parsing and
 * a few rows through the read path and the pipeline. Prints nothing. */
export function prime(): void {
  parseTcpstatesArgs([]);
  parseTcplifeArgs([]);
  const layout = { wide: false, csv: false, colorizer: null, time: false, timestamp: false, wallClockOffsetMs: 0 };
  const tcpstates = tcpstatesRenderer(layout);
  tcpstates.header();
  tcplifeRenderer(layout).header();
  const rings = syntheticRings(2, 1 << 16, TRANSITION_EVENT_SIZE, 64);
  const pipeline = new Pipeline([new TextRows(tcpstates, null)]);
  const out = new ByteOutput(1 << 16);
  renderBatch(new PerfReader(rings), new EventBatch(TRANSITION_EVENT_SIZE), out, new EventView(), pipeline.writeRow, Number.MAX_SAFE_INTEGER);
  pipeline.tick(out, Number.MAX_SAFE_INTEGER, false);
}
