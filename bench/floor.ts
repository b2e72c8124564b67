// SPDX-License-Identifier: MIT
// The floor (npm run bench, after the warm trials; --floor-rounds): what any
// tcpstates built on socket storage costs the workload at minimum. Minimal
// programs on our tracepoint (bench/floor.bpf.c, loaded by bench/floor.c),
// no tool: attached and empty; socket storage created on every transition;
// that and a second, empty program on the tracepoint (the nesting cover's
// price: being called twice); a 104-byte record per transition through perf
// rings read with a watermark; storage and the record. Each runs the warm
// trials' load, untraced alongside, in rotating order, and the medians are
// put side by side.

import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT, sleep } from '../harness/system.js';
import { tryMake } from '../harness/build.js';
import { expectedRows, fmt, median, rotated, type BenchDriver, type LoadgenResult } from './parse.js';
import type { ResultTable } from './results.js';

/** floor.bpf.c's floor_mode values, by name. */
export const FLOOR_MODES = { empty: 0, storage: 1, 'storage+output': 2, output: 3, 'storage+second': 4, hash: 5, 'hash+second': 6 } as const;
export type FloorMode = keyof typeof FLOOR_MODES;
export type FloorSetup = 'untraced' | FloorMode;
/** The table's columns, cheapest first. */
export const FLOOR_SETUPS: readonly FloorSetup[] = ['untraced', 'empty', 'hash', 'hash+second', 'storage', 'storage+second', 'output', 'storage+output'];

const OUTPUT_MODES: readonly FloorSetup[] = ['output', 'storage+output'];

/** The loader's line at exit:
 * "floor: mode=NAME read=N lost=N output_failed=N missed=N". */
export interface FloorLine {
  readonly mode: FloorMode;
  /** Records read from the rings. */
  readonly read: number;
  /** Records the kernel dropped because a ring was full. */
  readonly lost: number;
  /** bpf_perf_event_output() failures the program counted. */
  readonly outputFailed: number;
  /** Runs the kernel skipped: the program was already running on that CPU. */
  readonly missed: number;
}

export function parseFloorLine(stdout: string): FloorLine | null {
  const match = /^floor: mode=(\S+) read=(\d+) lost=(\d+) output_failed=(\d+) missed=(\d+)$/m.exec(stdout);
  if (!match || !Object.hasOwn(FLOOR_MODES, match[1] as string)) return null;
  return {
    mode: match[1] as FloorMode,
    read: Number(match[2]),
    lost: Number(match[3]),
    outputFailed: Number(match[4]),
    missed: Number(match[5]),
  };
}

export interface FloorRun {
  readonly setup: FloorSetup;
  readonly round: number;
  /** The measured load (after the warm-up). */
  readonly load: LoadgenResult;
  /** State changes the generators made over the whole run, warm-up included. */
  readonly expected: number;
  /** The loader's counts (null: untraced). */
  readonly counts: FloorLine | null;
}

export interface FloorOptions extends BenchDriver {
  readonly rounds: number;
  readonly warmup: number;
  readonly connections: number;
  /** Listeners each generator run opens and closes (2 state changes each), all generators. */
  readonly listeners: number;
  /** The warm trials' waits (bench.ts): to settle after attaching, and for
   * the last of a load's transitions to run and be read. */
  readonly settleMs: number;
  readonly drainMs: number;
}

export interface FloorResult {
  readonly runs: readonly FloorRun[];
  readonly table: ResultTable;
}

const ATTACH_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
/**
 * Builds the program and its loader (the Makefile's floor target) when
 * missing or older than their sources. Returns their paths, or why they
 * could not be built (no clang, no libbpf headers): the floor is then skipped.
 */
export function buildFloor(): { object: string; loader: string } | { skipped: string } {
  const failed = tryMake(['floor']);
  if (failed !== null) return { skipped: `cannot build the floor (make floor; libbpf headers: apt-get install libbpf-dev): ${failed}` };
  return { object: `${REPO_ROOT}dist/bench/floor.bpf.o`, loader: `${REPO_ROOT}dist/bench/floor` };
}

interface Loader {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<number>;
}

/** Starts the loader; resolves once it says it has attached (and opened its rings). */
async function startLoader(loader: string, object: string, mode: FloorMode, options: FloorOptions): Promise<Loader> {
  const child = options.track(spawn(loader, [object, String(FLOOR_MODES[mode])], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  // Its last line can come after 'exit': wait for the pipes to close too.
  const closed = new Promise<number>((resolve) => child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 0))));
  const attached = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`floor ${mode}: did not attach in ${ATTACH_TIMEOUT_MS / 1000} s`)), ATTACH_TIMEOUT_MS);
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (/^attached$/m.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void closed.then((code) => {
      clearTimeout(timer);
      reject(new Error(`floor ${mode}: exited with ${code} before attaching: ${stderr.trim() || 'no message'}`));
    });
  });
  try {
    await attached;
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { child, stdout: () => stdout, stderr: () => stderr, exited: closed };
}

/** SIGINT: the loader drains its rings, detaches and prints its counts. */
async function stopLoader(loader: Loader, mode: FloorMode): Promise<FloorLine> {
  loader.child.kill('SIGINT');
  const timer = setTimeout(() => loader.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  const code = await loader.exited;
  clearTimeout(timer);
  const line = parseFloorLine(loader.stdout());
  if (code !== 0 || line === null || line.mode !== mode) {
    throw new Error(`floor ${mode}: exited with ${code}, no counts: ${loader.stderr().trim() || 'no message'}`);
  }
  return line;
}

export async function runFloor(setup: FloorSetup, round: number, built: { object: string; loader: string }, options: FloorOptions): Promise<FloorRun> {
  const expectedFor = (connections: number) => (connections > 0 ? expectedRows(connections, options.listeners) : 0);
  const warm = async (): Promise<number> => (options.warmup > 0 ? (await options.runLoadgen(options.warmup)).connections : 0);
  if (setup === 'untraced') {
    const warmConnections = await warm();
    const load = await options.runLoadgen(options.connections);
    return { setup, round, load, expected: expectedFor(warmConnections) + expectedFor(load.connections), counts: null };
  }
  const loader = await startLoader(built.loader, built.object, setup, options);
  try {
    // The same shape as the warm trials: settle, warm up, let that be read, load.
    await sleep(options.settleMs);
    const warmConnections = await warm();
    if (options.warmup > 0) await sleep(options.drainMs);
    const load = await options.runLoadgen(options.connections);
    // The generators' last transitions can still be in softirq work (on
    // ksoftirqd) when they exit: detaching at once would miss them.
    await sleep(options.drainMs);
    const counts = await stopLoader(loader, setup);
    return { setup, round, load, expected: expectedFor(warmConnections) + expectedFor(load.connections), counts };
  } finally {
    loader.child.kill('SIGKILL'); // only when it failed: a stopped one is gone
  }
}

export function describeFloorRun(run: FloorRun): string {
  const text = `floor round ${run.round} ${run.setup.padEnd(14)} ${run.load.rate.toFixed(0).padStart(6)} conn/s (${run.load.connections} in ${run.load.seconds.toFixed(2)} s)`;
  if (run.counts === null) return text;
  const parts = OUTPUT_MODES.includes(run.setup)
    ? [`read ${run.counts.read}/${run.expected} expected`, `${run.counts.lost} lost`, `${run.counts.outputFailed} output failed`]
    : [];
  parts.push(`${run.counts.missed} runs skipped (program already on the CPU)`);
  return `${text}  ${parts.join(', ')}`;
}

/** The table: medians per setup, as columns. */
export function summarizeFloor(runs: readonly FloorRun[]): ResultTable {
  const of = (setup: FloorSetup) => runs.filter((run) => run.setup === setup);
  const rate = (setup: FloorSetup) => median(of(setup).map((run) => run.load.rate));
  const untraced = rate('untraced');
  const traced = (pick: (runs: FloorRun[]) => string) => (setup: FloorSetup) => (setup === 'untraced' ? '' : pick(of(setup)));
  const output = (pick: (runs: FloorRun[]) => string) => (setup: FloorSetup) => (OUTPUT_MODES.includes(setup) ? pick(of(setup)) : '');
  const counted = (pick: (line: FloorLine) => number) => (runs: FloorRun[]) => fmt(runs.reduce((sum, run) => sum + pick(run.counts as FloorLine), 0));
  const rows: string[][] = [
    ['runs', ...FLOOR_SETUPS.map((setup) => fmt(of(setup).length))],
    ['workload conn/s (median)', ...FLOOR_SETUPS.map((setup) => fmt(rate(setup)))],
    ['  vs untraced', ...FLOOR_SETUPS.map((setup) => `${fmt(rate(setup) / untraced, 2)}x`)],
    ['state changes expected per run (median)', ...FLOOR_SETUPS.map((setup) => fmt(median(of(setup).map((run) => run.expected))))],
    [
      'events read (min of runs)',
      ...FLOOR_SETUPS.map(output((setupRuns) => fmt(Math.min(...setupRuns.map((run) => (run.counts as FloorLine).read))))),
    ],
    ['runs that read fewer than expected', ...FLOOR_SETUPS.map(output((setupRuns) => fmt(setupRuns.filter((run) => (run.counts as FloorLine).read < run.expected).length)))],
    ['events lost, ring full (all runs)', ...FLOOR_SETUPS.map(output(counted((line) => line.lost)))],
    ['output failed (all runs)', ...FLOOR_SETUPS.map(output(counted((line) => line.outputFailed)))],
    ['runs skipped, program already on the CPU (all runs)', ...FLOOR_SETUPS.map(traced(counted((line) => line.missed)))],
  ];
  return { id: 'floor', title: 'The floor', columns: ['the floor: minimal programs on the same tracepoint, no tool', ...FLOOR_SETUPS], rows };
}

/**
 * Runs untraced and each floor mode `rounds` times, rotating the order each
 * round so that none always runs first or after another. Null when the
 * floor cannot be built here (said in one line on stderr).
 */
export async function measureFloor(options: FloorOptions): Promise<FloorResult | null> {
  const built = buildFloor();
  if ('skipped' in built) {
    process.stderr.write(`bench: floor skipped: ${built.skipped}\n`);
    return null;
  }
  const runs: FloorRun[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const setup of rotated(FLOOR_SETUPS, round)) {
      const run = await runFloor(setup, round, built, options);
      runs.push(run);
      options.log(describeFloorRun(run));
    }
  }
  return { runs, table: summarizeFloor(runs) };
}
