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

import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { adopt } from './children.js';
import { sleep } from './system.js';

const ATTACKER = fileURLToPath(import.meta.url);
/** The hard RLIMIT_NOFILE here is 20,000 a process: the idle flood runs in several. */
const IDLE_PER_PROCESS = 5000;
/** A normal scrape must answer within this. */
export const SCRAPE_TIMEOUT_MS = 1000;

export type AttackKind = 'pipeline' | 'idle' | 'slowloris';

/** One pipelined burst as the issue measured it: 1,800 requests, ~61 KB. */
const PIPELINED_REQUESTS = 1800;
const BURST = Buffer.from('GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n'.repeat(PIPELINED_REQUESTS));
/** How often a pipelining client writes another burst. */
const BURST_INTERVAL_MS = 100;
const SLOWLORIS_INTERVAL_MS = 1000;
/** Connects under way at once in the idle flood. */
const IDLE_CONNECTING = 500;

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
    setTimeout(() => {
      ending = true;
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      resolve(stats);
    }, seconds * 1000);
    if (kind === 'idle') {
      // At most IDLE_CONNECTING connects under way at once.
      let started = 0;
      const next = (): void => {
        if (ending || started >= connections) return;
        started++;
        void open(false).then(next);
      };
      for (let i = 0; i < IDLE_CONNECTING; i++) next();
    } else {
      for (let i = 0; i < connections; i++) void open(true);
    }
  });
}

export interface ScrapeResult {
  readonly latencyMs: number;
  readonly ok: boolean;
}

/** One GET of `url` with a fresh connection; not ok past the timeout. */
export function scrapeOnce(url: string, timeoutMs = SCRAPE_TIMEOUT_MS): Promise<ScrapeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const done = (ok: boolean): void => resolve({ latencyMs: performance.now() - started, ok });
    const request = get(url, { agent: false, timeout: timeoutMs }, (response) => {
      response.resume();
      response.on('end', () => done(response.statusCode === 200 && performance.now() - started <= timeoutMs));
      response.on('error', () => done(false));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => done(false));
  });
}

/** Scrapes every second until `stop` resolves. */
export async function scrapeEverySecond(url: string, stop: Promise<unknown>): Promise<ScrapeResult[]> {
  const results: ScrapeResult[] = [];
  let stopped = false;
  void stop.then(() => (stopped = true));
  while (!stopped) {
    const next = sleep(1000);
    results.push(await scrapeOnce(url));
    await next;
  }
  return results;
}

/** Starts `connections` attackers of `kind` on `port` in as many processes as the descriptor limit needs. */
export function startAttackers(kind: string, port: number, connections: number, seconds: number): Promise<AttackStats>[] {
  const processes = kind === 'idle' ? Math.ceil(connections / IDLE_PER_PROCESS) : 1;
  return Array.from({ length: processes }, (_, index) => {
    const share = Math.floor(connections / processes) + (index < connections % processes ? 1 : 0);
    const child = adopt(
      spawn('prlimit', [`--nofile=${IDLE_PER_PROCESS + 100}`, process.execPath, ATTACKER, kind, String(port), String(share), String(seconds)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    return new Promise<AttackStats>((resolve) => child.on('close', () => resolve(JSON.parse(out || '{"connected":0,"closed":0,"errors":0}') as AttackStats)));
  });
}

if (process.argv[1] === ATTACKER) {
  const [kind, port, connections, seconds] = process.argv.slice(2);
  void attack(kind as AttackKind, Number(port), Number(connections), Number(seconds)).then((stats) => {
    process.stdout.write(`${JSON.stringify(stats)}\n`);
    process.exit(0);
  });
}
