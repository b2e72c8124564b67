// SPDX-License-Identifier: MIT
// The tracer tax (npm run bench, after the churn runs; or alone with
// --tax-only): what a running tcplife costs processes that make syscalls but
// no TCP (a getppid() loop, a 1-byte read() loop) and a TCP request/response
// workload, measured side by side in one run: untraced, under our tcplife and
// under libbpf-tools' tcplife, in rotating order, as ratios of median
// nanoseconds per operation to untraced.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type TaxTracer = 'untraced' | 'ours' | 'reference';
export const TAX_WORKLOADS = [
  { name: 'getppid() loop', args: ['getppid', '3000000'] },
  { name: '1-byte read() loop', args: ['read', '3000000'] },
  { name: 'TCP 1-byte request/response', args: ['tcp', '20000'] },
] as const;

export interface TaxOptions {
  readonly root: string;
  readonly binDir: string;
  readonly rounds: number;
  readonly reference: boolean;
  readonly log: (line: string) => void;
}

export interface TaxResult {
  /** Median ns per operation, by tracer then workload name. */
  readonly medianNs: Map<TaxTracer, Map<string, number>>;
  readonly table: string;
}

const REFERENCE_TCPLIFE = '/usr/sbin/tcplife';
const TRACEFS = '/sys/kernel/tracing';
const SETTLE_MS = 300;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function buildWorkload(binDir: string, root: string): string {
  const binary = join(binDir, 'syscalls');
  const source = join(root, 'bench', 'syscalls.c');
  if (!existsSync(binary) || statSync(binary).mtimeMs < statSync(source).mtimeMs) {
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, source], { stdio: 'inherit' });
  }
  return binary;
}

function tracefsMounted(): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[2] === 'tracefs');
}

/** Starts a tracer with its output discarded; resolves once its header is out (attached). */
async function startTracer(tracer: Exclude<TaxTracer, 'untraced'>, root: string): Promise<ChildProcess> {
  // stdbuf: libbpf-tools' tcplife prints through stdio, which holds its header
  // back in a buffer when stdout is a pipe.
  const command = tracer === 'ours' ? [process.execPath, join(root, 'bin', 'tcplife')] : ['stdbuf', '-oL', REFERENCE_TCPLIFE];
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${tracer} tcplife printed no header in 15 s`)), 15_000);
    child.stdout!.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${tracer} tcplife exited with ${code} before attaching`));
    });
  });
  child.stdout!.resume();
  await sleep(SETTLE_MS);
  return child;
}

async function stopTracer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  await exited;
}

function runWorkload(binary: string, args: readonly string[]): number {
  return Number(execFileSync(binary, [...args], { encoding: 'utf8' }).trim());
}

export async function measureTracerTax(options: TaxOptions): Promise<TaxResult> {
  const binary = buildWorkload(options.binDir, options.root);
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
        const child = tracer === 'untraced' ? null : await startTracer(tracer, options.root);
        try {
          const line: string[] = [];
          for (const { name, args } of TAX_WORKLOADS) {
            const ns = runWorkload(binary, args);
            samples.get(tracer)!.get(name)!.push(ns);
            line.push(`${name} ${ns.toFixed(1)} ns`);
          }
          options.log(`tracer tax, round ${round + 1}, ${tracer}: ${line.join(', ')}`);
        } finally {
          if (child !== null) await stopTracer(child);
        }
      }
    }
  } finally {
    if (mountedTracefs) execFileSync('umount', [TRACEFS], { stdio: 'ignore' });
  }
  const medianNs = new Map<TaxTracer, Map<string, number>>(
    [...samples].map(([tracer, byWorkload]) => [tracer, new Map([...byWorkload].map(([name, values]) => [name, median(values)]))]),
  );
  const header = `| workload | untraced ns/op | ${tracers.slice(1).map((tracer) => `${tracer === 'ours' ? 'our tcplife' : 'libbpf-tools tcplife'} (ratio)`).join(' | ')} |`;
  const rows = TAX_WORKLOADS.map(({ name }) => {
    const base = medianNs.get('untraced')!.get(name)!;
    const cells = tracers.slice(1).map((tracer) => {
      const ns = medianNs.get(tracer)!.get(name)!;
      return `${ns.toFixed(1)} (${(ns / base).toFixed(3)}x)`;
    });
    return `| ${name} | ${base.toFixed(1)} | ${cells.join(' | ')} |`;
  });
  const table = [header, `|${' --- |'.repeat(tracers.length + 1)}`, ...rows].join('\n');
  return { medianNs, table };
}
