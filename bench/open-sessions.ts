// SPDX-License-Identifier: MIT
// What open sessions cost (npm run bench; --open-rounds): the --existing seed
// and an --interval pass at 1,000, 10,000 and 100,000 open sessions (held by
// harness/fixtures/hold_many.py pairs: RLIMIT_NOFILE allows 20,000 sockets a
// process, so the connections are spread over several), and the workload's
// rate under tcplife with --interval 1 against tcplife without it and
// untraced, in the same run.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { openTrace } from '../src/bpf/loader.js';
import type { SizedTraceConfig } from '../src/bpf/config.js';
import { bindLibbpf } from '../src/ffi/libbpf.js';
import { seedOpenSockets } from '../src/open/iterators.js';
import { OpenSessionPasses } from '../src/open/pass.js';
import { fmt, median, rotated, type BenchDriver, type LoadgenResult } from './parse.js';
import type { ResultTable } from './results.js';

/** Sessions (sockets: both ends of a loopback connection are one each). */
export const OPEN_SESSION_SCALES: readonly number[] = [1000, 10_000, 100_000];
/** Connections one holder pair keeps: a process may hold 20,000 sockets. */
const CONNECTIONS_PER_PAIR = 17_000;
const SESSIONS: SizedTraceConfig = { mode: 'sessions', localPorts: null, remotePorts: null, family: 0, pids: null, netnsIno: null, cgroup: null, bufferPages: 64 };

export interface OpenSessionsBenchOptions extends BenchDriver {
  readonly root: string;
  /** Passes timed at each scale. */
  readonly passes: number;
  /** Rounds of the workload ratio (untraced, tcplife, tcplife --interval 1). */
  readonly ratioRounds: number;
  readonly connections: number;
  readonly settleMs: number;
}

/** A JSON-lines child (hold_many.py), its records read one at a time. */
class Holder {
  private readonly lines: string[] = [];
  private waiting: ((line: string) => void) | null = null;
  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (this.waiting) {
        const resolve = this.waiting;
        this.waiting = null;
        resolve(line);
      } else this.lines.push(line);
    });
  }
  next(): Promise<Record<string, unknown>> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(JSON.parse(line) as Record<string, unknown>);
    return new Promise((resolve) => (this.waiting = (text) => resolve(JSON.parse(text) as Record<string, unknown>)));
  }
}

/** Opens `connections` more loopback connections, held until `release`. */
async function holdConnections(root: string, connections: number, held: Holder[], track: OpenSessionsBenchOptions['track']): Promise<void> {
  const script = join(root, 'harness', 'fixtures', 'hold_many.py');
  for (let left = connections; left > 0; left -= CONNECTIONS_PER_PAIR) {
    const count = Math.min(left, CONNECTIONS_PER_PAIR);
    const python = (args: string[]) => new Holder(track(spawn('python3', [script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })));
    const server = python(['server', 'bosrv', String(count)]);
    const { port } = await server.next();
    const client = python(['client', 'bocli', String(port), String(count)]);
    await client.next(); // connected
    await server.next(); // accepted
    held.push(server, client);
  }
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

interface ScaleResult {
  readonly target: number;
  /** Sessions the pass visited (the holders' and whatever else is open). */
  readonly sessions: number;
  readonly seedMs: number;
  readonly seedCpuMs: number;
  readonly passMs: number;
  readonly passCpuMs: number;
  /** A pass that decodes only the sessions that moved (idle holders: none). */
  readonly movedPassMs: number;
}

function measureScale(target: number, passes: number): ScaleResult {
  const libbpf = bindLibbpf();
  const session = openTrace(libbpf, SESSIONS, { iterators: { seed: true, dump: true } });
  try {
    const links = session.iterators!;
    const seedCpu = process.cpuUsage();
    const seed = seedOpenSockets(libbpf, links, null);
    const seedCpuMs = cpuMs(seedCpu);
    const runner = new OpenSessionPasses(libbpf, links.dump!, null);
    runner.run(false, 0, 0); // the first reports what moved since the seed
    const full: { ms: number; cpu: number; sessions: number }[] = [];
    const moved: number[] = [];
    for (let pass = 0; pass < passes; pass++) {
      const cpu = process.cpuUsage();
      const snapshot = runner.run(false, 0, 0);
      full.push({ ms: snapshot.elapsedMs, cpu: cpuMs(cpu), sessions: snapshot.openSessions });
      moved.push(runner.run(true, 0, 0).elapsedMs);
    }
    return {
      target,
      sessions: median(full.map((pass) => pass.sessions)),
      seedMs: seed.elapsedMs,
      seedCpuMs,
      passMs: median(full.map((pass) => pass.ms)),
      passCpuMs: median(full.map((pass) => pass.cpu)),
      movedPassMs: median(moved),
    };
  } finally {
    session.close();
  }
}

/** tcplife (or untraced: null) running while the generators make `connections`. */
async function ratioRun(root: string, args: string[] | null, options: OpenSessionsBenchOptions): Promise<LoadgenResult> {
  if (args === null) return options.runLoadgen(options.connections);
  const tracer = options.track(spawn(join(root, 'bin', 'tcplife'), args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stderr = '';
  tracer.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    tracer.stdout!.once('data', () => resolve()); // the header: attached
    tracer.once('exit', (code) => reject(new Error(`tcplife ${args.join(' ')} exited (${code}): ${stderr}`)));
  });
  tracer.stdout!.resume();
  await new Promise((resolve) => setTimeout(resolve, options.settleMs));
  const load = await options.runLoadgen(options.connections);
  tracer.kill('SIGINT');
  await new Promise((resolve) => tracer.once('exit', resolve));
  return load;
}

export async function measureOpenSessions(options: OpenSessionsBenchOptions): Promise<ResultTable[]> {
  const held: Holder[] = [];
  const scales: ScaleResult[] = [];
  try {
    let holding = 0;
    for (const target of OPEN_SESSION_SCALES) {
      await holdConnections(options.root, target / 2 - holding, held, options.track);
      holding = target / 2;
      const result = measureScale(target, options.passes);
      scales.push(result);
      options.log(
        `open sessions ${fmt(result.sessions)}: seed ${fmt(result.seedMs, 1)} ms (CPU ${fmt(result.seedCpuMs, 1)} ms), ` +
          `pass ${fmt(result.passMs, 1)} ms (CPU ${fmt(result.passCpuMs, 1)} ms), pass of the moved only ${fmt(result.movedPassMs, 1)} ms`,
      );
    }
  } finally {
    for (const holder of held) holder.child.kill('SIGKILL');
  }

  const setups: [string, string[] | null][] = [
    ['untraced', null],
    ['tcplife', ['-s']],
    ['tcplife --interval 1', ['-s', '--interval', '1']],
  ];
  const rates = new Map<string, number[]>(setups.map(([name]) => [name, []]));
  for (let round = 1; round <= options.ratioRounds; round++) {
    for (const [name, args] of rotated(setups, round)) {
      const load = await ratioRun(options.root, args, options);
      rates.get(name)!.push(load.rate);
      options.log(`open sessions ratio round ${round}: ${name} ${fmt(load.rate)} connections/s`);
    }
  }
  const scaleTable: ResultTable = {
    id: 'open-sessions',
    title: `Open sessions: the --existing seed and one --interval pass (median of ${options.passes} passes), by open sessions`,
    columns: ['open sessions', 'seed ms', 'seed CPU ms', 'pass ms', 'pass CPU ms', 'pass ms (moved only)'],
    rows: scales.map((s) => [fmt(s.sessions), fmt(s.seedMs, 1), fmt(s.seedCpuMs, 1), fmt(s.passMs, 1), fmt(s.passCpuMs, 1), fmt(s.movedPassMs, 1)]),
  };
  if (options.ratioRounds === 0) return [scaleTable];
  const untraced = median(rates.get('untraced')!);
  const ratioTable: ResultTable = {
    id: 'open-sessions-ratio',
    title: `The workload under tcplife --interval 1, tcplife and untraced (${options.connections} connections, median of ${options.ratioRounds} rounds)`,
    columns: ['setup', 'median connections/s', 'ratio to untraced'],
    rows: setups.map(([name]) => {
      const rate = median(rates.get(name)!);
      return [name, fmt(rate), fmt(rate / untraced, 3)];
    }),
  };
  return [scaleTable, ratioTable];
}
