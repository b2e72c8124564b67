// SPDX-License-Identifier: MIT
// The tracing loop shared by tcpstates and tcplife, once attached: print the
// header, warm the read path up, read the rings on a short timer and
// whenever one passes its wakeup watermark, write each batch of rows with
// one write, report lost events, and end on stop(), a closed stdout,
// --duration or --count, leaving nothing attached.
//
// Everything it works with comes in (TracerDeps): the session (rings and
// counters), the output, the diagnostics and the timers; the process-wide
// wiring (preflight, load, signals, SIGURG) is cli/run.ts's. So the loop is
// unit-tested over synthetic rings without root.
//
// The hot path makes no object and no string per event: a tick collects
// where the events are in the rings (EventBatch), merges the CPUs' rings
// into time order, formats each event in place through one EventView into
// one byte buffer, hands the ring space back, and writes the buffer once.

import { ZERO_COUNTERS, type KernelCounters, type TraceSession } from '../bpf/loader.js';
import type { TraceMode } from '../bpf/config.js';
import { EVENT_SIZE, EventView, TRANSITION_EVENT_SIZE } from '../decode/event.js';
import { EventBatch } from '../reader/batch.js';
import { PerfReader } from '../reader/perf-reader.js';
import { renderBatch, type RowWriter } from '../reader/render.js';
import { sampleRecordBytes, syntheticRings } from '../reader/synthetic.js';
import { ByteOutput } from '../format/output.js';
import type { Diagnostics } from './diagnostics.js';
import type { Output } from './output.js';

/** How often the rings are read. Rows show within this of the event; the
 * rings (--buffer-pages) must hold this much traffic and more. */
export const READ_INTERVAL_MS = 10;
/** The most read from each ring in one batch: a full ring (after a stall)
 * is read in several batches, so that the rows of one batch fit the 1 MiB
 * output buffer instead of growing it (and the peak RSS) to the rings' size. */
export const READ_BYTES_PER_RING = 256 << 10;
/** How often the kernel-side counters are checked for loss. */
export const COUNTER_CHECK_INTERVAL_MS = 1000;
/** At exit, how long output that the reader is not taking may hold us up. */
export const EXIT_FLUSH_TIMEOUT_MS = 1000;
/** setTimeout's largest delay; longer --duration values are waited in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Warm-up: passes over WARM_EVENTS_PER_RING synthetic events per ring,
 * until two passes in a row run at optimised speed, at most WARM_MAX_PASSES.
 * Short passes: until the optimised code arrives, a pass runs at several
 * µs per event, so the warm-up ends sooner after it does (under a 500,000
 * events/s load on 2 CPUs, 40 to 90 ms in place of 80 to 125 with 1000). */
const WARM_EVENTS_PER_RING = 250;
const WARM_MAX_PASSES = 64;
const WARM_FAST_NS_PER_EVENT = 1000;

/** What the loop does, from the tool's options. */
export interface TracerOptions {
  readonly mode: TraceMode;
  /** Printed once attached; null for none. */
  readonly header: string | null;
  /** Appends one event's row and its newline to `out`. `event` looks at the
   * ring in place: it is only valid during the call. */
  readonly writeRow: RowWriter;
  /** Before its first read, the tracer runs the read path, writeRow
   * included, over synthetic events until the JIT has optimised it, so that
   * a tracer started into a flood keeps up from the first event. It is
   * writeRow itself that warms up, because the JIT optimises functions, not
   * code: a second writer made the same way has its own compiled row writer
   * and call targets, and those were compiled again on the first real
   * events, at several microseconds per event while the rings filled, and
   * with some MB of compiler memory on top of the warm-up's. Around the
   * warm-up the tracer calls warming(true) and warming(false): meanwhile
   * writeRow must have no effect but its rows (the tracer drops them), so
   * the tool points its side effects (journal, summary, metrics) elsewhere
   * (objects of the same classes, so that the same code runs) and, after,
   * resets what the rows remember (-t's first row). Omitted: no warm-up. */
  readonly warming?: (on: boolean) => void;
  /** Rows are counted for --count; tcplife and tcpstates both emit one row per event. */
  readonly maxRows: number | null;
  readonly durationMs: number | null;
  /** Written to stderr once attached when there is no header to show that
   * tracing has started (--json, --summary); a default one when omitted. */
  readonly notice?: string;
  /** Rendered at exit after the last batch and written to stdout (the
   * tcpstates --summary table). */
  readonly renderEnd?: () => string;
  /** Told the events read and lost so far (as the final line counts them)
   * after each read and counter check: the --metrics counters. */
  readonly onCounts?: (events: number, lost: number) => void;
  /** Told the kernel's counters and the undecodable samples at each counter
   * check (once a second and at exit), as the stderr lines report them. */
  readonly onKernelCounters?: (counters: KernelCounters, undecodable: number) => void;
}

/** The timers the loop runs on; each returns its cancel function. */
export interface TracerClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  every(intervalMs: number, run: () => void): () => void;
  after(delayMs: number, run: () => void): () => void;
  /** Runs `run` once the current callbacks are done (setImmediate). */
  soon(run: () => void): void;
}

export const SYSTEM_CLOCK: TracerClock = {
  now: () => performance.now(),
  every: (intervalMs, run) => {
    const timer = setInterval(run, intervalMs);
    return () => clearInterval(timer);
  },
  after: (delayMs, run) => {
    const timer = setTimeout(run, delayMs);
    return () => clearTimeout(timer);
  },
  soon: (run) => void setImmediate(run),
};

export interface TracerDeps {
  /** Loaded and attached; the tracer detaches and closes it when it stops. */
  readonly session: TraceSession;
  /** Where the rows go (stdout). */
  readonly output: Output;
  readonly diagnostics: Diagnostics;
  readonly clock: TracerClock;
  /** True when the reader of stdout has hung up (a pipe whose reader
   * exited without a write to find it out); omitted: never asked. */
  readonly stdoutHungUp?: () => boolean;
}

export class Tracer {
  private readonly sink: EventBatch;
  /** 1 MiB: a read's rows at full loopback rate fit without growing. */
  private readonly out = new ByteOutput(1 << 20);
  private readonly cursor = new EventView();
  private readonly sessions: boolean;
  private readonly unit: string;

  private rowsWritten = 0;
  private eventsRead = 0;
  private lostReported = 0;
  private undecodableReported = 0;
  private lastCounters: KernelCounters = ZERO_COUNTERS;
  /** Events the kernel emitted that never reached us, reported so far. */
  private unreadReported = 0;
  /** The kernel's emitted count one check ago: all of those should have
   * been read by now (the rings are read every READ_INTERVAL_MS). */
  private emittedAtLastCheck = 0;
  /** A tick left the rings unread since the last check (stdout backlogged). */
  private readSkipped = false;
  private stopping = false;
  private wakeupPending = false;
  private readonly cancels: (() => void)[] = [];
  private resolveDone: (code: number) => void = () => {};
  /** Resolves with the exit code once stopped. */
  readonly done: Promise<number>;
  /** Called once stopped, before `done` resolves (run.ts releases its signal handlers). */
  onStopped: () => void = () => {};

  constructor(
    private readonly options: TracerOptions,
    private readonly deps: TracerDeps,
  ) {
    this.sessions = options.mode === 'sessions';
    this.unit = this.sessions ? 'sessions' : 'events';
    this.sink = new EventBatch(this.sessions ? EVENT_SIZE : TRANSITION_EVENT_SIZE);
    this.done = new Promise<number>((resolve) => (this.resolveDone = resolve));
  }

  get stopped(): boolean {
    return this.stopping;
  }

  /** Starts the timers, announces the start (header or notice) and warms
   * the read path up; returns `done`. */
  start(): Promise<number> {
    const { options, deps } = this;
    const { clock, output, diagnostics } = deps;
    this.cancels.push(clock.every(READ_INTERVAL_MS, () => this.safeTick()));
    this.cancels.push(
      clock.every(COUNTER_CHECK_INTERVAL_MS, () => {
        try {
          this.checkCounters();
        } catch (error) {
          diagnostics.notice((error as Error).message);
        }
      }),
    );
    try {
      if (options.header !== null) output.push(`${options.header}\n`);
      if (options.header === null) diagnostics.notice(options.notice ?? 'Tracing... Hit Ctrl-C to end.');
    } catch (error) {
      // Output.push closed the output: stop() writes nothing more to it.
      diagnostics.notice((error as Error).message);
      this.stop(1);
      return this.done;
    }
    if (options.durationMs !== null) {
      const deadline = clock.now() + options.durationMs;
      const waitForDeadline = (): void => {
        const remainingMs = deadline - clock.now();
        if (remainingMs <= 0) this.stop(0);
        else this.cancels.push(clock.after(Math.min(Math.ceil(remainingMs), MAX_TIMER_MS), waitForDeadline));
      };
      waitForDeadline();
    }
    if (output.closed || options.maxRows === 0) this.stop(0);
    // Attached and announced: what happens from now on is in the rings (which
    // hold some hundred ms of a flood), read once the read path is warm. Done
    // here rather than before the load, so that it does not delay the header.
    if (options.warming !== undefined && !this.stopping) {
      options.warming(true);
      try {
        this.warmUp(options.writeRow);
      } finally {
        options.warming(false);
      }
    }
    return this.done;
  }

  /** A ring passed its wakeup watermark: read now rather than at the next tick. */
  wakeup(): void {
    if (this.wakeupPending || this.stopping) return;
    this.wakeupPending = true;
    this.deps.clock.soon(() => {
      this.wakeupPending = false;
      this.safeTick();
    });
  }

  /** Ends the run: detach, read what is left, report, close; idempotent. */
  stop(code: number): void {
    if (this.stopping) return;
    this.stopping = true;
    const { options, deps } = this;
    const { session, output, diagnostics } = deps;
    for (const cancel of this.cancels.splice(0)) cancel();
    let exitCode = code;
    try {
      // Detach first, then read what the kernel already handed over: after
      // the detach nothing new arrives, so this last read misses nothing.
      session.detach();
      const drained = code === 0 && !output.closed;
      if (drained) this.readBatch(true);
      // Only after a full drain is every emitted event expected to be read.
      this.checkCounters(drained);
    } catch (error) {
      diagnostics.notice((error as Error).message);
      exitCode = 1;
    } finally {
      session.close();
    }
    if (options.renderEnd !== undefined && exitCode === 0 && !output.closed) {
      try {
        output.push(options.renderEnd());
      } catch (error) {
        diagnostics.notice((error as Error).message);
        exitCode = 1;
      }
    }
    let unwritten = 0;
    try {
      unwritten = output.drain(EXIT_FLUSH_TIMEOUT_MS);
    } catch (error) {
      diagnostics.notice((error as Error).message);
      exitCode = 1;
    }
    if (unwritten > 0) diagnostics.notice(`stdout is not being read: dropped the last ${unwritten} bytes of output`, { unwritten });
    // Skipped program runs are reported on their own line: for tcplife they
    // are not sessions (a skipped run is mostly not a CLOSE).
    const counters = this.lastCounters;
    const lost = this.lostReported + this.unreadReported + (this.sessions ? 0 : counters.transitionMisses);
    diagnostics.notice(finalMessage(this.eventsRead, lost), finalFields(this.eventsRead, lost, counters));
    this.onStopped();
    this.resolveDone(exitCode);
  }

  private safeTick(): void {
    if (this.stopping) return;
    try {
      if (!this.tick()) this.stop(0);
    } catch (error) {
      this.deps.diagnostics.notice((error as Error).message);
      this.stop(1);
    }
  }

  /** One timer tick; false once the run is over (output gone, --count reached). */
  private tick(): boolean {
    const { output, stdoutHungUp } = this.deps;
    output.flush();
    if (!output.closed && stdoutHungUp !== undefined && stdoutHungUp()) output.close();
    if (output.closed) return false;
    // A slow reader: leave the records in the rings. If they fill, the
    // kernel drops new events and counts them, and we report that count.
    if (output.backlogged) {
      this.readSkipped = true;
      return true;
    }
    this.readBatch(false);
    return !output.closed && (this.options.maxRows === null || this.rowsWritten < this.options.maxRows);
  }

  /** Reads the rings into rows for the output: each event is formatted in
   * place in its ring through one EventView, then the space is released. */
  private readBatch(final: boolean): void {
    const { options, sink, out } = this;
    const { session, output } = this.deps;
    do {
      out.clear();
      const maxRows = options.maxRows === null ? Number.MAX_SAFE_INTEGER : Math.max(0, options.maxRows - this.rowsWritten);
      try {
        this.rowsWritten += renderBatch(session.reader, sink, out, this.cursor, options.writeRow, maxRows, READ_BYTES_PER_RING);
      } finally {
        this.eventsRead += sink.count;
      }
      this.reportLoss();
      options.onCounts?.(this.eventsRead, this.lostReported + this.lastCounters.recursionMisses);
      if (out.length > 0) output.pushBytes(out.view());
      // More in the rings: go on unless the output cannot take it (then the
      // rest waits in the rings, as in tick()); the last read takes it all.
    } while (session.reader.truncated && !output.closed && (final || !output.backlogged));
  }

  /** Reports losses not reported yet. The kernel counts a refused output at
   * once; the ring's LOST record only comes with the next event that fits,
   * so whichever count is ahead is the truth. */
  private reportLoss(): void {
    const { sink } = this;
    const { diagnostics } = this.deps;
    const lostSoFar = Math.max(sink.lostInRings, this.lastCounters.outputFailed);
    if (lostSoFar > this.lostReported) {
      const lost = lostSoFar - this.lostReported;
      diagnostics.notice(`lost ${lost} ${this.unit}: the perf ring was full (try a larger --buffer-pages)`, { lost });
      this.lostReported = lostSoFar;
    }
    if (sink.undecodable > this.undecodableReported) {
      const undecodable = sink.undecodable - this.undecodableReported;
      diagnostics.notice(`skipped ${undecodable} samples too short to decode`, { undecodable });
      this.undecodableReported = sink.undecodable;
    }
  }

  /** Compares what the kernel emitted up to `emittedBy` with what was
   * read: the difference never reached us (beyond the ring losses, which
   * the kernel does not count as emitted). */
  private reportUnread(emittedBy: number): void {
    const unread = emittedBy - this.eventsRead - this.sink.undecodable - this.unreadReported;
    if (unread > 0) {
      this.deps.diagnostics.notice(`lost ${unread} ${this.unit}: emitted by the kernel but never read`, { lost: unread });
      this.unreadReported += unread;
    }
  }

  private checkCounters(final = false): void {
    const { session, output, diagnostics } = this.deps;
    const last = this.lastCounters;
    const counters = session.readCounters();
    const missed = counters.transitionMisses - last.transitionMisses;
    if (missed > 0) {
      const affects = this.sessions
        ? `up to ${missed} sessions may be missing or have an unknown start`
        : `${missed} transitions not shown; the next row of each such socket has an MS spanning two states`;
      diagnostics.notice(`skipped ${missed} program runs (the program was already running on that CPU): ${affects}`, { missed });
    }
    const ownerMissed = counters.recursionMisses - counters.transitionMisses - (last.recursionMisses - last.transitionMisses);
    if (ownerMissed > 0) {
      diagnostics.notice(`skipped ${ownerMissed} socket I/O runs (the program was already running on that CPU): an owner may be an earlier user`, {
        missed: ownerMissed,
      });
    }
    const untracked = counters.trackingFailed - last.trackingFailed;
    if (untracked > 0) {
      diagnostics.notice(`could not track ${untracked} sockets (no memory for socket storage): their next rows restart as if first seen`, { untracked });
    }
    const listenersRefused = counters.listenerFailed - last.listenerFailed;
    if (listenersRefused > 0) {
      diagnostics.notice(
        `could not remember ${listenersRefused} listening ports (map full): children reset before accept() there may name the wrong owner`,
        { untracked: listenersRefused },
      );
    }
    // Once per second; not while stdout is backlogged (then the rings are
    // left unread on purpose).
    if (final) this.reportUnread(counters.emitted);
    else if (!this.readSkipped && !output.backlogged) this.reportUnread(this.emittedAtLastCheck);
    this.readSkipped = false;
    this.emittedAtLastCheck = counters.emitted;
    this.lastCounters = counters;
    this.options.onKernelCounters?.(counters, this.sink.undecodable);
    this.reportLoss();
    this.options.onCounts?.(this.eventsRead, this.lostReported + this.lastCounters.recursionMisses);
  }

  /**
   * Runs the read path (renderBatch with the same batch, buffer, cursor and
   * row writer the tracer then uses) over synthetic rings until it runs
   * optimised, so that the first real events are not read by the
   * interpreter at several microseconds each (the rings would fill). Costs
   * some tens of ms of CPU, while the rings hold what arrives meanwhile.
   */
  private warmUp(writeRow: RowWriter): void {
    const { sink, out, cursor } = this;
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
      renderBatch(reader, sink, out, cursor, writeRow, Number.MAX_SAFE_INTEGER, pass % 4 < 2 ? READ_BYTES_PER_RING : boundedReadBytes);
      const nsPerEvent = ((performance.now() - started) * 1e6) / Math.max(sink.count, 1);
      fastPasses = nsPerEvent < WARM_FAST_NS_PER_EVENT ? fastPasses + 1 : 0;
    }
    reader.close();
    sink.clear();
    // The rings' LOST records were made up.
    sink.lostInRings = lostInRings;
    out.clear();
  }
}

/** The line every run ends with on stderr: "N events read, M lost". */
export function finalMessage(events: number, lost: number): string {
  return `${events} events read, ${lost} lost`;
}

function finalFields(events: number, lost: number, counters: KernelCounters): Record<string, number> {
  return { events, lost, output_failed: counters.outputFailed, recursion_misses: counters.recursionMisses };
}

/** The final line's fields when nothing ran (stopped while starting). */
export const NOTHING_READ_FIELDS = finalFields(0, 0, ZERO_COUNTERS);
