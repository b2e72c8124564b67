// SPDX-License-Identifier: MIT
// The tracing loop (trace/tracer.ts) without root: a session over synthetic
// rings and FakeRing records, a manual clock, an output into memory and
// diagnostics collected as lines. Rows, --count, --duration, loss reports,
// the emitted-vs-read check, a backlogged stdout, JSON stderr and the
// clean stop (detach, last read, close) are all checked here.

import { describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import type { TraceSession } from '../../src/bpf/loader.js';
import { ZERO_COUNTERS, type KernelCounters } from '../../src/decode/counters.js';
import { EVENT_SIZE, TRANSITION_EVENT_SIZE, type EventView } from '../../src/decode/event.js';
import type { PerfRings, MappedRing } from '../../src/ffi/libbpf.js';
import type { ByteOutput } from '../../src/format/output.js';
import { PerfReader } from '../../src/reader/perf-reader.js';
import { DATA_HEAD_OFFSET } from '../../src/reader/ring.js';
import { syntheticRings } from '../../src/reader/synthetic.js';
import { Diagnostics } from '../../src/io/diagnostics.js';
import { Output, type WriteFn } from '../../src/io/output.js';
import { COUNTER_CHECK_INTERVAL_MS, READ_INTERVAL_MS, Tracer, type TracerClock, type TracerOptions } from '../../src/trace/tracer.js';
import { FakeRing } from '../../harness/rings.js';

/** Timers run by hand: advance(ms) fires what falls due, in time order. */
class ManualClock implements TracerClock {
  private nowMs = 0;
  private nextId = 0;
  private readonly timers = new Map<number, { at: number; every: number | null; run: () => void }>();
  private readonly immediates: (() => void)[] = [];

  now(): number {
    return this.nowMs;
  }
  every(intervalMs: number, run: () => void): () => void {
    return this.add(intervalMs, intervalMs, run);
  }
  after(delayMs: number, run: () => void): () => void {
    return this.add(delayMs, null, run);
  }
  soon(run: () => void): void {
    this.immediates.push(run);
  }
  private add(delayMs: number, every: number | null, run: () => void): () => void {
    const id = this.nextId++;
    this.timers.set(id, { at: this.nowMs + delayMs, every, run });
    return () => void this.timers.delete(id);
  }
  runImmediates(): void {
    for (const run of this.immediates.splice(0)) run();
  }
  get pendingTimers(): number {
    return this.timers.size;
  }
  advance(ms: number): void {
    const end = this.nowMs + ms;
    for (;;) {
      let next: [number, { at: number; every: number | null; run: () => void }] | null = null;
      for (const entry of this.timers) if (entry[1].at <= end && (next === null || entry[1].at < next[1].at)) next = entry;
      if (next === null) break;
      const [id, timer] = next;
      this.nowMs = timer.at;
      if (timer.every === null) this.timers.delete(id);
      else timer.at += timer.every;
      timer.run();
    }
    this.nowMs = end;
  }
}

/** A session over `rings`, with counters the test sets. */
class FakeSession implements TraceSession {
  readonly reader: PerfReader;
  counters: KernelCounters = ZERO_COUNTERS;
  detached = false;
  closed = false;
  constructor(rings: PerfRings) {
    this.reader = new PerfReader(rings);
  }
  readCounters(): KernelCounters {
    return this.counters;
  }
  detach(): void {
    this.detached = true;
  }
  close(): void {
    this.detached = true;
    this.closed = true;
    this.reader.close();
  }
}

const PAGE = 4096;

/** A ring holding one PERF_RECORD_LOST of `count` events (FakeRing). */
function lostRing(index: number, count: number): MappedRing {
  const memory = new ArrayBuffer(PAGE + 4096);
  const ring = new FakeRing(new Uint8Array(memory, PAGE, 4096));
  ring.lost(count);
  new DataView(memory).setBigUint64(DATA_HEAD_OFFSET, BigInt(ring.head), true);
  return { index, memory, pageSize: PAGE, dataSize: 4096 };
}

/** Rows: the event's local port and timestamp, one per line. */
const writeRow = (out: ByteOutput, event: EventView): void => out.text(`${event.localPort} ${event.tsNs}\n`);

function harness(
  options: Partial<TracerOptions> = {},
  setup: { events?: number; lost?: number; json?: boolean; write?: WriteFn; maxPendingBytes?: number } = {},
) {
  const recordSize = options.mode === 'sessions' ? EVENT_SIZE : TRANSITION_EVENT_SIZE;
  const synthetic = syntheticRings(2, 1 << 16, recordSize, setup.events ?? 10);
  const rings: PerfRings = {
    rings: setup.lost === undefined ? synthetic.rings : [...synthetic.rings, lostRing(2, setup.lost)],
    free: () => {},
  };
  const session = new FakeSession(rings);
  let stdout = '';
  const output = new Output(
    setup.write ??
      ((bytes, offset, length) => {
        stdout += Buffer.from(bytes.buffer, bytes.byteOffset + offset, length).toString();
        return length;
      }),
    setup.maxPendingBytes,
  );
  const stderr: string[] = [];
  const diagnostics = new Diagnostics('tcpstates', (line) => stderr.push(line));
  diagnostics.configure({ json: setup.json === true, verbose: false });
  const clock = new ManualClock();
  const tracer = new Tracer(
    { mode: 'transitions', header: 'HEADER', writeRow, maxRows: null, durationMs: null, ...options },
    { session, output, diagnostics, clock },
  );
  return { tracer, session, clock, stderr, stdout: () => stdout, events: synthetic.events };
}

describe('Tracer', () => {
  test('header first, every event a row in time order, then a clean stop with the final line', async () => {
    const { tracer, session, clock, stderr, stdout, events } = harness();
    const done = tracer.start();
    assert.equal(stdout(), 'HEADER\n');
    clock.advance(READ_INTERVAL_MS);
    const lines = stdout().trimEnd().split('\n');
    assert.equal(lines.length, 1 + events);
    const times = lines.slice(1).map((line) => Number(line.split(' ')[1]));
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    session.counters = { ...ZERO_COUNTERS, emitted: events };
    tracer.stop(0);
    assert.equal(await done, 0);
    assert.ok(session.detached && session.closed, 'detached and closed');
    assert.deepEqual(stderr, [`tcpstates: ${events} events read, 0 lost`]);
    assert.equal(clock.pendingTimers, 0, 'no timer left');
  });

  test('stop reads what is left in the rings after the detach', async () => {
    const { tracer, stdout, events } = harness({ header: null });
    const done = tracer.start();
    tracer.stop(0);
    assert.equal(await done, 0);
    assert.equal(stdout().trimEnd().split('\n').length, events);
  });

  test('without a header, the notice goes to stderr (a custom one when given)', async () => {
    const plain = harness({ header: null });
    const plainDone = plain.tracer.start();
    plain.tracer.stop(0);
    await plainDone;
    assert.equal(plain.stderr[0], 'tcpstates: Tracing... Hit Ctrl-C to end.');
    const custom = harness({ header: null, notice: 'Tracing for the summary...' });
    const customDone = custom.tracer.start();
    custom.tracer.stop(0);
    await customDone;
    assert.equal(custom.stderr[0], 'tcpstates: Tracing for the summary...');
  });

  test('--count: stops by itself after maxRows rows; the rest is read, not shown', async () => {
    const { tracer, session, clock, stdout, stderr, events } = harness({ maxRows: 3 });
    const done = tracer.start();
    clock.advance(READ_INTERVAL_MS);
    assert.equal(await done, 0);
    assert.equal(stdout().trimEnd().split('\n').length, 1 + 3);
    assert.ok(session.closed);
    assert.equal(stderr.at(-1), `tcpstates: ${events} events read, 0 lost`);
  });

  test('--count 0 stops at once', async () => {
    const { tracer } = harness({ maxRows: 0 });
    assert.equal(await tracer.start(), 0);
  });

  test('--duration: stops when the clock reaches it, not before', async () => {
    const { tracer, session, clock } = harness({ durationMs: 2500 });
    const done = tracer.start();
    clock.advance(2499);
    assert.equal(tracer.stopped, false);
    clock.advance(1);
    assert.equal(tracer.stopped, true);
    assert.equal(await done, 0);
    assert.ok(session.closed);
  });

  test('a LOST record in a ring is reported at once and counted in the final line', async () => {
    const { tracer, clock, stderr, events } = harness({}, { lost: 7 });
    const done = tracer.start();
    clock.advance(READ_INTERVAL_MS);
    assert.deepEqual(stderr, ['tcpstates: lost 7 events: the perf ring was full (try a larger --buffer-pages)']);
    tracer.stop(0);
    await done;
    assert.equal(stderr.at(-1), `tcpstates: ${events} events read, 7 lost`);
  });

  test('ring LOST records and the kernel counter of refused outputs: the count ahead is the truth, not their sum', async () => {
    const { tracer, session, clock, stderr, events } = harness({ mode: 'sessions' }, { lost: 2 });
    const done = tracer.start();
    clock.advance(READ_INTERVAL_MS); // the ring's LOST record: 2
    session.counters = { ...ZERO_COUNTERS, emitted: events, outputFailed: 5 };
    clock.advance(COUNTER_CHECK_INTERVAL_MS); // the counter is ahead: 3 more
    assert.deepEqual(stderr, [
      'tcpstates: lost 2 sessions: the perf ring was full (try a larger --buffer-pages)',
      'tcpstates: lost 3 sessions: the perf ring was full (try a larger --buffer-pages)',
    ]);
    tracer.stop(0);
    await done;
    assert.equal(stderr.at(-1), `tcpstates: ${events} events read, 5 lost`);
  });

  test('emitted by the kernel but never read: reported at the check after, and at the final drain', async () => {
    const { tracer, session, clock, stderr, events } = harness();
    const done = tracer.start();
    clock.advance(READ_INTERVAL_MS);
    session.counters = { ...ZERO_COUNTERS, emitted: events + 4 };
    clock.advance(COUNTER_CHECK_INTERVAL_MS - READ_INTERVAL_MS); // first check: remembers the count
    assert.equal(stderr.length, 0);
    clock.advance(COUNTER_CHECK_INTERVAL_MS); // second: expects them read by now
    assert.deepEqual(stderr, ['tcpstates: lost 4 events: emitted by the kernel but never read']);
    session.counters = { ...ZERO_COUNTERS, emitted: events + 6 };
    tracer.stop(0);
    await done;
    assert.equal(stderr[1], 'tcpstates: lost 2 events: emitted by the kernel but never read');
    assert.equal(stderr.at(-1), `tcpstates: ${events} events read, 6 lost`);
  });

  test('skipped program runs: reported per check; for tcpstates they count as lost transitions', async () => {
    const { tracer, session, clock, stderr, events } = harness();
    const done = tracer.start();
    clock.advance(READ_INTERVAL_MS);
    session.counters = { ...ZERO_COUNTERS, emitted: events, recursionMisses: 3, transitionMisses: 2 };
    clock.advance(COUNTER_CHECK_INTERVAL_MS);
    assert.deepEqual(stderr, [
      'tcpstates: skipped 2 program runs (the program was already running on that CPU): 2 transitions not shown; the next row of each such socket has an MS spanning two states',
      'tcpstates: skipped 1 socket I/O runs (the program was already running on that CPU): an owner may be an earlier user',
    ]);
    tracer.stop(0);
    await done;
    assert.equal(stderr.at(-1), `tcpstates: ${events} events read, 2 lost`);
  });

  test('a backlogged stdout leaves the rings unread, without calling that a loss', async () => {
    let accept = false;
    let written = '';
    const write: WriteFn = (bytes, offset, length) => {
      if (!accept) throw Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' });
      written += Buffer.from(bytes.buffer, bytes.byteOffset + offset, length).toString();
      return length;
    };
    const { tracer, session, clock, stderr, events } = harness({}, { write, maxPendingBytes: 4 });
    const done = tracer.start();
    session.counters = { ...ZERO_COUNTERS, emitted: events };
    clock.advance(COUNTER_CHECK_INTERVAL_MS * 3);
    assert.equal(stderr.length, 0, 'nothing reported while stdout is stuck');
    accept = true;
    clock.advance(READ_INTERVAL_MS);
    clock.advance(READ_INTERVAL_MS);
    tracer.stop(0);
    await done;
    assert.equal(written.trimEnd().split('\n').length, 1 + events);
    assert.deepEqual(stderr, [`tcpstates: ${events} events read, 0 lost`]);
  });

  test('stdout hung up: the loop ends by itself, exit 0', async () => {
    const synthetic = syntheticRings(1, 1 << 16, TRANSITION_EVENT_SIZE, 1);
    const session = new FakeSession(synthetic);
    const clock = new ManualClock();
    let hungUp = false;
    const tracer = new Tracer(
      { mode: 'transitions', header: null, writeRow, maxRows: null, durationMs: null },
      { session, output: new Output((_bytes, _offset, length) => length), diagnostics: new Diagnostics('tcpstates', () => {}), clock, stdoutHungUp: () => hungUp },
    );
    const done = tracer.start();
    clock.advance(READ_INTERVAL_MS);
    assert.equal(tracer.stopped, false);
    hungUp = true;
    clock.advance(READ_INTERVAL_MS);
    assert.equal(await done, 0);
    assert.ok(session.closed);
  });

  test('a wakeup reads at once, once however many arrive', async () => {
    const { tracer, clock, stdout, events } = harness({ header: null });
    const done = tracer.start();
    tracer.wakeup();
    tracer.wakeup();
    assert.equal(stdout(), '');
    clock.runImmediates();
    assert.equal(stdout().trimEnd().split('\n').length, events);
    tracer.stop(0);
    await done;
  });

  test('a row writer that throws ends the run with exit 1, its message on stderr, nothing left attached', async () => {
    const { tracer, session, clock, stderr } = harness({
      writeRow: () => {
        throw new Error('boom');
      },
    });
    const done = tracer.start();
    clock.advance(READ_INTERVAL_MS);
    assert.equal(await done, 1);
    assert.ok(session.closed);
    assert.equal(stderr[0], 'tcpstates: boom');
  });

  test('--json: every stderr line is one JSON object with the tool, the message and its numbers', async () => {
    const { tracer, clock, stderr, events } = harness({ header: null }, { lost: 3, json: true });
    const done = tracer.start();
    clock.advance(READ_INTERVAL_MS);
    tracer.stop(0);
    await done;
    const records = stderr.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(records, [
      { tool: 'tcpstates', message: 'Tracing... Hit Ctrl-C to end.' },
      { tool: 'tcpstates', message: 'lost 3 events: the perf ring was full (try a larger --buffer-pages)', lost: 3 },
      { tool: 'tcpstates', message: `${events} events read, 3 lost`, events, lost: 3, output_failed: 0, recursion_misses: 0 },
    ]);
  });

  test('renderEnd is written after the last rows; onCounts hears the counts', async () => {
    const counts: [number, number][] = [];
    const { tracer, clock, stdout, events } = harness({
      header: null,
      renderEnd: () => 'SUMMARY\n',
      onCounts: (read, lost) => counts.push([read, lost]),
    });
    const done = tracer.start();
    clock.advance(READ_INTERVAL_MS);
    tracer.stop(0);
    await done;
    assert.ok(stdout().endsWith('SUMMARY\n'));
    assert.deepEqual(counts.at(-1), [events, 0]);
  });
});
