// SPDX-License-Identifier: MIT
// The tracing loop shared by tcpstates and tcplife, once attached: print the
// header, warm the read path up, read the rings on a short timer and
// whenever one passes its wakeup watermark, write each batch of rows with
// one write, report lost events, and end on stop(), a closed stdout,
// --duration or --count, leaving nothing attached.
//
// Everything it works with comes in (TracerDeps): the session (rings and
// counters), the output, the diagnostics and the timers; what it does with
// the events is the tool's pipeline (trace/pipeline.ts); the process-wide
// wiring (preflight, load, signals, SIGURG) is trace/run.ts's. So the loop
// is unit-tested over synthetic rings without root.
//
// The hot path makes no object and no string per event: a tick collects
// where the events are in the rings (EventBatch), merges the CPUs' rings
// into time order, formats each event in place through one EventView into
// one byte buffer, hands the ring space back, and writes the buffer once.

import type { TraceSession } from '../bpf/loader.js';
import { ZERO_COUNTERS, type KernelCounters } from '../decode/counters.js';
import type { TraceMode } from '../bpf/config.js';
import { EVENT_SIZE, EventView, TRANSITION_EVENT_SIZE } from '../decode/event.js';
import { EventBatch } from '../reader/batch.js';
import { renderBatch } from '../reader/render.js';
import { ByteOutput } from '../format/output.js';
import { LossReport } from './losses.js';
import type { PipelineHooks } from './pipeline.js';
import { warmUp } from './warm-up.js';
import type { Diagnostics } from '../io/diagnostics.js';
import type { Output } from '../io/output.js';

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

/** What the loop does, from the tool's options; the pipeline's hooks say
 * what becomes of the events (see trace/pipeline.ts). */
export interface TracerOptions extends PipelineHooks {
  readonly mode: TraceMode;
  /** Printed once attached; null for none. */
  readonly header: string | null;
  /** Rows are counted for --count; tcplife and tcpstates both emit one row per event. */
  readonly maxRows: number | null;
  readonly durationMs: number | null;
  /** Written to stderr once attached when there is no header to show that
   * tracing has started (--json, --summary); a default one when omitted. */
  readonly notice?: string;
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
  private readonly losses: LossReport;

  private rowsWritten = 0;
  private eventsRead = 0;
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
    const sessions = options.mode === 'sessions';
    this.losses = new LossReport(sessions, deps.diagnostics);
    this.sink = new EventBatch(sessions ? EVENT_SIZE : TRANSITION_EVENT_SIZE);
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
    // No rings (the kernel aggregates): nothing to read between the counter checks.
    if (!deps.session.reader.ringless) this.cancels.push(clock.every(READ_INTERVAL_MS, () => this.safeTick()));
    this.cancels.push(clock.every(COUNTER_CHECK_INTERVAL_MS, () => this.safeCheck()));
    try {
      if (options.header !== null) output.push(`${options.header}\n`);
      if (options.header === null) diagnostics.notice(options.notice ?? 'Tracing... Hit Ctrl-C to end.');
    } catch (error) {
      // Output.push closed the output: stop() writes nothing more to it.
      diagnostics.notice((error as Error).message);
      this.stop(1);
      return this.done;
    }
    if (options.durationMs !== null) this.stopAfter(options.durationMs);
    if (output.closed || options.maxRows === 0) this.stop(0);
    // Attached and announced: what happens from now on is in the rings (which
    // hold some hundred ms of a flood), read once the read path is warm. Done
    // here rather than before the load, so that it does not delay the header.
    if (options.warming !== undefined && !this.stopping) {
      options.warming(true);
      try {
        const { sink, out, cursor } = this;
        warmUp({ sink, out, cursor, writeRow: options.writeRow, readBytesPerRing: READ_BYTES_PER_RING });
      } finally {
        options.warming(false);
      }
    }
    return this.done;
  }

  /** --duration: stops once `durationMs` passed on the clock. */
  private stopAfter(durationMs: number): void {
    const { clock } = this.deps;
    const deadline = clock.now() + durationMs;
    const waitForDeadline = (): void => {
      const remainingMs = deadline - clock.now();
      if (remainingMs <= 0) this.stop(0);
      else this.cancels.push(clock.after(Math.min(Math.ceil(remainingMs), MAX_TIMER_MS), waitForDeadline));
    };
    waitForDeadline();
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
    const { session, output, diagnostics } = this.deps;
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
    exitCode = this.finishOutput(exitCode);
    const { losses } = this;
    const events = this.eventsCounted;
    diagnostics.notice(finalMessage(events, losses.lostInAll), finalFields(events, losses.lostInAll, losses.lastCounters));
    this.onStopped();
    this.resolveDone(exitCode);
  }

  /** At exit: the text at the end (--summary), then what stdout still owes;
   * returns the exit code, 1 if either failed. */
  private finishOutput(code: number): number {
    const { output, diagnostics } = this.deps;
    const { renderEnd } = this.options;
    let exitCode = code;
    if (renderEnd !== undefined && exitCode === 0 && !output.closed) {
      try {
        output.push(renderEnd());
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
    return exitCode;
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

  private safeCheck(): void {
    try {
      this.checkCounters();
    } catch (error) {
      this.deps.diagnostics.notice((error as Error).message);
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
      this.losses.skippedRead();
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
    let first = true;
    do {
      out.clear();
      try {
        this.rowsWritten += renderBatch(session.reader, sink, out, this.cursor, options.writeRow, this.rowsLeft(), READ_BYTES_PER_RING);
      } finally {
        this.eventsRead += sink.count;
      }
      if (first && options.tick !== undefined) this.rowsWritten += options.tick(out, this.rowsLeft(), final);
      first = false;
      this.losses.afterRead(sink);
      options.onCounts?.(this.eventsCounted, this.losses.lostForMetrics);
      if (out.length > 0) output.pushBytes(out.view());
      // More in the rings: go on unless the output cannot take it (then the
      // rest waits in the rings, as in tick()); the last read takes it all.
    } while (session.reader.truncated && !output.closed && (final || !output.backlogged));
  }

  /** Rows --count still allows. */
  private rowsLeft(): number {
    const { maxRows } = this.options;
    return maxRows === null ? Number.MAX_SAFE_INTEGER : Math.max(0, maxRows - this.rowsWritten);
  }

  private checkCounters(final = false): void {
    const { session, output } = this.deps;
    this.losses.check(session.readCounters(), { events: this.eventsRead, sink: this.sink, backlogged: output.backlogged, final });
    this.options.onCounts?.(this.eventsCounted, this.losses.lostForMetrics);
    this.options.onKernelCounters?.(this.losses.lastCounters, this.sink.undecodable);
  }

  /** Events read from the rings, or counted in the kernel's maps when it aggregates. */
  private get eventsCounted(): number {
    return this.eventsRead + this.losses.lastCounters.aggregated;
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
