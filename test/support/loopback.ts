// SPDX-License-Identifier: MIT
// Loopback TCP traffic for the kernel tests, on ephemeral ports of our own
// (the kernel picks free ones), so tests can filter rows by port while other
// tests and tracers use the machine.

import { once } from 'node:events';
import * as net from 'node:net';

export type LoopbackHost = '127.0.0.1' | '::1';

export interface LoopbackServer {
  readonly host: LoopbackHost;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A server that reads and discards, and closes its side when the client
 * does (node's default allowHalfOpen: false), or first, `endAfterMs` after
 * accepting.
 */
export async function startServer(host: LoopbackHost, options: { endAfterMs?: number } = {}): Promise<LoopbackServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.resume();
    if (options.endAfterMs !== undefined) setTimeout(() => socket.end(), options.endAfterMs);
  });
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    host,
    port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ClientSession {
  /** The client's ephemeral port. */
  readonly localPort: number;
}

/**
 * Connects, writes `payload`, stays ESTABLISHED for `holdMs`, then closes
 * first (the client goes ESTABLISHED -> FIN_WAIT1). Resolves once closed.
 */
export async function clientSession(host: LoopbackHost, port: number, holdMs = 0, payload = 'x'): Promise<ClientSession> {
  const socket = net.connect({ host, port });
  socket.on('error', () => {});
  await once(socket, 'connect');
  const localPort = socket.localPort ?? 0;
  socket.write(payload);
  socket.resume();
  await new Promise((resolve) => setTimeout(resolve, holdMs));
  socket.end();
  await once(socket, 'close');
  return { localPort };
}

/** libuv timers count whole ms from a clock read before the timer starts,
 * so a hold of N ms can end up to about 1 ms early: compare with this slack. */
export const TIMER_SLACK_MS = 2;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Connects and closes repeatedly to `server` until `seen()` is true: the
 * tracer is attached once it reports one of these connections. */
export async function untilTraced(server: LoopbackServer, seen: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!seen()) {
    if (Date.now() > deadline) throw new Error(`tracer reported no connection to port ${server.port} within ${timeoutMs} ms`);
    await clientSession(server.host, server.port);
    await sleep(20);
  }
}
