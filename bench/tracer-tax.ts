// SPDX-License-Identifier: MIT
// The tracer tax (npm run bench, after the churn runs; or alone with
// --tax-only): what a running tcplife costs processes that make syscalls but
// no TCP (a getppid() loop, a 1-byte read() loop) and a TCP request/response
// workload, measured side by side in one run: untraced, under our tcplife and
// under libbpf-tools' tcplife, in rotating order, as ratios of median
// nanoseconds per operation to untraced.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sleep, TRACEFS, tracefsMounted } from '../harness/system.js';
import { TracerProcess } from '../harness/tracer-process.js';
import { make } from '../harness/build.js';
import { median } from './parse.js';
import type { ResultTable } from './results.js';

export type TaxTracer = 'untraced' | 'ours' | 'reference';
export const TAX_WORKLOADS = [
  { name: 'getppid() loop', args: ['getppid', '3000000'] },
  { name: '1-byte read() loop', args: ['read', '3000000'] },
  { name: 'TCP 1-byte request/response', args: ['tcp', '20000'] },
] as const;

export interface TaxOptions {
  readonly root: string;
  readonly rounds: number;
  readonly reference: boolean;
  readonly log: (line: string) => void;
}

export interface TaxResult {
  /** Median ns per operation, by tracer then workload name. */
  readonly medianNs: Map<TaxTracer, Map<string, number>>;
  readonly table: ResultTable;
}

const REFERENCE_TCPLIFE = '/usr/sbin/tcplife';
const SETTLE_MS = 300;

function buildWorkload(): string {
  return make('dist/bench/syscalls')[0]!;
}

/** Starts a tracer; resolves once its header is out (attached). */
async function startTracer(tracer: Exclude<TaxTracer, 'untraced'>, root: string): Promise<TracerProcess> {
  // stdbuf: libbpf-tools' tcplife prints through stdio, which holds its header
  // back in a buffer when stdout is a pipe.
  const running = await TracerProcess.attach(
    'tcplife',
    [],
    tracer === 'ours' ? { bin: join(root, 'bin', 'tcplife') } : { command: ['stdbuf', '-oL', REFERENCE_TCPLIFE] },
  );
  await sleep(SETTLE_MS);
  return running;
}

function runWorkload(binary: string, args: readonly string[]): number {
  return Number(execFileSync(binary, [...args], { encoding: 'utf8' }).trim());
}

export async function measureTracerTax(options: TaxOptions): Promise<TaxResult> {
  const binary = buildWorkload();
  let mountedTracefs = false;
  let reference = options.reference && existsSync(REFERENCE_TCPLIFE);
  if (reference && !tracefsMounted()) {
    // libbpf-tools' tcplife looks its tracepoint up in tracefs.
    try {
      execFileSync('mount', ['-t', 'tracefs', 'tracefs', TRACEFS], { stdio: 'ignore' });
      mountedTracefs = true;
    } catch {
      options.log('tracer tax: cannot mount tracefs; comparing without libbpf-tools');
      reference = false;
    }
  }
  const tracers: TaxTracer[] = ['untraced', 'ours', ...(reference ? (['reference'] as const) : [])];
  const samples = new Map<TaxTracer, Map<string, number[]>>(
    tracers.map((tracer) => [tracer, new Map(TAX_WORKLOADS.map(({ name }) => [name, [] as number[]]))]),
  );
  try {
    for (let round = 0; round < options.rounds; round++) {
      const order = tracers.map((_, index) => tracers[(index + round) % tracers.length]!);
      for (const tracer of order) {
        const running = tracer === 'untraced' ? null : await startTracer(tracer, options.root);
        try {
          const line: string[] = [];
          for (const { name, args } of TAX_WORKLOADS) {
            const ns = runWorkload(binary, args);
            samples.get(tracer)!.get(name)!.push(ns);
            line.push(`${name} ${ns.toFixed(1)} ns`);
          }
          options.log(`tracer tax, round ${round + 1}, ${tracer}: ${line.join(', ')}`);
        } finally {
          await running?.stop();
        }
      }
    }
  } finally {
    if (mountedTracefs) execFileSync('umount', [TRACEFS], { stdio: 'ignore' });
  }
  const medianNs = new Map<TaxTracer, Map<string, number>>(
    [...samples].map(([tracer, byWorkload]) => [tracer, new Map([...byWorkload].map(([name, values]) => [name, median(values)]))]),
  );
  const columns = ['workload', 'untraced ns/op', ...tracers.slice(1).map((tracer) => `${tracer === 'ours' ? 'our tcplife' : 'libbpf-tools tcplife'} (ratio)`)];
  const rows = TAX_WORKLOADS.map(({ name }) => {
    const base = medianNs.get('untraced')!.get(name)!;
    const cells = tracers.slice(1).map((tracer) => {
      const ns = medianNs.get(tracer)!.get(name)!;
      return `${ns.toFixed(1)} (${(ns / base).toFixed(3)}x)`;
    });
    return [name, base.toFixed(1), ...cells];
  });
  return { medianNs, table: { id: 'tax', title: "tcplife's tax on everything else", columns, rows } };
}
