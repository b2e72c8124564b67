// SPDX-License-Identifier: MIT
// A synthetic source of open-session snapshots for tcplife --top's tests and
// harness: four known sessions moving known bytes per interval, plus any
// number of idle ones, on a synthetic clock (each snapshot exactly one
// interval after the last) so the rates shown are exact.

import type { OpenSession, OpenSessionsSnapshot } from '../src/decode/open-session.js';

interface Known {
  readonly base: Omit<OpenSession, 'txBytes' | 'rxBytes' | 'txDeltaBytes' | 'rxDeltaBytes' | 'ageMs'>;
  readonly ageMs: number;
  readonly txBytes: number;
  readonly rxBytes: number;
  /** Bytes moved per interval. */
  readonly tx: number;
  readonly rx: number;
}

const MIB = 1024 * 1024;

/** By TX+RX/s: psql, redis-server, curl, sshd; by TX/s: redis-server, curl,
 * psql; by RX/s: psql, curl, redis-server; by age: sshd, redis-server, psql, curl. */
export const KNOWN_SESSIONS: readonly Known[] = [
  {
    base: { key: 'a', pid: 4242, comm: 'redis-server', family: 4, saddr: '127.0.0.1', sport: 6379, daddr: '127.0.0.1', dport: 50000, state: 'ESTABLISHED', startSeen: true },
    ageMs: 120_000,
    txBytes: 5 * MIB,
    rxBytes: 1000,
    tx: 300_000,
    rx: 1000,
  },
  {
    base: { key: 'b', pid: 5151, comm: 'psql', family: 6, saddr: '::1', sport: 41000, daddr: '::1', dport: 5432, state: 'ESTABLISHED', startSeen: true },
    ageMs: 30_000,
    txBytes: 2000,
    rxBytes: 20 * MIB,
    tx: 2000,
    rx: 500_000,
  },
  {
    base: { key: 'c', pid: 6060, comm: 'curl', family: 4, saddr: '127.0.0.2', sport: 43210, daddr: '127.0.0.3', dport: 8080, state: 'CLOSE_WAIT', startSeen: true },
    ageMs: 5000,
    txBytes: 0,
    rxBytes: 0,
    tx: 100_000,
    rx: 100_000,
  },
  {
    base: { key: 'd', pid: 777, comm: 'sshd', family: 4, saddr: '127.0.0.1', sport: 22, daddr: '127.0.0.1', dport: 40022, state: 'ESTABLISHED', startSeen: false },
    ageMs: 3 * 86_400_000 + 4 * 3_600_000,
    txBytes: 4096,
    rxBytes: 8192,
    tx: 0,
    rx: 0,
  },
];

function idle(index: number, ageMs: number): OpenSession {
  return {
    key: `idle-${index}`,
    pid: 10_000 + index,
    comm: 'idler',
    family: 4,
    saddr: '127.0.0.1',
    sport: 20_000 + index,
    daddr: '127.0.0.1',
    dport: 9000,
    state: 'ESTABLISHED',
    ageMs,
    startSeen: true,
    txBytes: 100,
    rxBytes: 100,
    txDeltaBytes: 0,
    rxDeltaBytes: 0,
  };
}

/** The `n`th snapshot (from 0): the known sessions after `n` intervals of `intervalMs`. */
export function fakeSnapshot(n: number, intervalMs: number, idleSessions = 0): OpenSessionsSnapshot {
  const moved = (perInterval: number) => (n === 0 ? 0 : perInterval);
  const sessions: OpenSession[] = KNOWN_SESSIONS.map((known) => ({
    ...known.base,
    ageMs: known.ageMs + n * intervalMs,
    txBytes: known.txBytes + n * known.tx,
    rxBytes: known.rxBytes + n * known.rx,
    txDeltaBytes: moved(known.tx),
    rxDeltaBytes: moved(known.rx),
  }));
  for (let i = 0; i < idleSessions; i++) sessions.push(idle(i, 1000 + n * intervalMs));
  return {
    atNs: BigInt(n) * BigInt(intervalMs) * 1_000_000n,
    sessions,
    openedInInterval: n === 0 ? 0 : 1,
    closedInInterval: n === 0 ? 0 : 1,
    eventsLost: 0,
  };
}

/** A source of fakeSnapshot(0), fakeSnapshot(1), ... */
export function fakeSource(intervalMs: number, idleSessions = 0): () => Promise<OpenSessionsSnapshot> {
  let n = 0;
  return () => Promise.resolve(fakeSnapshot(n++, intervalMs, idleSessions));
}
