// SPDX-License-Identifier: MIT
// Hostile clients of the --metrics endpoint, as a local user could run them
// (loopback only), for the kernel tests and docs/metrics-endpoint.md:
//   pipeline  each client writes bursts of 1,800 pipelined GET /metrics and
//             never reads; reconnects whenever the server closes it
//   idle      opens connections and holds them, sending nothing
//   slowloris sends a request line, then one header line a second, never
//             ending the headers; reconnects whenever the server closes it
// Run as a process of its own (the idle flood needs more descriptors than
// one process may have): node attacker.js KIND PORT CONNECTIONS SECONDS
// It prints one JSON line at the end: {connected, closed, errors}.

import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

export type AttackKind = 'pipeline' | 'idle' | 'slowloris';

/** One pipelined burst as the issue measured it: 1,800 requests, ~61 KB. */
const PIPELINED_REQUESTS = 1800;
const BURST = Buffer.from('GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n'.repeat(PIPELINED_REQUESTS));
/** How often a pipelining client writes another burst. */
const BURST_INTERVAL_MS = 100;
const SLOWLORIS_INTERVAL_MS = 1000;
/** Connections opened at once by the idle flood (the listen backlog is 511). */
const IDLE_OPEN_BATCH = 200;

export interface AttackStats {
  connected: number;
  closed: number;
  errors: number;
}

export function attack(kind: AttackKind, port: number, connections: number, seconds: number): Promise<AttackStats> {
  const stats: AttackStats = { connected: 0, closed: 0, errors: 0 };
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let ending = false;

  const open = (reconnect: boolean): Promise<void> =>
    new Promise((opened) => {
      const socket = connect({ port, host: '127.0.0.1' });
      sockets.add(socket);
      let timer: NodeJS.Timeout | null = null;
      socket.on('connect', () => {
        stats.connected++;
        opened();
        if (kind === 'pipeline') {
          socket.pause(); // never read
          socket.write(BURST);
          timer = setInterval(() => socket.write(BURST), BURST_INTERVAL_MS);
        } else if (kind === 'slowloris') {
          socket.write('GET /metrics HTTP/1.1\r\n');
          let header = 0;
          timer = setInterval(() => socket.write(`X-${header++}: a\r\n`), SLOWLORIS_INTERVAL_MS);
        } else {
          socket.resume();
        }
        if (timer !== null) timers.add(timer);
      });
      socket.on('error', () => stats.errors++);
      socket.on('close', () => {
        opened();
        sockets.delete(socket);
        if (timer !== null) {
          clearInterval(timer);
          timers.delete(timer);
        }
        if (ending) return;
        stats.closed++;
        if (reconnect) void open(true);
      });
    });

  return new Promise((resolve) => {
    const end = setTimeout(() => {
      ending = true;
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      resolve(stats);
    }, seconds * 1000);
    if (kind === 'idle') {
      void (async () => {
        for (let started = 0; started < connections && !ending; started += IDLE_OPEN_BATCH) {
          const batch = Math.min(IDLE_OPEN_BATCH, connections - started);
          await Promise.all(Array.from({ length: batch }, () => open(false)));
        }
      })();
    } else {
      for (let i = 0; i < connections; i++) void open(true);
    }
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [kind, port, connections, seconds] = process.argv.slice(2);
  void attack(kind as AttackKind, Number(port), Number(connections), Number(seconds)).then((stats) => {
    process.stdout.write(`${JSON.stringify(stats)}\n`);
    process.exit(0);
  });
}
