// SPDX-License-Identifier: MIT
// The tracing loop shared by tcpstates and tcplife: attach, print the header,
// warm the read path up, read the rings on a short timer and whenever one
// passes its wakeup watermark, write each batch of rows with one write,
// report lost events, and end cleanly on SIGINT/SIGTERM/SIGHUP, a closed
// stdout, --duration or --count, leaving nothing attached.
//
// The hot path makes no object and no string per event: a tick collects
// where the events are in the rings (EventBatch), merges the CPUs' rings
// into time order, formats each event in place through one EventView into
// one byte buffer, hands the ring space back, and writes the buffer once.

import { fstatSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import { openTrace, ZERO_COUNTERS, type KernelCounters, type TraceSession } from '../bpf/loader.js';
import type { TraceConfig } from '../bpf/config.js';
import { checkPrivileges, checkKernel, checkKernelVersion } from '../bpf/preflight.js';
import { EVENT_SIZE, EventView, TRANSITION_EVENT_SIZE } from '../decode/event.js';
import { bindLibbpf, isHungUp, signalOnWakeup } from '../ffi/libbpf.js';
import { EventBatch } from '../reader/batch.js';
import { PerfReader } from '../reader/perf-reader.js';
import { renderBatch, type RowWriter } from '../reader/render.js';
import { syntheticRings } from '../reader/synthetic.js';
import { ByteOutput } from '../format/output.js';
import { Output } from './output.js';
import { earlyStopSignal } from './signals.js';

/** How often the rings are read. Rows show within this of the event; the
 * rings (--buffer-pages) must hold this much traffic and more. */
export const READ_INTERVAL_MS = 10;
/** The most read from each ring in one batch: a full ring (after a stall)
 * is read in several batches, so that the rows of one batch fit the 1 MiB
 * output buffer instead of growing it (and the peak RSS) to the rings' size. */
const READ_BYTES_PER_RING = 256 << 10;
/** How often the kernel-side counters are checked for loss. */
const COUNTER_CHECK_INTERVAL_MS = 1000;
/** At exit, how long output that the reader is not taking may hold us up. */
export const EXIT_FLUSH_TIMEOUT_MS = 1000;
/** setTimeout's largest delay; longer --duration values are waited in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** The signal the kernel sends when a ring passes its wakeup watermark
 * (ffi/libbpf.ts signalOnWakeup). SIGURG because its default action is to
 * do nothing: one arriving while no handler is installed is harmless. */
const WAKEUP_SIGNAL = 'SIGURG';
/** Warm-up: passes over WARM_EVENTS_PER_RING synthetic events per ring,
 * until two passes in a row run at optimised speed, at most WARM_MAX_PASSES. */
const WARM_EVENTS_PER_RING = 1000;
const WARM_MAX_PASSES = 16;
const WARM_FAST_NS_PER_EVENT = 1000;

export interface RunOptions {
  readonly tool: string;
  readonly config: TraceConfig;
  /** Printed once attached; null for none. */
  readonly header: string | null;
  /** Appends one event's row and its newline to `out`. `event` looks at the
   * ring in place: it is only valid during the call. */
  readonly writeRow: (out: ByteOutput, event: EventView) => void;
  /** A writer made the same way as writeRow but without its side effects
   * (no journal, no summary, state of its own). Before its first read, the
   * tracer runs the read path with it over synthetic events until the JIT
   * has optimised it, so that a tracer started into a flood keeps up from
   * the first event. Omitted: no warm-up. */
  readonly warmRow?: RowWriter;
  /** Rows are counted for --count; tcplife and tcpstates both emit one row per event. */
  readonly maxRows: number | null;
  readonly durationMs: number | null;
  readonly verbose: boolean;
  /** Formats a diagnostic for stderr (plain text or JSON). */
  readonly diagnostic?: (message: string, fields: Record<string, number>) => string;
  /** Written to stderr (through `diagnostic`) once attached when there is
   * no header to show that tracing has started (--json, --summary); a
   * default one is written when omitted. */
  readonly notice?: string;
  /** Rendered at exit after the last batch and written to stdout (the
   * tcpstates --summary table). */
  readonly renderEnd?: () => string;
  /** Told the events read and lost so far (as the final line counts them)
   * after each read and counter check: the --metrics counters. */
  readonly onCounts?: (events: number, lost: number) => void;
}

/** True when fd 1 is a pipe or socket, whose reader can go away. */
function stdoutCanHangUp(): boolean {
  try {
    const stat = fstatSync(1);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return false;
  }
}

/** One diagnostic line on stderr; never throws (stderr may be gone too). */
export function writeErr(text: string): void {
  try {
    writeSync(2, text.endsWith('\n') ? text : `${text}\n`);
  } catch {
    // stderr is gone too: nothing left to tell.
  }
}

/** The line every run ends with on stderr: "N events read, M lost". */
function finalLine(
  diagnostic: (message: string, fields: Record<string, number>) => string,
  events: number,
  lost: number,
  outputFailed: number,
  recursionMisses: number,
): string {
  return diagnostic(`${events} events read, ${lost} lost`, { events, lost, output_failed: outputFailed, recursion_misses: recursionMisses });
}

/**
 * Runs until stopped; resolves with the exit code. Errors before the header
 * (preflight, load, attach) are thrown for the CLI to report.
 */
export async function runTracer(options: RunOptions): Promise<number> {
  const { tool } = options;
  const diagnostic = options.diagnostic ?? ((message: string) => `${tool}: ${message}`);

  // Taken first, so that a Ctrl-C during the (synchronous) load is handled
  // once it is done, as a clean stop, instead of killing the process.
  let stop: (code: number) => void = () => {};
  const onSignal = (): void => stop(0);
  for (const signal of SIGNALS) process.on(signal, onSignal);
  const releaseSignals = (): void => {
    for (const signal of SIGNALS) process.removeListener(signal, onSignal);
  };

  // Stopped while starting (Ctrl-C during module loading): end as any stop
  // does, without loading anything.
  if (earlyStopSignal() !== null) {
    releaseSignals();
    writeErr(finalLine(diagnostic, 0, 0, 0, 0));
    return 0;
  }
  const sink = new EventBatch(options.config.mode === 'sessions' ? EVENT_SIZE : TRANSITION_EVENT_SIZE);
  // 1 MiB: a read's rows at full loopback rate fit without growing.
  const out = new ByteOutput(1 << 20);
  const cursor = new EventView();

  let session: TraceSession;
  try {
    checkKernel();
    checkKernelVersion();
    checkPrivileges(tool);
    const libbpf = bindLibbpf();
    session = openTrace(libbpf, options.config, {
      ...(options.verbose ? { onLibbpfMessage: (line: string) => writeErr(line) } : {}),
    });
  } catch (error) {
    releaseSignals();
    throw error;
  }

  // Creating process.stdout puts a pipe or socket on fd 1 in non-blocking
  // mode (libuv does): a reader that stops reading then makes writes fail
  // with EAGAIN instead of blocking the event loop, and with it the signals.
  void process.stdout;
  const output = new Output();
  const watchHangUp = stdoutCanHangUp();

  let rowsWritten = 0;
  let eventsRead = 0;
  let lostReported = 0;
  let undecodableReported = 0;
  let lastCounters: KernelCounters = ZERO_COUNTERS;
  const sessions = options.config.mode === 'sessions';
  const unit = sessions ? 'sessions' : 'events';
  /** Events the kernel emitted that never reached us, reported so far. */
  let unreadReported = 0;
  /** The kernel's emitted count one check ago: all of those should have
   * been read by now (the rings are read every READ_INTERVAL_MS). */
  let emittedAtLastCheck = 0;
  /** A tick left the rings unread since the last check (stdout backlogged). */
  let readSkipped = false;
  let stopping = false;
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (resolveDone = resolve));

  /** Reports losses not reported yet. The kernel counts a refused output at
   * once; the ring's LOST record only comes with the next event that fits,
   * so whichever count is ahead is the truth. */
  const reportLoss = (): void => {
    const lostSoFar = Math.max(sink.lostInRings, lastCounters.outputFailed);
    if (lostSoFar > lostReported) {
      const lost = lostSoFar - lostReported;
      writeErr(diagnostic(`lost ${lost} ${unit}: the perf ring was full (try a larger --buffer-pages)`, { lost }));
      lostReported = lostSoFar;
    }
    if (sink.undecodable > undecodableReported) {
      const undecodable = sink.undecodable - undecodableReported;
      writeErr(diagnostic(`skipped ${undecodable} samples too short to decode`, { undecodable }));
      undecodableReported = sink.undecodable;
    }
  };

  /** Compares what the kernel emitted up to `emittedBy` with what was
   * read: the difference never reached us (beyond the ring losses, which
   * the kernel does not count as emitted). */
  const reportUnread = (emittedBy: number): void => {
    const unread = emittedBy - eventsRead - sink.undecodable - unreadReported;
    if (unread > 0) {
      writeErr(diagnostic(`lost ${unread} ${unit}: emitted by the kernel but never read`, { lost: unread }));
      unreadReported += unread;
    }
  };

  const checkCounters = (final = false): void => {
    const counters = session.readCounters();
    const missed = counters.transitionMisses - lastCounters.transitionMisses;
    if (missed > 0) {
      const affects = sessions
        ? `up to ${missed} sessions may be missing or have an unknown start`
        : `${missed} transitions not shown; the next row of each such socket has an MS spanning two states`;
      writeErr(diagnostic(`skipped ${missed} program runs (the program was already running on that CPU): ${affects}`, { missed }));
    }
    const ownerMissed = counters.recursionMisses - counters.transitionMisses - (lastCounters.recursionMisses - lastCounters.transitionMisses);
    if (ownerMissed > 0) {
      writeErr(diagnostic(`skipped ${ownerMissed} socket I/O runs (the program was already running on that CPU): an owner may be an earlier user`, { missed: ownerMissed }));
    }
    const untracked = counters.trackingFailed - lastCounters.trackingFailed;
    if (untracked > 0) {
      writeErr(diagnostic(`could not track ${untracked} sockets (no memory for socket storage): their next rows restart as if first seen`, { untracked }));
    }
    const listenersRefused = counters.listenerFailed - lastCounters.listenerFailed;
    if (listenersRefused > 0) {
      writeErr(diagnostic(`could not remember ${listenersRefused} listening ports (map full): children reset before accept() there may name the wrong owner`, { untracked: listenersRefused }));
    }
    // Once per second; not while stdout is backlogged (then the rings are
    // left unread on purpose).
    if (final) reportUnread(counters.emitted);
    else if (!readSkipped && !output.backlogged) reportUnread(emittedAtLastCheck);
    readSkipped = false;
    emittedAtLastCheck = counters.emitted;
    lastCounters = counters;
    reportLoss();
    options.onCounts?.(eventsRead, lostReported + lastCounters.recursionMisses);
  };

  /** Reads the rings into rows for the output: each event is formatted in
   * place in its ring through one EventView, then the space is released. */
  const readBatch = (final: boolean): void => {
    do {
      out.clear();
      const maxRows = options.maxRows === null ? Number.MAX_SAFE_INTEGER : Math.max(0, options.maxRows - rowsWritten);
      try {
        rowsWritten += renderBatch(session.reader, sink, out, cursor, options.writeRow, maxRows, READ_BYTES_PER_RING);
      } finally {
        eventsRead += sink.count;
      }
      reportLoss();
      options.onCounts?.(eventsRead, lostReported + lastCounters.recursionMisses);
      if (out.length > 0) output.pushBytes(out.view());
      // More in the rings: go on unless the output cannot take it (then the
      // rest waits in the rings, as in tick()); the last read takes it all.
    } while (session.reader.truncated && !output.closed && (final || !output.backlogged));
  };

  /** One timer tick; false once the run is over (output gone, --count reached). */
  const tick = (): boolean => {
    output.flush();
    if (!output.closed && watchHangUp && isHungUp(1)) output.close();
    if (output.closed) return false;
    // A slow reader: leave the records in the rings. If they fill, the
    // kernel drops new events and counts them, and we report that count.
    if (output.backlogged) {
      readSkipped = true;
      return true;
    }
    readBatch(false);
    return !output.closed && (options.maxRows === null || rowsWritten < options.maxRows);
  };

  stop = (code: number): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(readTimer);
    clearInterval(counterTimer);
    if (durationTimer !== null) clearTimeout(durationTimer);
    let exitCode = code;
    try {
      // Detach first, then read what the kernel already handed over: after
      // the detach nothing new arrives, so this last read misses nothing.
      session.detach();
      const drained = code === 0 && !output.closed;
      if (drained) readBatch(true);
      // Only after a full drain is every emitted event expected to be read.
      checkCounters(drained);
    } catch (error) {
      writeErr(`${tool}: ${(error as Error).message}`);
      exitCode = 1;
    } finally {
      session.close();
    }
    if (options.renderEnd !== undefined && exitCode === 0 && !output.closed) {
      try {
        output.push(options.renderEnd());
      } catch (error) {
        writeErr(`${tool}: ${(error as Error).message}`);
        exitCode = 1;
      }
    }
    let unwritten = 0;
    try {
      unwritten = output.drain(EXIT_FLUSH_TIMEOUT_MS);
    } catch (error) {
      writeErr(`${tool}: ${(error as Error).message}`);
      exitCode = 1;
    }
    if (unwritten > 0) writeErr(diagnostic(`stdout is not being read: dropped the last ${unwritten} bytes of output`, { unwritten }));
    // Skipped program runs are reported on their own line: for tcplife they
    // are not sessions (a skipped run is mostly not a CLOSE).
    const lost = lostReported + unreadReported + (sessions ? 0 : lastCounters.transitionMisses);
    writeErr(finalLine(diagnostic, eventsRead, lost, lastCounters.outputFailed, lastCounters.recursionMisses));
    releaseSignals();
    releaseWakeup();
    resolveDone(exitCode);
  };

  const safeTick = (): void => {
    if (stopping) return;
    try {
      if (!tick()) stop(0);
    } catch (error) {
      writeErr(`${tool}: ${(error as Error).message}`);
      stop(1);
    }
  };

  // A ring past its watermark: read now rather than at the next tick.
  let wakeupPending = false;
  const onWakeup = (): void => {
    if (wakeupPending || stopping) return;
    wakeupPending = true;
    setImmediate(() => {
      wakeupPending = false;
      safeTick();
    });
  };
  process.on(WAKEUP_SIGNAL, onWakeup);
  const releaseWakeup = (): void => {
    process.removeListener(WAKEUP_SIGNAL, onWakeup);
  };
  try {
    signalOnWakeup(session.reader.fds, constants.signals[WAKEUP_SIGNAL]);
  } catch {
    // No wakeups: the timer alone reads the rings, as before.
  }

  let durationTimer: NodeJS.Timeout | null = null;
  const readTimer = setInterval(safeTick, READ_INTERVAL_MS);
  const counterTimer = setInterval(() => {
    try {
      checkCounters();
    } catch (error) {
      writeErr(`${tool}: ${(error as Error).message}`);
    }
  }, COUNTER_CHECK_INTERVAL_MS);
  try {
    if (options.header !== null) output.push(`${options.header}\n`);
    if (options.header === null) writeErr(diagnostic(options.notice ?? 'Tracing... Hit Ctrl-C to end.', {}));
  } catch (error) {
    // Output.push closed the output: stop() writes nothing more to it.
    writeErr(`${tool}: ${(error as Error).message}`);
    stop(1);
    return done;
  }
  if (options.durationMs !== null) {
    const deadline = performance.now() + options.durationMs;
    const waitForDeadline = (): void => {
      const remainingMs = deadline - performance.now();
      if (remainingMs <= 0) stop(0);
      else durationTimer = setTimeout(waitForDeadline, Math.min(Math.ceil(remainingMs), MAX_TIMER_MS));
    };
    waitForDeadline();
  }
  if (output.closed || options.maxRows === 0) stop(0);
  // Attached and announced: what happens from now on is in the rings (which
  // hold some hundred ms of a flood), read once the read path is warm. Done
  // here rather than before the load, so that it does not delay the header.
  if (options.warmRow !== undefined && !stopping) warmUp(options.warmRow, sink, out, cursor);
  return done;
}

/**
 * Runs the read path (renderBatch with the same batch, buffer and cursor
 * the tracer then uses) over synthetic rings until it runs optimised, so
 * that the first real events are not read by the interpreter at several
 * microseconds each (the rings would fill). Costs some tens of ms of CPU,
 * while the rings hold what arrives meanwhile.
 */
function warmUp(writeRow: RowWriter, sink: EventBatch, out: ByteOutput, cursor: EventView): void {
  const recordSize = sink.recordSize;
  const rings = syntheticRings(2, 256 << 10, recordSize, WARM_EVENTS_PER_RING);
  const reader = new PerfReader(rings);
  let fastPasses = 0;
  for (let pass = 0; pass < WARM_MAX_PASSES && fastPasses < 2; pass++) {
    rings.refill();
    out.clear();
    const started = performance.now();
    renderBatch(reader, sink, out, cursor, writeRow, Number.MAX_SAFE_INTEGER, READ_BYTES_PER_RING);
    const nsPerEvent = ((performance.now() - started) * 1e6) / rings.events;
    fastPasses = nsPerEvent < WARM_FAST_NS_PER_EVENT ? fastPasses + 1 : 0;
  }
  reader.close();
  sink.clear();
  out.clear();
}
