// SPDX-License-Identifier: Apache-2.0
// The tracing loop shared by tcpstates and tcplife: attach, print the header,
// read the rings on a short timer, write each batch of rows with one write,
// report lost events, and end cleanly on SIGINT/SIGTERM/SIGHUP, a closed
// stdout, --duration or --count, leaving nothing attached.
//
// The hot path makes no object and no string per event: a tick collects
// where the events are in the rings (EventBatch), merges the CPUs' rings
// into time order, formats each event in place through one EventView into
// one byte buffer, hands the ring space back, and writes the buffer once.

import { writeSync } from 'node:fs';
import { openTrace, type KernelCounters, type TraceSession } from '../bpf/loader.js';
import type { TraceConfig } from '../bpf/config.js';
import { checkPrivileges, checkKernel } from '../bpf/preflight.js';
import { EventView } from '../decode/event.js';
import { bindLibbpf } from '../ffi/libbpf.js';
import { EventBatch } from '../reader/batch.js';
import { ByteOutput } from '../format/output.js';

/** How often the rings are read. Rows show within this of the event; the
 * rings (--buffer-pages) must hold this much traffic and more. */
export const READ_INTERVAL_MS = 10;
/** How often the kernel-side counters are checked for loss. */
const COUNTER_CHECK_INTERVAL_MS = 1000;

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
}

class StdoutClosed extends Error {}

/** Writes all of `bytes` to fd 1, synchronously: a batch is one write(2). */
function writeOut(bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(1, bytes, offset, bytes.length - offset);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') throw new StdoutClosed();
      if (code !== 'EAGAIN') throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

function writeErr(text: string): void {
  try {
    writeSync(2, text.endsWith('\n') ? text : `${text}\n`);
  } catch {
    // stderr is gone too: nothing left to tell.
  }
}

/**
 * Runs until stopped; resolves with the exit code. Errors before the header
 * (preflight, load, attach) are thrown for the CLI to report.
 */
export async function runTracer(options: RunOptions): Promise<number> {
  const { tool } = options;
  const diagnostic = options.diagnostic ?? ((message: string) => `${tool}: ${message}`);
  checkKernel();
  checkPrivileges(tool);
  const libbpf = bindLibbpf();
  const session: TraceSession = openTrace(libbpf, options.config, {
    ...(options.verbose ? { onLibbpfMessage: (line: string) => writeErr(line) } : {}),
  });

  const sink = new EventBatch();
  // 1 MiB: a read's rows at full loopback rate fit without growing.
  const out = new ByteOutput(1 << 20);
  const cursor = new EventView();
  let rowsWritten = 0;
  let eventsRead = 0;
  let lostReported = 0;
  let undecodableReported = 0;
  let lastCounters: KernelCounters = { emitted: 0, outputFailed: 0, trackingFailed: 0, recursionMisses: 0 };
  let stopping = false;
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (resolveDone = resolve));

  const reportLoss = (): void => {
    if (sink.lostInRings > lostReported) {
      const lost = sink.lostInRings - lostReported;
      writeErr(diagnostic(`lost ${lost} events: the perf ring was full (try a larger --buffer-pages)`, { lost }));
      lostReported = sink.lostInRings;
    }
    if (sink.undecodable > undecodableReported) {
      const undecodable = sink.undecodable - undecodableReported;
      writeErr(diagnostic(`skipped ${undecodable} samples too short to decode`, { undecodable }));
      undecodableReported = sink.undecodable;
    }
  };

  const checkCounters = (): void => {
    const counters = session.readCounters();
    const missed = counters.recursionMisses - lastCounters.recursionMisses;
    if (missed > 0) writeErr(diagnostic(`missed ${missed} events: the program was already running on that CPU`, { missed }));
    const untracked = counters.trackingFailed - lastCounters.trackingFailed;
    if (untracked > 0) writeErr(diagnostic(`could not track ${untracked} sockets: durations for them restart at 0`, { untracked }));
    lastCounters = counters;
  };

  /** Reads the rings and writes one batch; false once output is closed. */
  const tick = (): boolean => {
    sink.clear();
    out.clear();
    try {
      session.reader.collect(sink);
      eventsRead += sink.count;
      if (sink.count > 0) {
        // Rows from different CPUs' rings interleave: show them in time order.
        const order = sink.timeOrder();
        const rows = options.maxRows === null ? order.length : Math.min(order.length, options.maxRows - rowsWritten);
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
    try {
      if (out.length > 0) writeOut(out.view());
    } catch (error) {
      if (error instanceof StdoutClosed) return false;
      throw error;
    }
    return options.maxRows === null || rowsWritten < options.maxRows;
  };

  const stop = (code: number): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(readTimer);
    clearInterval(counterTimer);
    if (durationTimer) clearTimeout(durationTimer);
    let exitCode = code;
    try {
      // Flush what the kernel already handed over, then detach.
      if (code === 0) tick();
      checkCounters();
    } catch (error) {
      writeErr(`${tool}: ${(error as Error).message}`);
      exitCode = 1;
    } finally {
      session.close();
    }
    const lost = sink.lostInRings + lastCounters.recursionMisses;
    writeErr(
      diagnostic(`${eventsRead} events read, ${lost} lost`, {
        events: eventsRead,
        lost,
        output_failed: lastCounters.outputFailed,
        recursion_misses: lastCounters.recursionMisses,
      }),
    );
    for (const signal of SIGNALS) process.removeListener(signal, onSignal);
    resolveDone(exitCode);
  };

  const onSignal = (): void => stop(0);
  const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const signal of SIGNALS) process.on(signal, onSignal);

  const safeTick = (): void => {
    try {
      if (!tick()) stop(0);
    } catch (error) {
      writeErr(`${tool}: ${(error as Error).message}`);
      stop(1);
    }
  };

  try {
    if (options.header !== null) writeOut(Buffer.from(`${options.header}\n`));
  } catch (error) {
    session.close();
    if (error instanceof StdoutClosed) return 0;
    throw error;
  }
  const readTimer = setInterval(safeTick, READ_INTERVAL_MS);
  const counterTimer = setInterval(() => {
    try {
      checkCounters();
    } catch (error) {
      writeErr(`${tool}: ${(error as Error).message}`);
    }
  }, COUNTER_CHECK_INTERVAL_MS);
  const durationTimer = options.durationMs === null ? null : setTimeout(() => stop(0), options.durationMs);
  if (options.maxRows === 0) stop(0);
  return done;
}
