// SPDX-License-Identifier: MIT
// Runs bin/tcpstates as a child process for the kernel tests: collects its
// stdout/stderr lines, waits for lines by predicate (with a timeout that
// fails the test), and stops it with a signal.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** dist/test/support -> repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const TCPSTATES_BIN = `${REPO_ROOT}bin/tcpstates`;

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

class Lines {
  readonly lines: string[] = [];
  private partial = '';
  private waiters: (() => void)[] = [];

  push(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    if (parts.length > 0) {
      this.lines.push(...parts);
      for (const wake of this.waiters.splice(0)) wake();
    }
  }

  end(): void {
    if (this.partial !== '') this.lines.push(this.partial);
    this.partial = '';
    for (const wake of this.waiters.splice(0)) wake();
  }

  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

export class TracerProcess {
  private readonly stdout = new Lines();
  private readonly stderr = new Lines();
  readonly exited: Promise<Exit>;
  private exit: Exit | null = null;

  private constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => this.stdout.push(chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => this.stderr.push(chunk));
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.stdout.end();
        this.stderr.end();
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  static start(args: readonly string[], env: NodeJS.ProcessEnv = process.env): TracerProcess {
    return new TracerProcess(spawn(process.execPath, [TCPSTATES_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
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

  /** Resolves with the first stdout line matching, failing after timeoutMs. */
  waitForStdout(predicate: (line: string) => boolean, what: string, timeoutMs = 10_000): Promise<string> {
    return this.waitFor(this.stdout, predicate, `stdout ${what}`, timeoutMs);
  }

  waitForStderr(predicate: (line: string) => boolean, what: string, timeoutMs = 10_000): Promise<string> {
    return this.waitFor(this.stderr, predicate, `stderr ${what}`, timeoutMs);
  }

  private async waitFor(lines: Lines, predicate: (line: string) => boolean, what: string, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.lines.find(predicate);
      if (found !== undefined) return found;
      if (this.exit !== null) {
        throw new Error(`tracer exited (${JSON.stringify(this.exit)}) before ${what}; stderr: ${this.stderr.lines.join(' | ')}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; stderr: ${this.stderr.lines.join(' | ')}`);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([lines.changed(), this.exited, new Promise((resolve) => (timer = setTimeout(resolve, left)))]);
      clearTimeout(timer);
    }
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
}

/** Runs bin/tcpstates to completion (for option errors and --count runs). */
export async function runTracerToExit(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 15_000,
): Promise<Exit & { stdout: readonly string[]; stderr: readonly string[] }> {
  const tracer = TracerProcess.start(args, env);
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([tracer.exited, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)))]);
  clearTimeout(timer);
  if (exit === null) {
    await tracer.stop('SIGKILL');
    throw new Error(`tcpstates ${args.join(' ')} did not exit within ${timeoutMs} ms`);
  }
  return { ...exit, stdout: tracer.stdoutLines, stderr: tracer.stderrLines };
}
