// SPDX-License-Identifier: MIT
// For the owner and scale tests: runs the peer programs of test/fixtures as
// child processes (JSON lines on stdout, commands on stdin) and bin/tcplife
// or bin/tcpstates with its lines collected. Imports nothing from src.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from '../support/tracer-process.js';

export const FIXTURES = `${REPO_ROOT}test/fixtures/`;

export interface JsonRecord {
  readonly event: string;
  readonly pid: number;
  readonly [field: string]: unknown;
}

/** A child process whose stdout lines are collected as they come. */
export class Peer {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: (() => void)[] = [];
  private ended = false;

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.exited = new Promise((resolve) =>
      child.on('close', (code, signal) => {
        this.ended = true;
        for (const wake of this.waiters.splice(0)) wake();
        resolve({ code, signal });
      }),
    );
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Resolves with the first line matching; fails after timeoutMs or if the process ends first. */
  async waitFor(predicate: (line: string) => boolean, what: string, timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(predicate);
      if (found !== undefined) return found;
      if (this.ended) throw new Error(`${what}: the process ended first; lines: ${this.lines.slice(-5).join(' | ')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; last lines: ${this.lines.slice(-5).join(' | ')}`);
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  /** The first JSON record with this event. */
  async record(event: string, timeoutMs?: number): Promise<JsonRecord> {
    const line = await this.waitFor((text) => text.includes(`"event": "${event}"`), `"${event}" from ${this.pid}`, timeoutMs);
    return JSON.parse(line) as JsonRecord;
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  async end(): Promise<void> {
    this.child.stdin?.end();
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([this.exited, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 10_000)))]);
    clearTimeout(timer);
    if (exit === null) this.child.kill('SIGKILL');
  }
}

/** Runs test/fixtures/<script> with python3. */
export function python(script: string, args: readonly (string | number)[]): Peer {
  return new Peer(spawn('python3', [`${FIXTURES}${script}`, ...args.map(String)], { stdio: ['pipe', 'pipe', 'inherit'] }));
}

/** A tracer (bin/tcplife or bin/tcpstates) with its stdout and stderr lines. */
export class Tool {
  readonly stdout: Peer;
  readonly stderr: string[] = [];

  constructor(tool: 'tcplife' | 'tcpstates', args: readonly string[]) {
    const child = spawn(process.execPath, [`${REPO_ROOT}bin/${tool}`, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    this.stdout = new Peer(child);
    createInterface({ input: child.stderr! }).on('line', (line) => this.stderr.push(line));
  }

  /** Resolves once the header (printed after attaching) is out. */
  async attached(): Promise<this> {
    await this.stdout.waitFor(() => true, 'the header', 15_000);
    return this;
  }

  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.stdout.child.kill('SIGINT');
    return this.stdout.exited;
  }
}

/** A `tcplife -s` row. */
export interface LifeRow {
  readonly pid: number;
  readonly comm: string;
  readonly localPort: number;
  readonly remotePort: number;
  readonly ms: number;
}

export function parseLifeRow(line: string): LifeRow | null {
  const fields = line.split(',');
  if (fields.length !== 10 || fields[0] === 'PID') return null;
  return { pid: Number(fields[0]), comm: fields[1]!, localPort: Number(fields[4]), remotePort: Number(fields[6]), ms: Number(fields[9]) };
}
