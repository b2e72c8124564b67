// SPDX-License-Identifier: MIT
// The tracer's warm-up (cli/tracer.ts warmUp, TracerOptions.warming): the
// tool's own writeRow warms up, with its side effects
// switched off around it and nothing of it in the output or the counts;
// and RowRenderer.reset (-t starts again from the first real row).

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { ZERO_COUNTERS, type KernelCounters, type TraceSession } from '../../src/bpf/loader.js';
import { EventView, TRANSITION_EVENT_SIZE } from '../../src/decode/event.js';
import { ByteOutput } from '../../src/format/output.js';
import { tcpstatesRenderer } from '../../src/format/tcpstates.js';
import { PerfReader } from '../../src/reader/perf-reader.js';
import { syntheticRings } from '../../src/reader/synthetic.js';
import { Diagnostics } from '../../src/cli/diagnostics.js';
import { Output } from '../../src/cli/output.js';
import { Tracer, type TracerClock, type TracerOptions } from '../../src/cli/tracer.js';
import { encodeEvent } from '../support/events.js';

/** Timers that never fire: the test reads through stop()'s last read. */
const STILL_CLOCK: TracerClock = {
  now: () => 0,
  every: () => () => {},
  after: () => () => {},
  soon: () => {},
};

class FakeSession implements TraceSession {
  readonly reader: PerfReader;
  counters: KernelCounters = ZERO_COUNTERS;
  constructor(rings: ReturnType<typeof syntheticRings>) {
    this.reader = new PerfReader(rings);
  }
  readCounters(): KernelCounters {
    return this.counters;
  }
  detach(): void {}
  close(): void {
    this.reader.close();
  }
}

function run(options: Partial<TracerOptions>, writeRow: TracerOptions['writeRow']) {
  const rings = syntheticRings(2, 1 << 16, TRANSITION_EVENT_SIZE, 10);
  const session = new FakeSession(rings);
  let stdout = '';
  const output = new Output((bytes, offset, length) => {
    stdout += Buffer.from(bytes.buffer, bytes.byteOffset + offset, length).toString();
    return length;
  });
  const stderr: string[] = [];
  const tracer = new Tracer(
    { mode: 'transitions', header: 'HEADER', writeRow, maxRows: null, durationMs: null, ...options },
    { session, output, diagnostics: new Diagnostics('tcpstates', (line) => stderr.push(line)), clock: STILL_CLOCK },
  );
  return { tracer, session, stdout: () => stdout, stderr, events: rings.events };
}

test('the warm-up runs writeRow itself, between warming(true) and warming(false); none of it is shown or counted', async () => {
  const calls: boolean[] = [];
  let warming = false;
  let rowsWhileWarming = 0;
  let realRows = 0;
  const writeRow: TracerOptions['writeRow'] = (out, event) => {
    if (warming) rowsWhileWarming++;
    else realRows++;
    out.text(`${event.tsNs}\n`);
  };
  const { tracer, session, stdout, stderr, events } = run(
    {
      warming: (on) => {
        calls.push(on);
        warming = on;
      },
    },
    writeRow,
  );
  const done = tracer.start();
  assert.deepEqual(calls, [true, false]);
  assert.ok(rowsWhileWarming > 0, `warmed on ${rowsWhileWarming} synthetic events`);
  assert.equal(realRows, 0, 'no real event read yet');
  assert.equal(stdout(), 'HEADER\n', 'the warm-up rows went nowhere');
  session.counters = { ...ZERO_COUNTERS, emitted: events };
  tracer.stop(0);
  assert.equal(await done, 0);
  assert.equal(realRows, events);
  assert.equal(stdout().trimEnd().split('\n').length, 1 + events);
  assert.deepEqual(stderr, [`tcpstates: ${events} events read, 0 lost`]);
});

test('without warming, writeRow sees only the real events', async () => {
  let rows = 0;
  const { tracer, session, events } = run({}, (out) => {
    rows++;
    out.text('row\n');
  });
  const done = tracer.start();
  assert.equal(rows, 0);
  session.counters = { ...ZERO_COUNTERS, emitted: events };
  tracer.stop(0);
  await done;
  assert.equal(rows, events);
});

test('RowRenderer.reset: -t counts from the next row again', () => {
  const renderer = tcpstatesRenderer({ wide: false, csv: true, colorizer: null, time: false, timestamp: true, wallClockOffsetMs: 0 });
  const at = (seconds: number): string => {
    const out = new ByteOutput(256);
    renderer.writeLine(out, new EventView().at(encodeEvent({ tsNs: BigInt(seconds) * 1_000_000_000n }), 0));
    return Buffer.from(out.view()).toString().split(',')[0] as string;
  };
  assert.equal(at(5), '0.000000');
  assert.equal(at(7), '2.000000');
  renderer.reset();
  assert.equal(at(100), '0.000000');
  assert.equal(at(101), '1.000000');
});
