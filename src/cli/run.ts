// SPDX-License-Identifier: MIT
// The tracing loop shared by tcpstates and tcplife: attach, print the header,
// read the rings on a short timer, write each batch of rows with one write,
// report lost events, and end cleanly on SIGINT/SIGTERM/SIGHUP, a closed
// stdout, --duration or --count, leaving nothing attached.
//
// The hot path makes no object and no string per event: a tick collects
// where the events are in the rings (EventBatch), merges the CPUs' rings
// into time order, formats each event in place through one EventView into
// one byte buffer, hands the ring space back, and writes the buffer once.

import { fstatSync, writeSync } from 'node:fs';
import { openTrace, ZERO_COUNTERS, type KernelCounters, type TraceSession } from '../bpf/loader.js';
import type { TraceConfig } from '../bpf/config.js';
import { checkPrivileges, checkKernel, checkKernelVersion } from '../bpf/preflight.js';
import { EVENT_SIZE, EventView, TRANSITION_EVENT_SIZE } from '../decode/event.js';
import { bindLibbpf, isHungUp } from '../ffi/libbpf.js';
import { EventBatch } from '../reader/batch.js';
import { ByteOutput } from '../format/output.js';
import { Output } from './output.js';
import { earlyStopSignal } from './signals.js';

/** How often the rings are read. Rows show within this of the event; the
 * rings (--buffer-pages) must hold this much traffic and more. */
export const READ_INTERVAL_MS = 10;
/** How often the kernel-side counters are checked for loss. */
const COUNTER_CHECK_INTERVAL_MS = 1000;
/** At exit, how long output that the reader is not taking may hold us up. */
export const EXIT_FLUSH_TIMEOUT_MS = 1000;
/** setTimeout's largest delay; longer --duration values are waited in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface RunOptions {
  readonly tool: string;
  readonly config: TraceConfig;
  /** Printed once attached; null for none. */
  readonly header: string | null;
  /** Appends one event's row and its newline to `out`. `event` looks at the
   * ring in place: it is only valid during the call. */
  readonly writeRow: (out: ByteOutput, event: EventView) => void;
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

  const sink = new EventBatch(options.config.mode === 'sessions' ? EVENT_SIZE : TRANSITION_EVENT_SIZE);
  // 1 MiB: a read's rows at full loopback rate fit without growing.
  const out = new ByteOutput(1 << 20);
  const cursor = new EventView();
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
  const readBatch = (): void => {
    sink.clear();
    out.clear();
    try {
      session.reader.collect(sink);
      eventsRead += sink.count;
      if (sink.count > 0) {
        // Rows from different CPUs' rings interleave: show them in time order.
        const order = sink.timeOrder();
        const rows = options.maxRows === null ? order.length : Math.max(0, Math.min(order.length, options.maxRows - rowsWritten));
        for (let i = 0; i < rows; i++) {
          const index = order[i] as number;
          options.writeRow(out, cursor.at(sink.views[index] as DataView, sink.offsets[index] as number));
        }
        rowsWritten += rows;
      }
    } finally {
      // Formatted (or failed): either way the kernel may have the space back.
      session.reader.release();
    }
    reportLoss();
    options.onCounts?.(eventsRead, lostReported + lastCounters.recursionMisses);
    if (out.length > 0) output.pushBytes(out.view());
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
    readBatch();
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
      if (drained) readBatch();
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
    resolveDone(exitCode);
  };

  const safeTick = (): void => {
    try {
      if (!tick()) stop(0);
    } catch (error) {
      writeErr(`${tool}: ${(error as Error).message}`);
      stop(1);
    }
  };

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
  return done;
}
