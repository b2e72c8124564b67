// SPDX-License-Identifier: MIT
// Runs a tool from bin/ as a child process, the way a user does, and makes
// real TCP connections on loopback for it to see.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  lines: string[];
  stderr: string;
}

export class RunningTool {
  stdout = '';
  stderr = '';
  private readonly exited: Promise<[number | null, NodeJS.Signals | null]>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  }

  get lines(): string[] {
    return this.stdout.split('\n').filter((line) => line.length > 0);
  }

  /** Waits until `predicate` holds for the complete stdout lines so far. */
  async waitFor(predicate: (lines: string[]) => boolean, timeoutMs = 5000, what = 'output'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.stdout.split('\n').slice(0, -1))) {
      if (this.child.exitCode !== null) throw new Error(`tool exited (${this.child.exitCode}) waiting for ${what}; stderr: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stdout: ${this.stdout.slice(-2000)}; stderr: ${this.stderr}`);
      await sleep(10);
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<Finished> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.finished();
  }

  async finished(): Promise<Finished> {
    const [code, signal] = await this.exited;
    return { code, signal, stdout: this.stdout, lines: this.lines, stderr: this.stderr };
  }
}

/** Starts bin/<tool> and waits for its header (printed once attached). */
export async function startTool(tool: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<RunningTool> {
  const child = spawn(`${REPO_ROOT}bin/${tool}`, [...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const running = new RunningTool(child);
  await running.waitFor((lines) => lines.length >= 1, 10_000, 'the header');
  return running;
}

/** Starts an arbitrary command (the reference tool) and waits for its header. */
export async function startCommand(command: string, args: readonly string[]): Promise<RunningTool> {
  const running = new RunningTool(spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await running.waitFor((lines) => lines.length >= 1, 10_000, `${command}'s header`);
  return running;
}

export type Host = '127.0.0.1' | '::1';

/** An echo-ish server on an ephemeral loopback port that closes when its peer does. */
export async function startServer(host: Host): Promise<{ server: net.Server; port: number; accepted: net.Socket[] }> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((socket) => {
    accepted.push(socket);
    socket.on('error', () => {}); // RST from the peer in the abort cases
    socket.on('data', (data) => socket.write(data));
    socket.on('end', () => socket.end());
  });
  server.listen(0, host);
  await once(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port, accepted };
}

export async function closeServer(server: net.Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export type Ending = 'fin' | 'rst';

/** Connects, exchanges a line, holds the connection `holdMs`, then closes
 * it with a FIN (both sides) or aborts it with an RST from the client. */
export async function connection(host: Host, port: number, ending: Ending, holdMs = 0): Promise<number> {
  const socket = net.connect({ host, port });
  socket.on('error', () => {});
  await once(socket, 'connect');
  const localPort = socket.localPort as number;
  socket.write('ping\n');
  await once(socket, 'data'); // the server has accepted and answered
  if (holdMs > 0) await sleep(holdMs);
  if (ending === 'rst') {
    socket.resetAndDestroy();
    await once(socket, 'close');
  } else {
    socket.end();
    await once(socket, 'close');
  }
  return localPort;
}

/** A connect to a port nobody listens on: refused with an RST. */
export async function refusedConnection(host: Host): Promise<number> {
  const { server, port } = await startServer(host);
  await closeServer(server);
  const socket = net.connect({ host, port });
  const [error] = (await once(socket, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
  if (error.code !== 'ECONNREFUSED') throw error;
  return port;
}

/** Lets softirq-side transitions (FIN_WAIT2 -> CLOSE...) land in the rings. */
export function settle(ms = 150): Promise<void> {
  return sleep(ms);
}
