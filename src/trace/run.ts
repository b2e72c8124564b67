// SPDX-License-Identifier: MIT
// Starts the tracing loop (trace/tracer.ts) in this process: checks the
// machine, loads and attaches the program, then hands the session, stdout
// and the system clock to a Tracer and wires the process's signals to it:
// SIGINT/SIGTERM/SIGHUP stop it cleanly, SIGURG (a ring past its wakeup
// watermark) makes it read at once; and raises its priority (READER_NICE).
// What touches the machine (preflight, libbpf, stdout, the native process
// settings) comes in as RunDeps with the real ones as defaults, so that the
// whole path runs over synthetic rings in a unit test.

import { fstatSync, readdirSync, readFileSync } from 'node:fs';
import { constants, cpus, getPriority, setPriority } from 'node:os';
import { bindLibbpfNamingLimits, openTrace, type IteratorsWanted, type TraceSession } from '../bpf/loader.js';
import { machineRingPages, type SizedTraceConfig, type TraceConfig } from '../bpf/config.js';
import { explainLoadFailure } from '../bpf/features.js';
import { canLockMemory, checkIterators, checkPrivileges, checkKernel } from '../bpf/preflight.js';
import type { Libbpf } from '../ffi/libbpf.js';
import { isHungUp, pinMallocThresholds, signalOnWakeup } from '../ffi/libc.js';
import type { Diagnostics } from '../io/diagnostics.js';
import { Output } from '../io/output.js';
import { earlyStopSignal, STOP_SIGNALS } from './signals.cjs';
import { finalMessage, NOTHING_READ_FIELDS, SYSTEM_CLOCK, Tracer, type TracerClock, type TracerOptions } from './tracer.js';

export { EXIT_FLUSH_TIMEOUT_MS, READ_INTERVAL_MS } from './tracer.js';

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
  /** The open-session iterators to load (the seed and the pass both run
   * from onAttached, once everything is attached). */
  readonly iterators?: IteratorsWanted & { readonly option: string };
  /** Once loaded, attached and seeded, before the first read. */
  readonly onAttached?: (session: TraceSession, libbpf: Libbpf) => void;
  /** Stops the trace as SIGINT does (tcplife --top's quit key). */
  readonly stop?: AbortSignal;
}

/** What runTracer takes from the machine; DEFAULT_RUN_DEPS are the real ones. */
export interface RunDeps {
  /** Checks the kernel and the privileges; throws PreflightError. */
  readonly preflight: (tool: string) => void;
  readonly libbpf: () => Libbpf;
  /** Where the rows go. */
  readonly output: () => Output;
  readonly clock: TracerClock;
  /** The native process settings around the load and the loop. */
  readonly process: ProcessSettings;
}

export interface ProcessSettings {
  /** Before the load (see ffi/libc.ts pinMallocThresholds). */
  beforeLoad(): void;
  /** Once attached: the wakeup signal on the rings' fds, the priority. */
  afterAttach(fds: readonly number[]): void;
  /** True when the reader of stdout has hung up; null: never asked. */
  readonly stdoutHungUp: (() => boolean) | null;
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

const THIS_PROCESS: ProcessSettings = {
  // Before the load, which would otherwise raise them for good (see there):
  // the peak RSS is then the load's, not the JIT's scratch memory on top.
  beforeLoad: () => void pinMallocThresholds(),
  afterAttach(fds) {
    try {
      signalOnWakeup(fds, constants.signals[WAKEUP_SIGNAL]);
    } catch {
      // No wakeups: the timer alone reads the rings, as before.
    }
    raisePriority();
  },
  get stdoutHungUp() {
    return stdoutCanHangUp() ? () => isHungUp(1) : null;
  },
};

export const DEFAULT_RUN_DEPS: RunDeps = {
  preflight(tool) {
    checkKernel();
    checkPrivileges(tool);
  },
  libbpf: () => bindLibbpfNamingLimits(),
  // Creating process.stdout puts a pipe or socket on fd 1 in non-blocking
  // mode (libuv does): a reader that stops reading then makes writes fail
  // with EAGAIN instead of blocking the event loop, and with it the signals.
  output: () => {
    void process.stdout;
    return new Output();
  },
  clock: SYSTEM_CLOCK,
  process: THIS_PROCESS,
};

/** Checks the machine, then loads and attaches (and seeds, --existing). */
function load(options: RunOptions, deps: RunDeps): TraceSession {
  const { diagnostics, iterators } = options;
  deps.preflight(diagnostics.tool);
  if (iterators !== undefined) checkIterators(iterators.option);
  const libbpf = deps.libbpf();
  deps.process.beforeLoad();
  const config: SizedTraceConfig = { ...options.config, bufferPages: options.config.bufferPages ?? ringPagesHere(libbpf.pageSize()) };
  let session: TraceSession;
  try {
    session = openTrace(libbpf, config, {
      ...(diagnostics.verbose ? { onLibbpfMessage: (line: string) => diagnostics.libbpf(line) } : {}),
      ...(iterators !== undefined ? { iterators: { seed: iterators.seed, dump: iterators.dump } } : {}),
    });
  } catch (error) {
    // The floor is by feature: a failed load names what the kernel lacks.
    throw explainLoadFailure(error, libbpf);
  }
  try {
    options.onAttached?.(session, libbpf);
  } catch (error) {
    session.close();
    throw error;
  }
  return session;
}

/**
 * Runs until stopped; resolves with the exit code. Errors before the header
 * (preflight, load, attach) are thrown for the CLI to report.
 */
export async function runTracer(options: RunOptions, deps: RunDeps = DEFAULT_RUN_DEPS): Promise<number> {
  const { diagnostics } = options;
  // Taken first, so that a Ctrl-C during the (synchronous) load is handled
  // once it is done, as a clean stop, instead of killing the process.
  let tracer: Tracer | null = null;
  const onSignal = (): void => tracer?.stop(0);
  const onWakeup = (): void => tracer?.wakeup();
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  options.stop?.addEventListener('abort', onSignal);
  const releaseSignals = (): void => {
    for (const signal of STOP_SIGNALS) process.removeListener(signal, onSignal);
    options.stop?.removeEventListener('abort', onSignal);
    process.removeListener(WAKEUP_SIGNAL, onWakeup);
  };
  // Stopped while starting (Ctrl-C during module loading): end as any stop
  // does, without loading anything.
  if (earlyStopSignal() !== null) {
    releaseSignals();
    diagnostics.notice(finalMessage(0, 0), NOTHING_READ_FIELDS);
    return 0;
  }
  let session: TraceSession;
  try {
    session = load(options, deps);
  } catch (error) {
    releaseSignals();
    throw error;
  }
  options.attached?.(session);
  const { config, diagnostics: _diagnostics, iterators: _iterators, onAttached: _onAttached, stop: _stop, ...loop } = options;
  const output = deps.output();
  const stdoutHungUp = deps.process.stdoutHungUp;
  tracer = new Tracer(
    { ...loop, mode: config.mode },
    { session, output, diagnostics, clock: deps.clock, ...(stdoutHungUp !== null ? { stdoutHungUp } : {}) },
  );
  process.on(WAKEUP_SIGNAL, onWakeup);
  tracer.onStopped = releaseSignals;
  deps.process.afterAttach(session.reader.fds);
  return tracer.start();
}
