// SPDX-License-Identifier: MIT
// The performance benchmark (npm run bench): loopback connection churn from
// our own generator, run untraced, under our tcpstates and under
// libbpf-tools' tcpstates (when installed), in alternating order so that a
// noisy machine affects all three alike; then the floor (bench/floor.ts:
// minimal programs on the same tracepoint, no tool); start-up times; on request
// a long run that samples our memory. Prints one line per run and a table of
// medians. Needs root (it loads BPF programs and makes a network namespace).

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  combineLoadgens,
  expectedRows,
  fmt,
  markdownTable,
  median,
  parseLoadgen,
  parseMeasurePid,
  parseMeasureReport,
  parseOurSummary,
  parseProcStatTicks,
  RowCounter,
  rotated,
  rowHasPort,
  sumLostLines,
  sumSchedstatNs,
  TRANSITIONS_PER_CONNECTION,
  type BenchDriver,
  type LoadgenResult,
} from './parse.js';
import { buildFloor, measureFloor, runFloor, type FloorOptions } from './floor.js';
import { measureOpenSessions } from './open-sessions.js';
import { measureTracerTax } from './tracer-tax.js';
import { clientSession, startServer, type LoopbackServer } from '../harness/loopback.js';
import { openFds, REPO_ROOT, sleep, TRACEFS, tracefsMounted } from '../harness/system.js';
import { TracerProcess } from '../harness/tracer-process.js';
import { make } from '../harness/build.js';
import { currentCommit, RESULTS_SCHEMA, tableMarkdown, thisMachine, writeResults, type ResultTable } from './results.js';

const ROOT = REPO_ROOT;
const BIN_DIR = join(ROOT, 'dist', 'bench');
const LOADGEN = join(BIN_DIR, 'loadgen');
const MEASURE = join(BIN_DIR, 'measure');
const OUR_TOOL = join(ROOT, 'bin', 'tcpstates');
const REFERENCE = '/usr/sbin/tcpstates';
const REFERENCE_TCPLIFE = '/usr/sbin/tcplife';
/** Time for a freshly attached tracer to settle (JIT, first GC) before the load. */
const SETTLE_MS = 200;
/** Time after the load for the tracers to read what is still in their rings:
 * libbpf-tools exits on SIGINT without draining them. */
const DRAIN_MS = 300;

const USAGE = `usage: npm run bench -- [options]
  --connections N    connections per measured run (default 100000: 1M state changes)
  --warmup N         connections before each measured run, under the same tracer
                     (default 10000: lets the JIT settle; 0 to include it)
  --rate R           pace the generator to R connections/s (default 0: full speed)
  --generators G     generator processes running at once, sharing the connections
                     (default 3: one process alone does not saturate loopback)
  --cold-runs N      runs that start each tracer cold into a running full-speed load
                     (default 25 for ours, 5 for libbpf-tools; 0: none)
  --cold-seconds S   how long each cold run traces the load (default 1)
  --rounds N         runs of each of untraced/ours/reference, alternating (default 5)
  --startup-runs N   start-up measurements of each tool (default 10)
  --buffer-pages P   our --buffer-pages (default: the tool's default)
  --busy N           keep N CPU-burning processes running during the runs (default 0)
  --soak N           instead: one long run of N connections under our tool,
                     sampling its memory every second
  --tax-rounds N     rounds of the tracer-tax measurement (tcplife's cost to non-TCP
                     syscalls and a TCP request/response loop; default 5, 0 to skip)
  --tax-only         only the tracer-tax measurement
  --floor-rounds N   rounds of the floor after the warm runs: untraced and minimal programs
                     on the same tracepoint, no tool (empty, socket storage, 104-byte
                     output, both), on the same load (default 3, 0 to skip)
  --open-passes N    timed interval passes per scale of the open-session measurement
                     (the --existing seed and an --interval pass at 1,000, 10,000 and
                     100,000 open sessions; default 5, 0 to skip it)
  --open-rounds N    rounds of the workload under tcplife --interval 1 against tcplife
                     and untraced, same run (default 3, 0 to skip)
  --open-only        only the open-session measurement
  --startup-only     only start to header, of both tools, ours and libbpf-tools',
                     beside Node alone (--startup-runs rounds)
  --no-reference     skip libbpf-tools
  --port P           the generator's listening port (default: random 20000-29999)
  --out-dir DIR      where run outputs go (default: a fresh directory in $TMPDIR, removed)
  --keep             keep the run outputs
  --results-dir DIR  where the results go as JSON (default bench/results)
  --no-results       write no results file`;

/** metrics: ours with --metrics alone, which counts in the kernel and reads no
 * event; floor: the floor's socket-storage-only program (bench/floor.ts),
 * run in the same rotation, the target --metrics is measured against;
 * floor-second: that and a second, empty program on the tracepoint, what a
 * tool that covers the kernel's skipped runs (bpf/nesting.h) and keeps its
 * state in socket storage cannot go under; floor-hash: the state in a hash
 * by socket address, as ours keeps it, and the second program: the floor
 * under our own design. */
type ToolName = 'untraced' | 'ours' | 'metrics' | 'reference' | 'floor' | 'floor-second' | 'floor-hash';
const FLOOR_TOOLS: readonly ToolName[] = ['floor', 'floor-second', 'floor-hash'];
const FLOOR_TOOL_MODES = { floor: 'storage', 'floor-second': 'storage+second', 'floor-hash': 'hash+second' } as const;
/** The traced setups' columns, untraced first. */
function traceTools(options: Options): ToolName[] {
  return ['untraced', 'ours', 'metrics', ...(options.reference ? (['reference'] as const) : [])];
}

interface Options {
  connections: number;
  warmup: number;
  rate: number;
  generators: number;
  coldRuns: number;
  coldSeconds: number;
  rounds: number;
  startupRuns: number;
  bufferPages: number | null;
  busy: number;
  soak: number | null;
  reference: boolean;
  port: number;
  addresses: number;
  outDir: string | null;
  keep: boolean;
  resultsDir: string | null;
  taxRounds: number;
  taxOnly: boolean;
  floorRounds: number;
  openPasses: number;
  openRounds: number;
  openOnly: boolean;
  startupOnly: boolean;
}

function readOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      connections: { type: 'string', default: '100000' },
      warmup: { type: 'string', default: '10000' },
      rate: { type: 'string', default: '0' },
      generators: { type: 'string', default: '3' },
      'cold-runs': { type: 'string', default: '25' },
      'cold-seconds': { type: 'string', default: '1' },
      rounds: { type: 'string', default: '5' },
      'startup-runs': { type: 'string', default: '10' },
      'buffer-pages': { type: 'string' },
      busy: { type: 'string', default: '0' },
      soak: { type: 'string' },
      'no-reference': { type: 'boolean', default: false },
      port: { type: 'string' },
      'out-dir': { type: 'string' },
      keep: { type: 'boolean', default: false },
      'results-dir': { type: 'string' },
      'no-results': { type: 'boolean', default: false },
      'tax-rounds': { type: 'string', default: '5' },
      'tax-only': { type: 'boolean', default: false },
      'floor-rounds': { type: 'string', default: '3' },
      'open-passes': { type: 'string', default: '5' },
      'open-rounds': { type: 'string', default: '3' },
      'open-only': { type: 'boolean', default: false },
      'startup-only': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const integer = (text: string | undefined, name: string, min: number): number => {
    const value = Number(text);
    if (!/^\d+$/.test(text ?? '') || value < min) throw new UsageFailure(`--${name}: expected an integer >= ${min}, got "${text}"`);
    return value;
  };
  return {
    connections: integer(values.connections, 'connections', 1),
    warmup: integer(values.warmup, 'warmup', 0),
    rate: integer(values.rate, 'rate', 0),
    generators: integer(values.generators, 'generators', 1),
    coldRuns: integer(values['cold-runs'], 'cold-runs', 0),
    coldSeconds: integer(values['cold-seconds'], 'cold-seconds', 1),
    rounds: integer(values.rounds, 'rounds', 1),
    startupRuns: integer(values['startup-runs'], 'startup-runs', 0),
    bufferPages: values['buffer-pages'] === undefined ? null : integer(values['buffer-pages'], 'buffer-pages', 1),
    busy: integer(values.busy, 'busy', 0),
    soak: values.soak === undefined ? null : integer(values.soak, 'soak', 1),
    reference: !values['no-reference'],
    port: values.port === undefined ? 20000 + Math.floor(Math.random() * 10000) : integer(values.port, 'port', 1),
    addresses: 64,
    outDir: values['out-dir'] ?? null,
    keep: values.keep === true,
    resultsDir: values['no-results'] ? null : (values['results-dir'] ?? join(ROOT, 'bench', 'results')),
    taxRounds: integer(values['tax-rounds'], 'tax-rounds', 0),
    taxOnly: values['tax-only'] === true,
    floorRounds: integer(values['floor-rounds'], 'floor-rounds', 0),
    openPasses: integer(values['open-passes'], 'open-passes', 0),
    openRounds: integer(values['open-rounds'], 'open-rounds', 0),
    openOnly: values['open-only'] === true,
    startupOnly: values['startup-only'] === true,
  };
}

class UsageFailure extends Error {}

/** Children we started, killed (by pid) if the bench is interrupted. */
const children = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function exited(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? 128);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 0))));
}

/** Builds the C helpers (the Makefile's bench target) when missing or older than their source. */
function buildHelpers(): void {
  make('dist/bench/loadgen', 'dist/bench/measure');
}

// --- tracefs, for libbpf-tools: mounted only while it attaches, and only if absent.

/** Mounts tracefs if absent; returns whether we did (and so must unmount). */
function mountTracefs(): boolean {
  if (tracefsMounted()) return false;
  execFileSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS]);
  return true;
}

function unmountTracefs(): void {
  try {
    execFileSync('umount', [TRACEFS], { stdio: 'ignore' });
  } catch {
    process.stderr.write(`bench: could not unmount ${TRACEFS} (busy?); unmount it by hand\n`);
  }
}

// --- /proc readings

function fdKinds(pid: number): Map<string, number> {
  const kinds = new Map<string, number>();
  for (const { target } of openFds(pid)) kinds.set(target, (kinds.get(target) ?? 0) + 1);
  return kinds;
}

/** Whether the tracer has attached and opened its per-CPU rings (after which
 * both tools print their header at once). */
function attached(tool: ToolName, pid: number, cpuCount: number): boolean {
  const kinds = fdKinds(pid);
  const perfEvents = kinds.get('anon_inode:[perf_event]') ?? 0;
  if (tool === 'ours') return (kinds.get('anon_inode:bpf_link') ?? 0) >= 1 && perfEvents >= cpuCount;
  // --metrics alone: no rings, only the programs' links.
  if (tool === 'metrics') return (kinds.get('anon_inode:bpf_link') ?? 0) >= 2;
  // libbpf-tools: the tracepoint's perf event, then the perf buffer (epoll + one per CPU).
  return perfEvents >= cpuCount + 1 && (kinds.get('anon_inode:[eventpoll]') ?? 0) >= 1;
}

/** ns on CPU so far, all threads. */
function cpuNs(pid: number): number {
  const texts: string[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      texts.push(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8'));
    } catch {
      // thread gone
    }
  }
  return sumSchedstatNs(texts);
}

let clockTickUs: number | null = null;

/** µs per clock tick (the unit of /proc/<pid>/stat times). */
function tickUs(): number {
  clockTickUs ??= 1e6 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  return clockTickUs;
}

function procStatTicks(pid: number): { userTicks: number; kernelTicks: number } {
  return parseProcStatTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) ?? { userTicks: 0, kernelTicks: 0 };
}

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : Number.NaN;
}

// --- runs

function toolCommand(tool: ToolName, options: Options): string[] {
  if (tool === 'metrics') return [OUR_TOOL, '--metrics', '0'];
  if (tool === 'ours') {
    // Run as users run it: the kernel reads the bin's #! line (its sh line
    // drops NODE_EXTRA_CA_CERTS, which node bin/tcpstates would parse).
    return [OUR_TOOL, ...(options.bufferPages === null ? [] : ['--buffer-pages', String(options.bufferPages)])];
  }
  return [REFERENCE];
}

/** One generator process (in a network namespace of its own). */
async function runOneLoadgen(options: Options, connections: number, maxSeconds: number): Promise<LoadgenResult> {
  const args = ['--netns', '--count', String(connections), '--port', String(options.port), '--addresses', String(options.addresses)];
  if (options.rate > 0) args.push('--rate', String(Math.ceil(options.rate / options.generators)));
  args.push('--seconds', String(maxSeconds));
  const child = track(spawn(LOADGEN, args, { stdio: ['ignore', 'pipe', 'inherit'] }));
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  // 'exit' can come before the last of stdout has been read: its summary
  // line would then be missing. The pipe's end comes after all of it.
  const drained = new Promise<void>((resolve) => (child.stdout === null ? resolve() : child.stdout.once('close', () => resolve())));
  const code = await exited(child);
  await drained;
  if (code !== 0) throw new Error(`the generator failed (exit ${code})`);
  return parseLoadgen(stdout);
}

/** `connections` spread over --generators processes running at once. */
async function runLoadgen(options: Options, connections: number): Promise<LoadgenResult> {
  const each = Math.ceil(connections / options.generators);
  const maxSeconds = Math.ceil(60 + connections / Math.max(options.rate, 1000));
  return combineLoadgens(await Promise.all(Array.from({ length: options.generators }, () => runOneLoadgen(options, each, maxSeconds))));
}

/** Rows the generators cause: each opens and closes its own listeners. */
function expectedForLoad(load: LoadgenResult, options: Options): number {
  return expectedRows(load.connections, options.addresses * options.generators);
}

interface RunningTracer {
  readonly tool: ToolName;
  /** measure, running the tool. */
  readonly measure: TracerProcess;
  /** The tool's own pid (measure's child). */
  readonly pid: number;
  readonly reportPath: string;
  /** Where its stderr is saved once it has stopped. */
  readonly errPath: string;
}

/**
 * Starts the tool under measure (which reports its CPU time and peak RSS),
 * its rows into `outPath`: a million rows through a pipe to this process
 * would take CPU from the two the measurement shares.
 */
async function startTracer(tool: ToolName, options: Options, outPath: string, errPath: string, reportPath: string): Promise<RunningTracer> {
  const cpuCount = cpus().length;
  const mounted = tool === 'reference' ? mountTracefs() : false;
  try {
    const outFd = openSync(outPath, 'w');
    let measure: TracerProcess;
    try {
      measure = TracerProcess.start([], process.env, { wrapper: [MEASURE, reportPath, '--'], command: toolCommand(tool, options), stdout: outFd });
    } finally {
      closeSync(outFd);
    }
    track(measure.child);
    // Its header goes to the file: attached once it holds its rings (see attached()).
    const deadline = Date.now() + 15_000;
    let pid: number | null = null;
    while (Date.now() < deadline && measure.child.exitCode === null) {
      pid ??= existsSync(reportPath) ? parseMeasurePid(readFileSync(reportPath, 'utf8')) : null;
      if (pid !== null && attached(tool, pid, cpuCount)) return { tool, measure, pid, reportPath, errPath };
      await sleep(2);
    }
    measure.child.kill('SIGKILL');
    throw new Error(`${tool} did not attach: ${measure.stderr.text.trim() || 'no message'}`);
  } finally {
    if (mounted) unmountTracefs();
  }
}

async function stopTracer(
  tracer: RunningTracer,
): Promise<{ cpuUs: number; userUs: number; kernelUs: number; maxRssKb: number; stderr: string }> {
  // Not TracerProcess.stop(): on a hang, kill the tool, not measure, so
  // that measure still writes its report.
  tracer.measure.child.kill('SIGINT');
  const timeout = setTimeout(() => {
    process.stderr.write(`bench: ${tracer.tool} did not stop in 10 s; killing it\n`);
    try {
      process.kill(tracer.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 10_000);
  await tracer.measure.exited;
  clearTimeout(timeout);
  const stderr = tracer.measure.stderr.text;
  writeFileSync(tracer.errPath, stderr);
  const report = parseMeasureReport(readFileSync(tracer.reportPath, 'utf8'));
  if (report === null) throw new Error(`no resource report for ${tracer.tool}`);
  if (report.status !== 0) throw new Error(`${tracer.tool} exited with ${report.status}: ${stderr.trim()}`);
  return { cpuUs: report.cpuUs, userUs: report.userUs, kernelUs: report.kernelUs, maxRssKb: report.maxRssKb, stderr };
}

/** --metrics alone: the events it has counted so far (tcpstates_events_total, read from the maps at the scrape). */
async function scrapeEvents(tracer: RunningTracer): Promise<number> {
  const port = /serving metrics on http:\/\/[^ ]*:(\d+)\/metrics/.exec(tracer.measure.stderr.text)?.[1];
  if (port === undefined) throw new Error(`metrics: no port announced: ${tracer.measure.stderr.text.trim()}`);
  const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const events = /^tcpstates_events_total (\d+)$/m.exec(body)?.[1];
  if (events === undefined) throw new Error('metrics: no tcpstates_events_total in the scrape');
  return Number(events);
}

/** Rows written so far: one per event handled (a block-buffered tool's
 * last few rows may still be in its buffer). */
function countHandled(path: string, port: number): number {
  return countRows(path, port).rows;
}

function countRows(path: string, port: number): RowCounter {
  const counter = new RowCounter(port);
  const decoder = new TextDecoder();
  const fd = openSync(path, 'r');
  const chunk = Buffer.alloc(1 << 20);
  try {
    for (let read = readSync(fd, chunk); read > 0; read = readSync(fd, chunk)) {
      counter.feed(decoder.decode(chunk.subarray(0, read), { stream: true }));
    }
  } finally {
    closeSync(fd);
  }
  counter.feed(decoder.decode());
  counter.end();
  return counter;
}

/**
 * Events a stopped tracer lost and handled: ours says both in its summary
 * line; libbpf-tools prints "lost N events" lines, and a row per event.
 */
function lostAndHandled(tool: ToolName, stderr: string, counted: RowCounter | (() => RowCounter)): { lost: number; handled: number } {
  if (tool === 'ours' || tool === 'metrics') {
    const summary = parseOurSummary(stderr);
    if (summary === null) throw new Error(`no summary line from our tool: ${stderr.trim()}`);
    return { lost: summary.lost, handled: summary.read };
  }
  return { lost: sumLostLines(stderr), handled: (typeof counted === 'function' ? counted() : counted).rows };
}

interface Trial {
  readonly tool: ToolName;
  readonly round: number;
  /** The measured load (after the warm-up). */
  readonly load: LoadgenResult;
  /** Generator connections and rows expected over the whole run, warm-up included. */
  readonly connections: number;
  readonly expected: number;
  /** Rows for the generator's port; all rows; events the tool says it lost. */
  readonly portRows?: number;
  readonly rows?: number;
  readonly lost?: number;
  /** Events the tool handled (ours: its own count; reference: its rows). */
  readonly handled?: number;
  /** CPU from the start of the load to exit, and in all. */
  readonly loadCpuUs?: number;
  /** The same, split into user and kernel time (clock-tick resolution). */
  readonly loadUserUs?: number;
  readonly loadKernelUs?: number;
  readonly totalCpuUs?: number;
  readonly maxRssKb?: number;
  readonly transitions?: Map<string, number>;
}

/** The floor's program and its options, when it could be built. */
let floor: { readonly built: { object: string; loader: string }; readonly options: FloorOptions } | null = null;

async function runTrial(tool: ToolName, round: number, options: Options, dir: string): Promise<Trial> {
  const warm = async (): Promise<number> => (options.warmup > 0 ? (await runLoadgen(options, options.warmup)).connections : 0);
  /** Rows for both generator runs (each opens and closes its listeners). */
  const expectedFor = (warmConnections: number, load: LoadgenResult) =>
    (warmConnections > 0 ? expectedRows(warmConnections, options.addresses * options.generators) : 0) + expectedForLoad(load, options);
  if (tool === 'untraced') {
    const warmConnections = await warm();
    const load = await runLoadgen(options, options.connections);
    return { tool, round, load, connections: warmConnections + load.connections, expected: expectedFor(warmConnections, load) };
  }
  if (FLOOR_TOOLS.includes(tool)) {
    if (floor === null) throw new Error('the floor is not built');
    const run = await runFloor(FLOOR_TOOL_MODES[tool as keyof typeof FLOOR_TOOL_MODES], round, floor.built, floor.options);
    return { tool, round, load: run.load, connections: run.load.connections, expected: run.expected };
  }
  const base = join(dir, `${round}-${tool}`);
  const tracer = await startTracer(tool, options, `${base}.out`, `${base}.err`, `${base}.report`);
  await sleep(SETTLE_MS);
  const warmConnections = await warm();
  if (options.warmup > 0) await sleep(DRAIN_MS);
  const handledBefore = tool === 'metrics' ? await scrapeEvents(tracer) : countHandled(`${base}.out`, options.port);
  const cpuAtLoadNs = cpuNs(tracer.pid);
  const ticksAtLoad = procStatTicks(tracer.pid);
  const load = await runLoadgen(options, options.connections);
  await sleep(DRAIN_MS);
  // The load phase ends here, when everything has been read: the stop
  // (detach, the last counts, exit) is start-up's twin, not a per-event cost.
  const loadCpuUs = (cpuNs(tracer.pid) - cpuAtLoadNs) / 1000;
  const ticksAfterLoad = procStatTicks(tracer.pid);
  const { cpuUs, maxRssKb, stderr } = await stopTracer(tracer);
  const counted = countRows(`${base}.out`, options.port);
  const { lost, handled } = lostAndHandled(tool, stderr, counted);
  if (!options.keep) {
    for (const suffix of ['.out', '.err', '.report']) rmSync(`${base}${suffix}`, { force: true });
  }
  return {
    tool,
    round,
    load,
    connections: warmConnections + load.connections,
    expected: expectedFor(warmConnections, load),
    // --metrics: no rows; the events it counted stand for them (the machine is otherwise quiet).
    portRows: tool === 'metrics' ? handled : counted.portRows,
    rows: tool === 'metrics' ? handled : counted.rows,
    lost,
    handled: handled - handledBefore,
    loadCpuUs,
    loadUserUs: (ticksAfterLoad.userTicks - ticksAtLoad.userTicks) * tickUs(),
    loadKernelUs: (ticksAfterLoad.kernelTicks - ticksAtLoad.kernelTicks) * tickUs(),
    totalCpuUs: cpuUs,
    maxRssKb,
    transitions: counted.transitions,
  };
}

function describeTrial(trial: Trial): string {
  let text = `round ${trial.round} ${trial.tool.padEnd(9)} ${trial.load.rate.toFixed(0).padStart(6)} conn/s (${trial.load.connections} in ${trial.load.seconds.toFixed(2)} s)`;
  if (trial.tool !== 'untraced' && !FLOOR_TOOLS.includes(trial.tool)) {
    const perEvent = (trial.loadCpuUs as number) / Math.max(trial.handled as number, 1);
    text += `  rows ${trial.portRows}/${trial.expected} expected, ${trial.lost} lost, ${trial.handled} handled`;
    text += `  cpu ${perEvent.toFixed(2)} us/event (${((trial.loadCpuUs as number) / 1000).toFixed(0)} ms load, ${((trial.totalCpuUs as number) / 1000).toFixed(0)} ms total)`;
    text += `  rss ${((trial.maxRssKb as number) / 1024).toFixed(1)} MB`;
  }
  return text;
}

/** Checks the generator's 10 transitions per connection in one traced run. */
function checkTransitions(trial: Trial): string {
  const seen = trial.transitions as Map<string, number>;
  const lines = TRANSITIONS_PER_CONNECTION.map((key) => `${key} ${seen.get(key) ?? 0}`);
  const exact = TRANSITIONS_PER_CONNECTION.every((key) => seen.get(key) === trial.connections);
  return `${exact ? 'ok' : 'MISMATCH'}: ${trial.connections} connections -> ${lines.join(', ')}`;
}

// --- start-up

interface Startup {
  /** Spawn to header line on stdout. */
  readonly headerMs: number;
  /** One connection on an otherwise quiet tracer: connect() to its first row. */
  readonly quietRowMs: number;
  /** Node alone only: the same without NODE_EXTRA_CA_CERTS (see BARE_ENV). */
  readonly bareHeaderMs?: number;
}

/** Node alone: `node -e` printing one line, the floor under any start-up of ours. */
const NODE_ALONE = [process.execPath, '-e', 'console.log("up")'];

/**
 * The bench's environment without NODE_EXTRA_CA_CERTS, which Node reads and
 * parses at every start (some 35 ms for Debian's bundle) and the tools drop
 * before Node starts (bin/tcpstates): Node alone started so is the floor
 * the tools' own start-up is to be compared with. Null when the variable
 * is not set (Node alone is then already bare).
 */
const BARE_ENV: NodeJS.ProcessEnv | null =
  process.env.NODE_EXTRA_CA_CERTS === undefined ? null : Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_EXTRA_CA_CERTS'));

/**
 * Spawns `command` and waits for its first line on stdout (the header),
 * libbpf-tools (`reference`) with tracefs mounted only meanwhile, as it
 * attaches through it. Returns the running process, for the caller to stop;
 * on failure nothing is left running or mounted.
 */
async function startToHeader(command: string[], reference: boolean, env: NodeJS.ProcessEnv = process.env): Promise<{ tracer: TracerProcess; headerMs: number }> {
  const mounted = reference ? mountTracefs() : false;
  const started = process.hrtime.bigint();
  const tracer = TracerProcess.start([], env, { command });
  track(tracer.child);
  try {
    await tracer.waitForStdout(() => true, `${command.join(' ')}: header`, 15_000);
    return { tracer, headerMs: Number(process.hrtime.bigint() - started) / 1e6 };
  } catch (error) {
    tracer.child.kill('SIGKILL');
    throw error;
  } finally {
    if (mounted) unmountTracefs();
  }
}

/**
 * Start-up and latency, on a pipe (libbpf-tools made line-buffered with
 * stdbuf, as it would be block-buffered): time to the header, then time
 * from one loopback connect() to its first row.
 */
async function measureStartup(tool: ToolName, options: Options): Promise<Startup> {
  const command = tool === 'ours' ? toolCommand(tool, options) : ['stdbuf', '-oL', REFERENCE];
  const { tracer, headerMs } = await startToHeader(command, tool === 'reference');
  let server: LoopbackServer | null = null;
  try {
    server = await startServer('127.0.0.1');
    const port = server.port;
    await sleep(100); // quiet: nothing of ours for the tracer to read
    const connectAt = process.hrtime.bigint();
    const session = clientSession(server.host, port, 0, '');
    await tracer.waitForStdout((line) => rowHasPort(line, port), `${tool}: row for a quiet connection`, 15_000);
    const rowAt = process.hrtime.bigint();
    await session;
    await tracer.stop();
    return { headerMs, quietRowMs: Number(rowAt - connectAt) / 1e6 };
  } finally {
    tracer.child.kill('SIGKILL'); // when it failed: a stopped one is gone
    await server?.close();
  }
}

/** Spawn to the first line on stdout of `command`, then a clean stop. */
async function headerMs(command: string[], reference: boolean, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const started = await startToHeader(command, reference, env);
  try {
    await started.tracer.stop();
    return started.headerMs;
  } finally {
    started.tracer.child.kill('SIGKILL'); // when it failed: a stopped one is gone
  }
}

/** Node alone, in the bench's environment and bare: spawn to the first line of `node -e`. */
async function measureNodeAlone(): Promise<Startup> {
  const bare = BARE_ENV === null ? {} : { bareHeaderMs: await headerMs(NODE_ALONE, false, BARE_ENV) };
  return { headerMs: await headerMs(NODE_ALONE, false), quietRowMs: Number.NaN, ...bare };
}

/**
 * --startup-only: start to header of both tools, ours and libbpf-tools'
 * (under stdbuf -oL, as on a pipe it needs), beside Node alone, in rotating
 * order, `startupRuns` rounds. Issue 22's bound is ours within Node alone
 * plus libbpf-tools; where the environment sets NODE_EXTRA_CA_CERTS, which
 * the tools drop, also within bare Node plus libbpf-tools.
 */
async function measureBothStartups(options: Options): Promise<ResultTable> {
  const setups: Record<string, { command: string[]; reference: boolean; env?: NodeJS.ProcessEnv }> = {
    node: { command: NODE_ALONE, reference: false },
    ...(BARE_ENV === null ? {} : { 'bare node': { command: NODE_ALONE, reference: false, env: BARE_ENV } }),
    tcpstates: { command: [OUR_TOOL], reference: false },
    tcplife: { command: [join(ROOT, 'bin', 'tcplife')], reference: false },
    ...(options.reference
      ? {
          'libbpf-tools tcpstates': { command: ['stdbuf', '-oL', REFERENCE], reference: true },
          'libbpf-tools tcplife': { command: ['stdbuf', '-oL', REFERENCE_TCPLIFE], reference: true },
        }
      : {}),
  };
  const runs = new Map<string, number[]>(Object.keys(setups).map((name) => [name, []]));
  for (let round = 1; round <= options.startupRuns; round++) {
    for (const name of rotated(Object.keys(setups), round)) {
      const { command, reference, env } = setups[name]!;
      runs.get(name)!.push(await headerMs(command, reference, env));
      await sleep(50);
    }
  }
  const medianOf = (name: string) => median(runs.get(name) ?? []);
  process.stdout.write(`start to header, ms: ${[...runs].map(([name, times]) => `${name} ${times.map((ms) => ms.toFixed(1)).join(' ')}`).join('; ')}\n`);
  const bare = runs.has('bare node');
  const row = (tool: 'tcpstates' | 'tcplife'): string[] => {
    const reference = `libbpf-tools ${tool}`;
    const bound = (node: string): string => (runs.has(reference) ? fmt(medianOf(node) + medianOf(reference), 1) : '');
    return [tool, fmt(medianOf(tool), 1), runs.has(reference) ? fmt(medianOf(reference), 1) : '', bound('node'), ...(bare ? [bound('bare node')] : [])];
  };
  const nodeRow = (name: string, label: string): string[] => [label, fmt(medianOf(name), 1), '', '', ...(bare ? [''] : [])];
  return {
    id: 'startup',
    title: `Start to header on a pipe (median of ${options.startupRuns}, rotating)`,
    columns: ['start to header ms (median)', 'ours', 'libbpf-tools', 'Node alone + libbpf-tools', ...(bare ? ['bare Node + libbpf-tools'] : [])],
    rows: [
      row('tcpstates'),
      row('tcplife'),
      nodeRow('node', 'Node alone (node -e)'),
      ...(bare ? [nodeRow('bare node', 'bare Node: without NODE_EXTRA_CA_CERTS, as the tools start it')] : []),
    ],
  };
}

// --- cold starts into a running load

interface ColdRun {
  readonly tool: ToolName;
  readonly run: number;
  /** The whole load, traced or not. */
  readonly load: LoadgenResult;
  readonly lost: number;
  /** Of `lost`: dropped because a ring was full (ours; libbpf-tools: all). */
  readonly ringFull: number;
  /** Events the tool read (ours: its count; libbpf-tools: its rows). */
  readonly handled: number;
  readonly userUs: number;
  readonly kernelUs: number;
  readonly maxRssKb: number;
}

/**
 * Starts a tracer while --generators processes already run at full speed,
 * as a user starts it on a busy server: its JIT, rings and first reads all
 * happen under the load. Traces for --cold-seconds, then stops it; the
 * generators run on a little longer, so the tracer stops under load too.
 */
async function coldRun(tool: ToolName, run: number, options: Options, dir: string): Promise<ColdRun> {
  const base = join(dir, `cold-${run}-${tool}`);
  const loadSeconds = options.coldSeconds + 2;
  const load = Promise.all(Array.from({ length: options.generators }, () => runOneLoadgen(options, 100_000_000, loadSeconds)));
  try {
    await sleep(300);
    const tracer = await startTracer(tool, options, `${base}.out`, `${base}.err`, `${base}.report`);
    await sleep(options.coldSeconds * 1000);
    const { userUs, kernelUs, maxRssKb, stderr } = await stopTracer(tracer);
    const { lost, handled } = lostAndHandled(tool, stderr, () => countRows(`${base}.out`, options.port));
    // Ours: "lost N events: the perf ring was full" lines; the rest of its
    // total are "missed N events" (the program re-entered on a CPU).
    const ringFull = sumLostLines(stderr);
    if (!options.keep) {
      for (const suffix of ['.out', '.err', '.report']) rmSync(`${base}${suffix}`, { force: true });
    }
    return { tool, run, load: combineLoadgens(await load), lost, ringFull, handled, userUs, kernelUs, maxRssKb };
  } finally {
    await load.catch(() => undefined);
  }
}

function describeColdRun(cold: ColdRun): string {
  return (
    `cold ${String(cold.run).padStart(2)} ${cold.tool.padEnd(9)} load ${cold.load.rate.toFixed(0).padStart(6)} conn/s, ` +
    `${cold.handled} events read, ${cold.lost} lost (${cold.ringFull} ring full), user ${(cold.userUs / Math.max(cold.handled, 1)).toFixed(2)} + kernel ` +
    `${(cold.kernelUs / Math.max(cold.handled, 1)).toFixed(2)} us/event incl. start-up, rss ${(cold.maxRssKb / 1024).toFixed(1)} MB`
  );
}

function summarizeCold(runs: readonly ColdRun[], options: Options): ResultTable {
  const tools: ToolName[] = ['ours', ...(options.reference ? (['reference'] as const) : [])];
  const of = (tool: ToolName) => runs.filter((run) => run.tool === tool);
  const perEvent = (pick: (run: ColdRun) => number) => (tool: ToolName) =>
    fmt(median(of(tool).map((run) => pick(run) / Math.max(run.handled, 1))), 2);
  const rows: string[][] = [
    ['runs', ...tools.map((tool) => fmt(of(tool).length))],
    ['load conn/s, all generators (median)', ...tools.map((tool) => fmt(median(of(tool).map((run) => run.load.rate))))],
    ['events read per run (median)', ...tools.map((tool) => fmt(median(of(tool).map((run) => run.handled))))],
    ['runs with events lost', ...tools.map((tool) => fmt(of(tool).filter((run) => run.lost > 0).length))],
    ['events lost per run (max)', ...tools.map((tool) => fmt(Math.max(0, ...of(tool).map((run) => run.lost))))],
    ['events lost, all runs', ...tools.map((tool) => fmt(of(tool).reduce((sum, run) => sum + run.lost, 0)))],
    ['  of which a ring was full', ...tools.map((tool) => fmt(of(tool).reduce((sum, run) => sum + run.ringFull, 0)))],
    ['  runs with a full ring', ...tools.map((tool) => fmt(of(tool).filter((run) => run.ringFull > 0).length))],
    ['user CPU us/event incl. start-up (median)', ...tools.map(perEvent((run) => run.userUs))],
    ['kernel CPU us/event incl. start-up (median)', ...tools.map(perEvent((run) => run.kernelUs))],
    ['peak RSS MB (max)', ...tools.map((tool) => fmt(Math.max(...of(tool).map((run) => run.maxRssKb)) / 1024, 1))],
  ];
  return { id: 'cold', title: 'Cold starts into a running load', columns: ['cold start into the load', 'ours', ...(options.reference ? ['libbpf-tools'] : [])], rows };
}

// --- reports

function summarize(trials: readonly Trial[], startups: Map<ToolName, Startup[]>, options: Options): ResultTable {
  const tools = traceTools(options);
  const of = (tool: ToolName) => trials.filter((trial) => trial.tool === tool);
  const rates = new Map(tools.map((tool) => [tool, median(of(tool).map((trial) => trial.load.rate))]));
  const untraced = rates.get('untraced') as number;
  const column = (tool: ToolName, pick: (runs: Trial[]) => string) => (tool === 'untraced' ? '' : pick(of(tool)));
  const rows: string[][] = [
    ['workload conn/s (median)', ...tools.map((tool) => fmt(rates.get(tool) as number))],
    ['  vs untraced', ...tools.map((tool) => `${fmt((rates.get(tool) as number) / untraced, 2)}x`)],
  ];
  if (options.reference) {
    const reference = rates.get('reference') as number;
    rows.push(['  vs libbpf-tools', ...tools.map((tool) => (tool === 'untraced' || tool === 'reference' ? '' : `${fmt((rates.get(tool) as number) / reference, 2)}x`))]);
  }
  rows.push(
    ['state changes expected per run', ...tools.map((tool) => fmt(median(of(tool).map((trial) => trial.expected))))],
    [
      'generator rows received (min / median)',
      ...tools.map((tool) =>
        column(tool, (runs) => `${fmt(Math.min(...runs.map((trial) => trial.portRows as number)))} / ${fmt(median(runs.map((trial) => trial.portRows as number)))}`),
      ),
    ],
    [
      'missing rows (max of runs)',
      ...tools.map((tool) => column(tool, (runs) => fmt(Math.max(...runs.map((trial) => trial.expected - (trial.portRows as number)))))),
    ],
    [
      'events lost, reported (all runs)',
      ...tools.map((tool) => column(tool, (runs) => fmt(runs.reduce((sum, trial) => sum + (trial.lost as number), 0)))),
    ],
    [
      'tracer CPU us/event, load phase (median)',
      ...tools.map((tool) =>
        column(tool, (runs) => fmt(median(runs.map((trial) => (trial.loadCpuUs as number) / Math.max(trial.handled as number, 1))), 2)),
      ),
    ],
    [
      '  of which user / kernel',
      ...tools.map((tool) =>
        column(
          tool,
          (runs) =>
            `${fmt(median(runs.map((trial) => (trial.loadUserUs as number) / Math.max(trial.handled as number, 1))), 2)} / ` +
            fmt(median(runs.map((trial) => (trial.loadKernelUs as number) / Math.max(trial.handled as number, 1))), 2),
        ),
      ),
    ],
    [
      'tracer CPU ms, whole run incl. start-up (median)',
      ...tools.map((tool) => column(tool, (runs) => fmt(median(runs.map((trial) => (trial.totalCpuUs as number) / 1000))))),
    ],
    [
      'peak RSS MB (max of runs)',
      ...tools.map((tool) => column(tool, (runs) => fmt(Math.max(...runs.map((trial) => trial.maxRssKb as number)) / 1024, 1))),
    ],
    [
      'start to header ms (median; untraced: Node alone, node -e)',
      ...tools.map((tool) => ((startups.get(tool) ?? []).length === 0 ? '' : fmt(median((startups.get(tool) ?? []).map((run) => run.headerMs)), 1))),
    ],
    ...(BARE_ENV === null
      ? []
      : [
          [
            'start to first line ms, bare Node: without NODE_EXTRA_CA_CERTS, as the tools start it (median)',
            ...tools.map((tool) => (tool === 'untraced' && (startups.get(tool) ?? []).length > 0 ? fmt(median((startups.get(tool) ?? []).map((run) => run.bareHeaderMs ?? Number.NaN)), 1) : '')),
          ],
        ]),
    [
      'quiet connection to its row ms (max)',
      ...tools.map((tool) => ((startups.get(tool) ?? []).length === 0 || tool === 'untraced' ? '' : fmt(Math.max(...(startups.get(tool) ?? []).map((run) => run.quietRowMs)), 1))),
    ],
  );
  const columns = ['warm runs', 'untraced', 'ours', 'ours --metrics', ...(options.reference ? ['libbpf-tools'] : [])];
  return { id: 'warm', title: 'Warm runs', columns, rows };
}

/**
 * Issue 22's target: --metrics alone within 3 % of the storage-only floor
 * (its workload ratio to untraced over the floor's), and no CPU per event
 * in the tracer process. Beside the rates, the generators' own CPU per
 * connection: on loopback the whole of each transition runs in their
 * syscalls (and the softirqs these raise), so it is what the programs cost,
 * measured per connection rather than through the rate of a shared machine.
 */
function summarizeAgainstFloor(trials: readonly Trial[], options: Options): ResultTable {
  const of = (tool: ToolName) => trials.filter((trial) => trial.tool === tool);
  const rate = (tool: ToolName) => median(of(tool).map((trial) => trial.load.rate));
  const cpuNsPerConnection = (tool: ToolName) => median(of(tool).map((trial) => (trial.load.cpuUs * 1000) / trial.load.connections));
  const untraced = rate('untraced');
  const storage = rate('floor') / untraced;
  const storageCpu = cpuNsPerConnection('floor');
  const row = (label: string, tool: ToolName): string[] => [
    label,
    `${fmt(rate(tool) / untraced, 2)}x`,
    fmt(rate(tool) / untraced / storage, 3),
    fmt(cpuNsPerConnection(tool)),
    fmt(storageCpu / cpuNsPerConnection(tool), 3),
  ];
  const label = (tool: ToolName) => (tool === 'metrics' ? 'ours --metrics' : tool === 'reference' ? 'libbpf-tools' : 'ours (rows)');
  const metrics = of('metrics');
  const nsPerEvent = median(metrics.map((trial) => ((trial.loadCpuUs as number) * 1000) / Math.max(trial.handled as number, 1)));
  const rows: string[][] = [
    ['untraced', '1.00x', '', fmt(cpuNsPerConnection('untraced')), ''],
    row("socket storage only (the floor's program)", 'floor'),
    row('socket storage and a second, empty program (the floor under a nesting cover)', 'floor-second'),
    row('a hash by socket address and a second, empty program (the floor under our design)', 'floor-hash'),
    ...traceTools(options)
      .filter((tool) => tool !== 'untraced')
      .map((tool) => row(label(tool), tool)),
    ['ours --metrics: tracer process CPU ns per transition, load phase (median)', fmt(nsPerEvent, 1), '', '', ''],
  ];
  const columns = [
    'the always-on agent against the floor',
    'workload vs untraced',
    'of the storage floor',
    'workload CPU ns per connection',
    'of the storage floor, by CPU',
  ];
  return { id: 'agent-floor', title: 'The always-on agent against the storage floor (warm runs, same rotation)', columns, rows };
}

// --- soak

async function soak(options: Options, connections: number): Promise<void> {
  const dir = mkdtempSync(join(options.outDir ?? tmpdir(), 'tcpstates-soak-'));
  const tracer = await startTracer('ours', options, '/dev/null', join(dir, 'err'), join(dir, 'report'));
  const startedAt = Date.now();
  const samples: { seconds: number; rssKb: number }[] = [];
  const sample = () => samples.push({ seconds: (Date.now() - startedAt) / 1000, rssKb: statusKb(tracer.pid, 'VmRSS') });
  sample();
  const sampler = setInterval(sample, 1000);
  let load: LoadgenResult;
  try {
    load = await runLoadgen(options, connections);
    await sleep(DRAIN_MS);
    sample();
  } finally {
    clearInterval(sampler);
  }
  const { cpuUs, maxRssKb, stderr } = await stopTracer(tracer);
  rmSync(dir, { recursive: true, force: true });
  const summary = parseOurSummary(stderr);
  const step = Math.max(1, Math.floor(samples.length / 12));
  const shown = samples.filter((_, index) => index % step === 0 || index === samples.length - 1);
  process.stdout.write(
    `\nsoak: ${load.connections} connections in ${load.seconds.toFixed(1)} s (${load.rate.toFixed(0)} conn/s), ` +
      `${summary?.read ?? '?'} events read, ${summary?.lost ?? '?'} lost, CPU ${(cpuUs / 1e6).toFixed(1)} s ` +
      `(${(cpuUs / Math.max(summary?.read ?? 1, 1)).toFixed(2)} us/event incl. start-up)\n\n` +
      markdownTable(
        ['seconds', 'RSS MB'],
        shown.map((entry) => [entry.seconds.toFixed(0), (entry.rssKb / 1024).toFixed(1)]),
      ) +
      '\n',
  );
  const settled = samples.filter((entry) => entry.seconds >= 5).map((entry) => entry.rssKb);
  if (settled.length > 0) {
    process.stdout.write(
      `\nRSS from 5 s on: min ${(Math.min(...settled) / 1024).toFixed(1)} MB, max ${(Math.max(...settled) / 1024).toFixed(1)} MB, ` +
        `last ${((settled[settled.length - 1] as number) / 1024).toFixed(1)} MB; peak (VmHWM) ${(maxRssKb / 1024).toFixed(1)} MB\n`,
    );
  }
}

// --- results

/** Writes the run's tables as data (bench/results.ts), for docs/performance.md. */
function saveResults(options: Options, tables: readonly ResultTable[]): void {
  if (options.resultsDir === null || tables.length === 0) return;
  const path = writeResults(options.resultsDir, {
    schema: RESULTS_SCHEMA,
    date: new Date().toISOString(),
    machine: thisMachine(),
    commit: currentCommit(ROOT),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    tables,
  });
  process.stdout.write(`\nbench: results in ${path}; npm run bench:render puts them in docs/performance.md\n`);
}

// --- main

async function main(): Promise<void> {
  const options = readOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new UsageFailure('the benchmark needs root (it loads BPF programs and makes a network namespace)');
  if (options.reference && !existsSync(REFERENCE)) {
    process.stderr.write(`bench: ${REFERENCE} not found (apt-get install libbpf-tools); comparing without it\n`);
    options.reference = false;
  }
  buildHelpers();
  const tables: ResultTable[] = [];
  const burners = Array.from({ length: options.busy }, () =>
    track(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' })),
  );
  const driver: BenchDriver = {
    runLoadgen: (connections) => runLoadgen(options, connections),
    track,
    log: (line) => process.stdout.write(`${line}\n`),
  };
  const tracerTax = async (): Promise<void> => {
    if (options.taxRounds === 0) return;
    const tax = await measureTracerTax({
      root: ROOT,
      rounds: options.taxRounds,
      reference: options.reference,
      log: driver.log,
    });
    process.stdout.write(`\ntracer tax (median ns per operation, ratio to untraced):\n${tableMarkdown(tax.table)}\n`);
    tables.push(tax.table);
  };
  const openSessions = async (): Promise<void> => {
    if (options.openPasses === 0) return;
    const results = await measureOpenSessions({
      root: ROOT,
      passes: options.openPasses,
      ratioRounds: options.openRounds,
      connections: options.connections,
      settleMs: SETTLE_MS,
      ...driver,
    });
    for (const table of results) process.stdout.write(`\n${tableMarkdown(table)}\n`);
    tables.push(...results);
  };
  try {
    if (options.taxOnly) {
      await tracerTax();
      saveResults(options, tables);
      return;
    }
    if (options.openOnly) {
      await openSessions();
      saveResults(options, tables);
      return;
    }
    if (options.startupOnly) {
      const table = await measureBothStartups(options);
      process.stdout.write(`\n${tableMarkdown(table)}\n`);
      saveResults(options, [table]);
      return;
    }
    if (options.soak !== null) {
      await soak(options, options.soak);
      return;
    }
    const dir = mkdtempSync(join(options.outDir ?? tmpdir(), 'tcpstates-bench-'));
    process.stdout.write(
      `bench: ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${options.connections} connections per run from ${options.generators} generators` +
        `${options.rate ? ` at ${options.rate}/s` : ' at full speed'}, ${options.rounds} rounds, port ${options.port}` +
        `${options.busy ? `, ${options.busy} CPU burners` : ''}; outputs in ${dir}\n`,
    );
    const floorOptions: FloorOptions = {
      rounds: options.floorRounds,
      warmup: options.warmup,
      connections: options.connections,
      listeners: options.addresses * options.generators,
      settleMs: SETTLE_MS,
      drainMs: DRAIN_MS,
      ...driver,
    };
    const built = buildFloor();
    if ('skipped' in built) process.stderr.write(`bench: no storage floor in the warm runs: ${built.skipped}\n`);
    else floor = { built, options: floorOptions };
    const tools: ToolName[] = [...traceTools(options), ...(floor === null ? [] : FLOOR_TOOLS)];
    const trials: Trial[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      for (const tool of rotated(tools, round)) {
        const trial = await runTrial(tool, round, options, dir);
        trials.push(trial);
        process.stdout.write(`${describeTrial(trial)}\n`);
        if (round === 1 && tool === 'ours') process.stdout.write(`  transitions per connection: ${checkTransitions(trial)}\n`);
      }
    }
    const floorResult = options.floorRounds === 0 ? null : await measureFloor(floorOptions);
    const coldRuns: ColdRun[] = [];
    const coldTools = ['ours', ...(options.reference ? ['reference'] : [])] as ToolName[];
    for (let run = 1; run <= options.coldRuns; run++) {
      // libbpf-tools: 5 runs at most, enough to show what a cold start costs it.
      for (const tool of coldTools) {
        if (tool === 'reference' && run > Math.min(5, options.coldRuns)) continue;
        const cold = await coldRun(tool, run, options, dir);
        coldRuns.push(cold);
        process.stdout.write(`${describeColdRun(cold)}\n`);
      }
    }
    const startups = new Map<ToolName, Startup[]>([['untraced', []], ['ours', []], ['reference', []]]);
    for (let run = 0; run < options.startupRuns; run++) {
      startups.get('untraced')?.push(await measureNodeAlone());
      for (const tool of ['ours', ...(options.reference ? ['reference'] : [])] as ToolName[]) {
        startups.get(tool)?.push(await measureStartup(tool, options));
        await sleep(50);
      }
    }
    for (const [tool, runs] of startups) {
      if (runs.length === 0) continue;
      if (tool === 'untraced') {
        process.stdout.write(`start to first line, Node alone (node -e): ${runs.map((run) => run.headerMs.toFixed(1)).join(' ')} ms\n`);
        if (BARE_ENV !== null) process.stdout.write(`start to first line, bare Node: ${runs.map((run) => run.bareHeaderMs?.toFixed(1)).join(' ')} ms\n`);
        continue;
      }
      process.stdout.write(`start to header, ${tool}: ${runs.map((run) => run.headerMs.toFixed(1)).join(' ')} ms\n`);
      process.stdout.write(`quiet connection to its row, ${tool}: ${runs.map((run) => run.quietRowMs.toFixed(1)).join(' ')} ms\n`);
    }
    if (!options.keep) rmSync(dir, { recursive: true, force: true });
    tables.push(summarize(trials, startups, options));
    if (floor !== null) tables.push(summarizeAgainstFloor(trials, options));
    if (floorResult !== null) tables.push(floorResult.table);
    for (const table of tables) process.stdout.write(`\n${tableMarkdown(table)}\n`);
    await tracerTax();
    await openSessions();
    if (coldRuns.length > 0) {
      tables.push(summarizeCold(coldRuns, options));
      process.stdout.write(`\n${tableMarkdown(tables[tables.length - 1]!)}\n`);
    }
    saveResults(options, tables);
  } finally {
    for (const burner of burners) burner.kill('SIGKILL');
  }
}

/** SIGTERM, not SIGKILL: measure forwards it, so a tracer detaches cleanly. */
function killChildren(): void {
  for (const child of children) {
    try {
      child.kill('SIGTERM');
    } catch {
      // gone
    }
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killChildren();
    process.exit(130);
  });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    killChildren();
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(error instanceof UsageFailure ? 2 : 1);
  },
);
