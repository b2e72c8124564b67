// SPDX-License-Identifier: MIT
// The tracer's warm-up (trace/warm-up.ts, TracerOptions.warming): the
// tool's own writeRow warms up, with its side effects
// switched off around it and nothing of it in the output or the counts;
// RowRenderer.reset (-t starts again from the first real row); and the
// synthetic rings laid out as real ones are after a while (wrapped records,
// positions past 2^32, a LOST record, either ring ending last).

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import type { TraceSession } from '../../src/bpf/loader.js';
import { ZERO_COUNTERS, type KernelCounters } from '../../src/decode/counters.js';
import { EventView, TRANSITION_EVENT_SIZE } from '../../src/decode/event.js';
import { ByteOutput } from '../../src/format/output.js';
import { tcpstatesRenderer } from '../../src/format/tcpstates.js';
import { EventBatch } from '../../src/reader/batch.js';
import { PerfReader } from '../../src/reader/perf-reader.js';
import { renderBatch } from '../../src/reader/render.js';
import { DATA_HEAD_OFFSET, DATA_TAIL_OFFSET } from '../../src/reader/ring.js';
import { sampleRecordBytes, syntheticRings } from '../../src/reader/synthetic.js';
import { Diagnostics } from '../../src/io/diagnostics.js';
import { Output } from '../../src/io/output.js';
import { Tracer, type TracerClock, type TracerOptions } from '../../src/trace/tracer.js';
import { encodeEvent } from '../../harness/events.js';

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
  assert.ok(rowsWhileWarming >= 2 * 250, `warmed on ${rowsWhileWarming} synthetic events`);
  assert.equal(realRows, 0, 'no real event read yet');
  assert.equal(stdout(), 'HEADER\n', 'the warm-up rows went nowhere');
  session.counters = { ...ZERO_COUNTERS, emitted: events };
  tracer.stop(0);
  assert.equal(await done, 0);
  assert.equal(realRows, events);
  assert.equal(stdout().trimEnd().split('\n').length, 1 + events);
  // The synthetic rings' LOST records are not losses.
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

test('wrapped synthetic rings: positions past 2^32, a record across the end, one LOST record each; every event once, in time order', () => {
  const dataBytes = 1 << 16;
  const rings = syntheticRings(2, dataBytes, TRANSITION_EVENT_SIZE, 250, { wrapped: true, lostRecord: true, wideValues: true });
  assert.equal(rings.events, 500);
  for (const ring of rings.rings) {
    const control = new DataView(ring.memory);
    const tail = Number(control.getBigUint64(DATA_TAIL_OFFSET, true));
    const head = Number(control.getBigUint64(DATA_HEAD_OFFSET, true));
    assert.ok(tail > 2 ** 32, `tail ${tail}`);
    assert.ok(head % dataBytes < tail % dataBytes, 'the records wrap past the end of the ring');
  }
  const read = (lastRingShort: boolean, maxBytesPerRing?: number) => {
    rings.refill(lastRingShort);
    const reader = new PerfReader(rings);
    const sink = new EventBatch(TRANSITION_EVENT_SIZE);
    const times: number[] = [];
    const pids: number[] = [];
    const deltas: number[] = [];
    do {
      renderBatch(reader, sink, new ByteOutput(64), new EventView(), (_out, event) => {
        times.push(event.tsNs);
        pids.push(event.pid);
        deltas.push(event.deltaNs);
      }, Number.MAX_SAFE_INTEGER, maxBytesPerRing);
    } while (reader.truncated);
    return { times, pids, deltas, lost: sink.lostInRings };
  };
  for (const [lastRingShort, bound] of [
    [false, undefined],
    [true, undefined],
    [false, 40 * sampleRecordBytes(TRANSITION_EVENT_SIZE)],
    [true, 40 * sampleRecordBytes(TRANSITION_EVENT_SIZE)],
  ] as const) {
    const { times, lost } = read(lastRingShort, bound);
    const expected = lastRingShort ? 499 : 500;
    assert.equal(times.length, expected, `short=${lastRingShort} bound=${bound}`);
    assert.equal(new Set(times).size, expected);
    if (bound === undefined) assert.deepEqual(times, [...times].sort((a, b) => a - b));
    assert.equal(lost, 2);
  }
  // wideValues: PIDs of 1 to 7 digits, times in the old state past 2^32 ns.
  const { pids, deltas } = read(false);
  assert.ok(Math.min(...pids) < 10 && Math.max(...pids) >= 1_000_000, `pids ${Math.min(...pids)}..${Math.max(...pids)}`);
  assert.ok(Math.max(...deltas) > 2 ** 32, `deltas up to ${Math.max(...deltas)}`);
  // Short: the first ring's events end last in time, else the last ring's.
  const whole = read(false).times;
  const short = read(true).times;
  assert.equal(short.at(-1), whole.at(-2));
});
