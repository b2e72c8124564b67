// SPDX-License-Identifier: MIT
// Micro-benchmark of the user-space hot path (no kernel, no root): synthetic
// events in synthetic perf rings, read, merged and formatted exactly as the
// tracer does (reader/render.ts), optionally written to /dev/null. Prints
// ns per event for the first pass (cold JIT) and once warm.
//   node dist/bench/hotpath.js [tcpstates|tcplife] [--wide] [--csv] [--write] [--passes N]

import { openSync, writeSync } from 'node:fs';
import { EVENT_SIZE, EventView, TRANSITION_EVENT_SIZE } from '../src/decode/event.js';
import { ByteOutput } from '../src/format/output.js';
import { tcplifeRenderer } from '../src/format/tcplife.js';
import { tcpstatesRenderer } from '../src/format/tcpstates.js';
import { EventBatch } from '../src/reader/batch.js';
import { PerfReader } from '../src/reader/perf-reader.js';
import { renderBatch } from '../src/reader/render.js';
import { syntheticRings } from '../src/reader/synthetic.js';

const args = process.argv.slice(2);
const tool = args.includes('tcplife') ? 'tcplife' : 'tcpstates';
const passesAt = args.indexOf('--passes');
const passes = passesAt >= 0 ? Number(args[passesAt + 1]) : 200;
const formatOptions = { wide: args.includes('--wide'), csv: args.includes('--csv'), colorizer: null, time: args.includes('-T'), timestamp: args.includes('-t'), wallClockOffsetMs: 0 };
const renderer = tool === 'tcplife' ? tcplifeRenderer(formatOptions) : tcpstatesRenderer(formatOptions);
const recordSize = tool === 'tcplife' ? EVENT_SIZE : TRANSITION_EVENT_SIZE;
// ~10 ms of a full-rate loopback flood per read, on 2 CPUs.
const rings = syntheticRings(2, 4 << 20, recordSize, 2500);
const reader = new PerfReader(rings);
const sink = new EventBatch(recordSize);
const out = new ByteOutput(1 << 20);
const cursor = new EventView();
const devNull = args.includes('--write') ? openSync('/dev/null', 'w') : -1;
const writeRow = (o: ByteOutput, event: EventView): void => renderer.writeLine(o, event);

function pass(): number {
  rings.refill();
  out.clear();
  const rows = renderBatch(reader, sink, out, cursor, writeRow, Number.MAX_SAFE_INTEGER);
  if (devNull >= 0) writeSync(devNull, out.bytes, 0, out.length);
  return rows;
}

const firstStart = process.hrtime.bigint();
let rows = pass();
const firstNs = Number(process.hrtime.bigint() - firstStart);
const warmStart = process.hrtime.bigint();
for (let i = 1; i < passes; i++) rows += pass();
const warmNs = Number(process.hrtime.bigint() - warmStart);
const perPass = rows / passes;
process.stdout.write(
  `${tool}${formatOptions.wide ? ' -w' : ''}${formatOptions.csv ? ' -s' : ''}: ${perPass} events/pass; first pass ${(firstNs / perPass).toFixed(0)} ns/event, ` +
    `then ${(warmNs / (rows - perPass)).toFixed(0)} ns/event over ${passes - 1} passes\n`,
);
