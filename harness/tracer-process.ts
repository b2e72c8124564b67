// SPDX-License-Identifier: MIT
// Runs a tracer (bin/tcpstates, bin/tcplife, or any command such as the C
// reference tool) as a child process, the way a user does: collects its
// stdout/stderr lines, waits for lines by predicate (with a timeout that
// fails the test), waits for it to attach, and stops it with a signal.
// The one way the kernel tests and the benchmark spawn a tracer.

import { spawn, type ChildProcess } from 'node:child_process';
import { adopt } from './children.js';
import { startServer } from './loopback.js';
import { csvRows, type ToolUnderTest } from './rows.js';
import { REPO_ROOT, binPath, waitFor } from './system.js';

export { REPO_ROOT } from './system.js';
export const TCPSTATES_BIN = binPath('tcpstates');
export const TCPLIFE_BIN = binPath('tcplife');

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A finished tracer: its exit and every line it wrote. */
export interface Finished extends Exit {
  readonly stdout: readonly string[];
  readonly stderr: readonly string[];
  /** The same, as written (to check that a message ends its line). */
  readonly stdoutText: string;
  readonly stderrText: string;
}

/** What a tool prints on stderr once attached when it has no header (--json, --summary). */
const TRACING_NOTICE = 'Tracing... Hit Ctrl-C to end.';

/** A stream's text, split into complete lines as it arrives, that a caller can wait on. */
export class LineCollector {
  readonly lines: string[] = [];
  private raw = '';
  private partial = '';
  private ended = false;
  private waiters: (() => void)[] = [];

  /** Collects `stream` (when given; else call push/end). */
  constructor(stream?: NodeJS.ReadableStream | null) {
    if (!stream) return;
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => this.push(chunk));
    stream.on('end', () => this.end());
    stream.on('close', () => this.end());
  }

  /** Everything read so far, as written. */
  get text(): string {
    return this.raw;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  push(chunk: string): void {
    this.raw += chunk;
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    if (parts.length > 0) {
      this.lines.push(...parts);
      this.wake();
    }
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.partial !== '') this.lines.push(this.partial);
    this.partial = '';
    this.wake();
  }

  /** Resolves at the next line or the end. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Resolves once the stream has ended. */
  async untilEnd(): Promise<void> {
    while (!this.ended) await this.changed();
  }

  /** Resolves with the first line (already seen or to come) that matches;
   * rejects once `timeoutMs` passed or the stream ended without one. */
  async waitFor(match: (line: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    let found: string | undefined;
    await until(() => (found = this.lines.find(match)) !== undefined, [this], timeoutMs, () => {
      if (!this.ended) return null;
      return `the stream ended before ${what}; lines: ${JSON.stringify(this.lines.slice(-20))}`;
    }, () => `timed out after ${timeoutMs} ms waiting for ${what}; lines: ${JSON.stringify(this.lines.slice(-20))}`);
    return found!;
  }

  private wake(): void {
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}

/**
 * Waits until `done()` holds, re-checking whenever one of `sources` changes
 * or `also` settles: throws `failed()`'s message when it returns one, or
 * `timedOut()`'s after `timeoutMs`. Leaves no timer behind.
 */
async function until(
  done: () => boolean,
  sources: readonly LineCollector[],
  timeoutMs: number,
  failed: () => string | null,
  timedOut: () => string,
  also: readonly Promise<unknown>[] = [],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (done()) return;
    const failure = failed();
    if (failure !== null) throw new Error(failure);
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(timedOut());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([...sources.map((source) => source.changed()), ...also, new Promise((resolve) => (timer = setTimeout(resolve, left)))]);
    clearTimeout(timer);
  }
}

export interface StartOptions {
  /** bin/<tool> to run (default tcpstates), with this node. */
  readonly tool?: string;
  /** Run this argv instead of node bin/<tool> (e.g. the reference tool). */
  readonly command?: readonly string[];
  /** A different bin/<tool> file (e.g. of an unpacked package). */
  readonly bin?: string;
  /** Run `bin` itself (its #! line finds node on PATH), as a user would. */
  readonly exec?: boolean;
  /** A command prefix (setpriv, unshare, ...) before node bin/<tool>. */
  readonly wrapper?: readonly string[];
  readonly cwd?: string;
  /** A file descriptor to write stdout into instead of a pipe to us. */
  readonly stdout?: 'pipe' | number;
  /** false: leave a piped stdout unread, as a stalled reader would. */
  readonly readStdout?: boolean;
}

export class TracerProcess {
  readonly stdout: LineCollector;
  readonly stderr: LineCollector;
  readonly exited: Promise<Exit>;
  private exit: Exit | null = null;

  private constructor(
    readonly child: ChildProcess,
    readStdout: boolean,
  ) {
    this.stdout = new LineCollector(readStdout ? child.stdout : null);
    this.stderr = new LineCollector(child.stderr);
    if (!readStdout) {
      this.stdout.end();
      // Nobody reads it while the tracer runs; once it has exited, drain the
      // pipe so that the child's 'close' (our exit) can come.
      child.stdout?.pause();
      child.once('exit', () => child.stdout?.resume());
    }
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.stdout.end();
        this.stderr.end();
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  /** Starts the tracer (bin/tcpstates unless `options` say otherwise). */
  static start(args: readonly string[], env: NodeJS.ProcessEnv = process.env, options: StartOptions = {}): TracerProcess {
    const bin = options.bin ?? binPath(options.tool ?? 'tcpstates');
    const command = [...(options.wrapper ?? []), ...(options.command ?? [...(options.exec ? [] : [process.execPath]), bin]), ...args];
    const child = adopt(
      spawn(command[0]!, command.slice(1), {
        stdio: ['ignore', options.stdout ?? 'pipe', 'pipe'],
        cwd: options.cwd ?? REPO_ROOT,
        env,
      }),
    );
    child.once('error', () => {}); // reported below, not as an unhandled 'error' event
    if (child.pid === undefined) throw new Error(`cannot start ${command.join(' ')}`);
    return new TracerProcess(child, (options.stdout ?? 'pipe') === 'pipe' && options.readStdout !== false);
  }

  /** Starts `tool` and resolves once it is attached (see untilAttached). */
  static async attach(
    tool: string,
    args: readonly string[],
    options: StartOptions & { env?: NodeJS.ProcessEnv } = {},
  ): Promise<TracerProcess> {
    const tracer = TracerProcess.start(args, options.env ?? process.env, { tool, ...options });
    await tracer.untilAttached();
    return tracer;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get stdoutLines(): readonly string[] {
    return this.stdout.lines;
  }

  get stderrLines(): readonly string[] {
    return this.stderr.lines;
  }

  /** The port of its "serving metrics on http://HOST:PORT/metrics" notice (--metrics; text or JSON). */
  get metricsPort(): number {
    for (const line of this.stderr.lines) {
      const match = /serving metrics on http:\/\/[^ ]*:(\d+)\/metrics/.exec(line);
      if (match !== null) return Number(match[1]);
    }
    throw new Error(`no metrics port announced: ${this.stderr.lines.join(' | ')}`);
  }

  /**
   * Resolves once the tracer is attached: it prints its header (or, in the
   * headerless modes --json and --summary, its "Tracing..." notice on
   * stderr) only then. Kills it when that does not come, so that a stuck
   * tracer cannot keep the test run alive.
   */
  async untilAttached(timeoutMs = 15_000): Promise<this> {
    try {
      await until(
        () => this.stdout.lines.length >= 1 || this.stderr.lines.some((line) => line.includes(TRACING_NOTICE)),
        [this.stdout, this.stderr],
        timeoutMs,
        () => (this.exit === null ? null : `tracer exited (${JSON.stringify(this.exit)}) before attaching; stderr: ${this.stderr.text}`),
        () => `timed out after ${timeoutMs} ms waiting for the tracer to attach; stderr: ${this.stderr.text}`,
        [this.exited],
      );
    } catch (error) {
      this.child.kill('SIGKILL');
      throw error;
    }
    return this;
  }

  /** Resolves with the first stdout line matching, failing after timeoutMs. */
  waitForStdout(predicate: (line: string) => boolean, what: string, timeoutMs = 10_000): Promise<string> {
    return this.waitFor(this.stdout, predicate, `stdout ${what}`, timeoutMs);
  }

  waitForStderr(predicate: (line: string) => boolean, what: string, timeoutMs = 10_000): Promise<string> {
    return this.waitFor(this.stderr, predicate, `stderr ${what}`, timeoutMs);
  }

  private async waitFor(lines: LineCollector, predicate: (line: string) => boolean, what: string, timeoutMs: number): Promise<string> {
    let found: string | undefined;
    await until(
      () => (found = lines.lines.find(predicate)) !== undefined,
      [lines],
      timeoutMs,
      () => (this.exit === null ? null : `tracer exited (${JSON.stringify(this.exit)}) before ${what}; stderr: ${this.stderr.lines.join(' | ')}`),
      () => `timed out waiting for ${what}; stderr: ${this.stderr.lines.join(' | ')}`,
      [this.exited],
    );
    return found!;
  }

  /** Sends `signal` and waits for the exit; kills it if it hangs. */
  async stop(signal: NodeJS.Signals = 'SIGINT', timeoutMs = 10_000): Promise<Exit> {
    if (this.exit === null) this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
    const exit = await Promise.race([this.exited, hung]);
    clearTimeout(timer);
    if (exit === null) {
      this.child.kill('SIGKILL');
      throw new Error(`tracer did not exit within ${timeoutMs} ms of ${signal}`);
    }
    return exit;
  }

  /** stop(), with everything the tracer wrote. */
  async finish(signal: NodeJS.Signals = 'SIGINT', timeoutMs = 10_000): Promise<Finished> {
    const exit = await this.stop(signal, timeoutMs);
    return this.finished(exit);
  }

  /** Its exit with everything it wrote. */
  finished(exit: Exit): Finished {
    return { ...exit, stdout: this.stdout.lines, stderr: this.stderr.lines, stdoutText: this.stdout.text, stderrText: this.stderr.text };
  }
}

/**
 * Starts a tracer with `start(['-s', '-L', port])`, makes `count`
 * connections to a server on `address`:`port` (the test's own), waits until
 * the tracer reported each of them, and stops it with SIGINT: its exit and
 * everything it wrote. For the tests that a tracer started some particular
 * way (another user, an installed package...) traces at all.
 */
export async function traceConnections(
  tool: ToolUnderTest,
  address: string,
  port: number,
  start: (args: readonly string[]) => TracerProcess,
  count: number,
): Promise<Exit & { stdout: string; stderr: string }> {
  const server = await startServer(address, { port });
  const tracer = start(['-s', '-L', String(port)]);
  try {
    await tracer.untilAttached();
    await server.connections(count);
    await waitFor(`${count} connections traced`, () => csvRows(tracer.stdout.text).filter(tool.endsConnection).length >= count);
  } finally {
    tracer.child.kill('SIGINT');
    await server.close();
  }
  const exit = await tracer.exited;
  return { ...exit, stdout: tracer.stdout.text, stderr: tracer.stderr.text };
}

/** Runs a tracer (bin/tcpstates unless `options` say otherwise) to
 * completion: for option errors, --count and --duration runs. */
export async function runTracerToExit(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 15_000,
  options: StartOptions = {},
): Promise<Finished> {
  const tracer = TracerProcess.start(args, env, options);
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([tracer.exited, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)))]);
  clearTimeout(timer);
  if (exit === null) {
    await tracer.stop('SIGKILL');
    throw new Error(`${options.tool ?? 'tcpstates'} ${args.join(' ')} did not exit within ${timeoutMs} ms`);
  }
  return tracer.finished(exit);
}
