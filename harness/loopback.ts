// SPDX-License-Identifier: MIT
// Loopback TCP traffic made in the test process itself, for the kernel
// tests and the benchmark: servers on ports of our own (ephemeral ones the
// kernel picks, or a fixed port on an address of our own), so tests can
// filter rows by port or address while other tests and tracers use the
// machine. Traffic from other processes (their own PID and COMM) is in
// peers.ts.

import { once } from 'node:events';
import * as net from 'node:net';
import { sleep } from './system.js';

export { sleep } from './system.js';

export type LoopbackHost = '127.0.0.1' | '::1';

/**
 * A row's local address is on our loopback hosts. Filter rows by it as well
 * as by port: a process in another network namespace (other tests make
 * them) may have one of our port numbers as its own.
 */
export function onLoopback(row: { readonly laddr: string }): boolean {
  return row.laddr === '127.0.0.1' || row.laddr === '::1';
}

export interface LoopbackServer<H extends string = LoopbackHost> {
  readonly host: H;
  readonly port: number;
  /** Opens and closes `count` connections to it, one after another. */
  connections(count: number): Promise<void>;
  /** Stops listening and drops its open connections; safe to call again. */
  close(): Promise<void>;
}

export interface ServerOptions {
  /** Close the server side first, this long after accepting. */
  readonly endAfterMs?: number;
  /** Send back what it reads (for clients that wait for an answer). */
  readonly echo?: boolean;
  /** A fixed port (with an address of the test's own, see testAddress); default: ephemeral. */
  readonly port?: number;
}

/**
 * A server that reads and discards (or echoes), and closes its side when
 * the client does (node's default allowHalfOpen: false: the server side goes
 * CLOSE_WAIT -> LAST_ACK -> CLOSE), or first, `endAfterMs` after accepting.
 */
export async function startServer<H extends string = LoopbackHost>(host: H, options: ServerOptions = {}): Promise<LoopbackServer<H>> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {}); // RST from the peer in the abort cases
    socket.on('close', () => sockets.delete(socket));
    if (options.echo) socket.on('data', (data) => socket.write(data));
    else socket.resume();
    if (options.endAfterMs !== undefined) setTimeout(() => socket.end(), options.endAfterMs);
  });
  server.listen({ host, port: options.port ?? 0, backlog: 512 });
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    host,
    port,
    connections: async (count) => {
      for (let index = 0; index < count; index++) await clientSession(host, port, 0, '');
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      if (!server.listening) return;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ClientSession {
  /** The client's ephemeral port. */
  readonly localPort: number;
}

/** fin: close() with the FIN handshake; rst: abort (SO_LINGER 0, an RST). */
export type Ending = 'fin' | 'rst';

export interface SessionOptions {
  /** How the client ends it (default fin). */
  readonly ending?: Ending;
  /** Wait for the server's answer (an echo server) before holding: the
   * server has then accepted, so the hold is all ESTABLISHED on both sides. */
  readonly awaitAnswer?: boolean;
}

/**
 * Connects, writes `payload` (nothing when ''), stays ESTABLISHED for
 * `holdMs`, then closes first (the client goes ESTABLISHED -> FIN_WAIT1) or
 * aborts with an RST. Resolves once closed.
 */
export async function clientSession(
  host: string,
  port: number,
  holdMs = 0,
  payload = 'x',
  options: SessionOptions = {},
): Promise<ClientSession> {
  const socket = net.connect({ host, port });
  socket.on('error', () => {});
  await once(socket, 'connect');
  const localPort = socket.localPort ?? 0;
  const answered = options.awaitAnswer ? once(socket, 'data') : null;
  if (payload !== '') socket.write(payload);
  await answered;
  socket.resume();
  if (holdMs > 0) await sleep(holdMs);
  if (options.ending === 'rst') socket.resetAndDestroy();
  else socket.end();
  await once(socket, 'close');
  return { localPort };
}

/** A connect to a loopback port nobody listens on (a server's, just
 * closed): refused with an RST. Resolves with that port. */
export async function refusedConnection(host: LoopbackHost): Promise<number> {
  const server = await startServer(host);
  await server.close();
  const socket = net.connect({ host, port: server.port });
  const [error] = (await once(socket, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
  if (error.code !== 'ECONNREFUSED') throw error;
  return server.port;
}

/** libuv timers count whole ms from a clock read before the timer starts,
 * so a hold of N ms can end up to about 1 ms early: compare with this slack. */
export const TIMER_SLACK_MS = 2;

/**
 * Lets softirq-side transitions (FIN_WAIT2 -> CLOSE, ...) land in the rings
 * and reach the tracer's output before it is stopped. A pause, not a
 * bound on anything the test asserts.
 */
export function settle(ms = 150): Promise<void> {
  return sleep(ms);
}

/** Connects and closes repeatedly to `server` until `seen()` is true: the
 * tracer is attached once it reports one of these connections. */
export async function untilTraced(server: LoopbackServer<string>, seen: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!seen()) {
    if (Date.now() > deadline) throw new Error(`tracer reported no connection to port ${server.port} within ${timeoutMs} ms`);
    await clientSession(server.host, server.port);
    await sleep(20);
  }
}

/** A fixed port for this test run: derived from the pid so that concurrent
 * runs by other helpers are unlikely to collide, and stable within a file.
 * Below the ephemeral range (32768-60999 here), which any connection on the
 * machine may hold: a wildcard listener there failed with EADDRINUSE. */
export function testPort(offset: number): number {
  return 10000 + ((process.pid * 7 + offset * 101) % 22000);
}

/** A loopback address of our own (127.0.0.0/8 is all loopback). */
export function testAddress(offset: number): string {
  return `127.${100 + (offset % 100)}.${(process.pid >> 8) & 255}.${(process.pid & 255) || 1}`;
}
