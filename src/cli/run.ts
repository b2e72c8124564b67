// SPDX-License-Identifier: MIT
// Starts the tracing loop (cli/tracer.ts) in this process: checks the
// machine, loads and attaches the program, then hands the session, stdout
// and the system clock to a Tracer and wires the process's signals to it:
// SIGINT/SIGTERM/SIGHUP stop it cleanly, SIGURG (a ring past its wakeup
// watermark) makes it read at once; and raises its priority (READER_NICE).

import { fstatSync, readdirSync, readFileSync } from 'node:fs';
import { constants, cpus, getPriority, setPriority } from 'node:os';
import { openTrace, type TraceSession } from '../bpf/loader.js';
import { machineRingPages, type SizedTraceConfig, type TraceConfig } from '../bpf/config.js';
import { explainLoadFailure } from '../bpf/features.js';
import { canLockMemory, checkPrivileges, checkKernel } from '../bpf/preflight.js';
import { bindLibbpf, type Libbpf } from '../ffi/libbpf.js';
import { isHungUp, pinMallocThresholds, signalOnWakeup } from '../ffi/libc.js';
import type { Diagnostics } from './diagnostics.js';
import { Output } from './output.js';
import { earlyStopSignal } from './signals.js';
import { finalMessage, NOTHING_READ_FIELDS, SYSTEM_CLOCK, Tracer, type TracerOptions } from './tracer.js';

export { EXIT_FLUSH_TIMEOUT_MS, READ_INTERVAL_MS } from './tracer.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** The signal the kernel sends when a ring passes its wakeup watermark
 * (ffi/libc.ts signalOnWakeup). SIGURG because its default action is to
 * do nothing: one arriving while no handler is installed is harmless. */
const WAKEUP_SIGNAL = 'SIGURG';

/**
 * The nice value the tool gives itself when started at the default (0): a
 * burst of session ends from many busy processes must not starve the reader
 * while the rings fill. Measured: 20 processes closing 192,000 loopback
 * sockets at once on 2 CPUs: tcplife at nice 0 lost 36,168 of the 192,000
 * sessions (reported), at -10 none. Its CPU is small (well under 1 us a
 * row), so the workload loses nothing by it. Started at any other nice
 * value (`nice -n 5 tcplife`), the tool keeps it.
 */
export const READER_NICE = -10;

function raisePriority(): void {
  try {
    if (getPriority(0) !== 0) return;
    setPriority(0, READER_NICE);
  } catch {
    // Not permitted (no CAP_SYS_NICE, e.g. CAP_BPF and CAP_PERFMON only):
    // the default priority, as any other process.
    return;
  }
  // On Linux a nice value is a thread's (0 above is the calling thread), so
  // the others too, V8's compiler threads among them (threads made later
  // inherit it). Left at 0 under a main thread at -10, they compiled the
  // warm-up's code late under load: 500,000 events/s on 2 CPUs, 9 of 20
  // cold starts lost events (up to 16,000) and peak RSS reached 63.8 MB;
  // with every thread at -10, none and 61.0 MB.
  try {
    for (const tid of readdirSync('/proc/self/task')) setPriority(Number(tid), READER_NICE);
  } catch {
    // No /proc: the main thread alone.
  }
}

/** --buffer-pages when not given: sized to this machine and process. */
function ringPagesHere(pageBytes: number): number {
  let mayLock = false;
  try {
    mayLock = canLockMemory(readFileSync('/proc/self/status', 'utf8'), readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    // No /proc: the base size, which fits the usual limit.
  }
  return machineRingPages(cpus().length, pageBytes, mayLock);
}

export interface RunOptions extends Omit<TracerOptions, 'mode'> {
  readonly config: TraceConfig;
  /** Where every stderr line goes, in the mode the options set (--json, --verbose). */
  readonly diagnostics: Diagnostics;
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

/**
 * Runs until stopped; resolves with the exit code. Errors before the header
 * (preflight, load, attach) are thrown for the CLI to report.
 */
export async function runTracer(options: RunOptions): Promise<number> {
  const { diagnostics } = options;

  // Taken first, so that a Ctrl-C during the (synchronous) load is handled
  // once it is done, as a clean stop, instead of killing the process.
  let tracer: Tracer | null = null;
  const onSignal = (): void => tracer?.stop(0);
  for (const signal of SIGNALS) process.on(signal, onSignal);
  const releaseSignals = (): void => {
    for (const signal of SIGNALS) process.removeListener(signal, onSignal);
  };

  // Stopped while starting (Ctrl-C during module loading): end as any stop
  // does, without loading anything.
  if (earlyStopSignal() !== null) {
    releaseSignals();
    diagnostics.notice(finalMessage(0, 0), NOTHING_READ_FIELDS);
    return 0;
  }

  let session: TraceSession;
  let libbpf: Libbpf | null = null;
  try {
    checkKernel();
    checkPrivileges(diagnostics.tool);
    libbpf = bindLibbpf();
    // Before the load, which would otherwise raise them for good (see there):
    // the peak RSS is then the load's, not the JIT's scratch memory on top.
    pinMallocThresholds();
    const config: SizedTraceConfig = { ...options.config, bufferPages: options.config.bufferPages ?? ringPagesHere(libbpf.pageSize()) };
    session = openTrace(libbpf, config, {
      ...(diagnostics.verbose ? { onLibbpfMessage: (line: string) => diagnostics.libbpf(line) } : {}),
    });
  } catch (error) {
    releaseSignals();
    // The floor is by feature: a failed load names what the kernel lacks.
    throw libbpf === null ? error : explainLoadFailure(error, libbpf);
  }

  // Creating process.stdout puts a pipe or socket on fd 1 in non-blocking
  // mode (libuv does): a reader that stops reading then makes writes fail
  // with EAGAIN instead of blocking the event loop, and with it the signals.
  void process.stdout;
  const { config, diagnostics: _diagnostics, ...loop } = options;
  const current = new Tracer(
    { ...loop, mode: config.mode },
    {
      session,
      output: new Output(),
      diagnostics,
      clock: SYSTEM_CLOCK,
      ...(stdoutCanHangUp() ? { stdoutHungUp: () => isHungUp(1) } : {}),
    },
  );
  tracer = current;

  const onWakeup = (): void => current.wakeup();
  process.on(WAKEUP_SIGNAL, onWakeup);
  current.onStopped = () => {
    releaseSignals();
    process.removeListener(WAKEUP_SIGNAL, onWakeup);
  };
  try {
    signalOnWakeup(session.reader.fds, constants.signals[WAKEUP_SIGNAL]);
  } catch {
    // No wakeups: the timer alone reads the rings, as before.
  }
  raisePriority();
  return current.start();
}
