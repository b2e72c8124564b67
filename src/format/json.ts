// SPDX-License-Identifier: MIT
// --json: one JSON object per line (NDJSON) per event, and JSON diagnostics
// for stderr. Pure: builds the objects, never prints. Field names carry their
// unit where the value has one (ts_ns, duration_ms, tx_bytes).

import type { TcpEvent } from '../decode/event.js';
import { AF_INET6 } from '../decode/addr.js';
import { stateName, TCP_CLOSE } from '../decode/tcp-states.js';
import { errnoName } from '../errors.js';

/** Resolves a cgroup id to its path relative to the cgroup2 mount (null:
 * unknown); src/sys/cgroup.ts CgroupPaths. */
export type CgroupPathOf = (cgroupId: number) => string | null;

const NO_CGROUP_PATHS: CgroupPathOf = () => null;

/**
 * A tcpstates row. Field order is the order written.
 *  - time:        wall clock of the transition, ISO 8601 UTC with microseconds
 *                 (CLOCK_MONOTONIC timestamp + the offset sampled at start-up)
 *  - ts_ns:       CLOCK_MONOTONIC ns of the transition (bpf_ktime_get_ns), for
 *                 ordering and differences; exact up to 2^53 ns (104 days of uptime)
 *  - skaddr:      kernel address of the struct sock, lowercase hex, as SKADDR
 *  - pid, comm:   the task on the CPU when the transition ran (C-PID, C-COMM)
 *  - owner_pid:   the socket's owner as far as the tracer saw it (the task of
 *                 connect/listen/close), null when unknown
 *  - family:      4 or 6 (the IP column)
 *  - laddr, lport, raddr, rport: as LADDR, LPORT, RADDR, RPORT
 *  - oldstate, newstate: state names, as OLDSTATE and NEWSTATE
 *  - duration_ms: time spent in oldstate, ms with µs precision, as MS:
 *                 0 when the socket was first seen (no known start)
 *  - netns:       inode number of the socket's network namespace
 *  - cgroup:      the socket's cgroup v2 path relative to the cgroup2 mount
 *                 ("/system.slice/x.service"), null when unknown
 *  - error:       on transitions into CLOSE, the socket's error as an errno
 *                 name ("ECONNREFUSED"); null otherwise and when there is none
 */
export interface TcpstatesJson {
  readonly time: string;
  readonly ts_ns: number;
  readonly skaddr: string;
  readonly pid: number;
  readonly comm: string;
  readonly owner_pid: number | null;
  readonly family: 4 | 6;
  readonly laddr: string;
  readonly lport: number;
  readonly raddr: string;
  readonly rport: number;
  readonly oldstate: string;
  readonly newstate: string;
  readonly duration_ms: number;
  readonly netns: number;
  readonly cgroup: string | null;
  readonly error: string | null;
}

/**
 * A tcplife row (one per closed session), for the lead to wire into tcplife.
 *  - time, ts_ns: as for tcpstates, at the CLOSE that ended the session
 *  - pid, comm:   the session's owner when the tracer saw it (connect, listen/
 *                 accept, close), else the task on the CPU at CLOSE (bcc's rule)
 *  - family, laddr, lport, raddr, rport: as tcpstates
 *  - tx_bytes:    bytes acked by the peer (tcp_sock.bytes_acked), the TX_KB source
 *  - rx_bytes:    bytes received (tcp_sock.bytes_received), the RX_KB source
 *  - duration_ms: lifespan, ms with µs precision (the MS column)
 *  - netns, cgroup: as for tcpstates
 *  - error:       the socket's error at CLOSE as an errno name, null for none
 */
export interface TcplifeJson {
  readonly time: string;
  readonly ts_ns: number;
  readonly pid: number;
  readonly comm: string;
  readonly family: 4 | 6;
  readonly laddr: string;
  readonly lport: number;
  readonly raddr: string;
  readonly rport: number;
  readonly tx_bytes: number;
  readonly rx_bytes: number;
  readonly duration_ms: number;
  readonly netns: number;
  readonly cgroup: string | null;
  readonly error: string | null;
}

/** The documented field lists, in output order (tests pin them). */
export const TCPSTATES_JSON_FIELDS = [
  'time',
  'ts_ns',
  'skaddr',
  'pid',
  'comm',
  'owner_pid',
  'family',
  'laddr',
  'lport',
  'raddr',
  'rport',
  'oldstate',
  'newstate',
  'duration_ms',
  'netns',
  'cgroup',
  'error',
] as const;

export const TCPLIFE_JSON_FIELDS = [
  'time',
  'ts_ns',
  'pid',
  'comm',
  'family',
  'laddr',
  'lport',
  'raddr',
  'rport',
  'tx_bytes',
  'rx_bytes',
  'duration_ms',
  'netns',
  'cgroup',
  'error',
] as const;

/** ns -> ms as a number with µs precision (truncated to whole µs, as MS). */
export function nsToMillisWithMicros(durationNs: number): number {
  return Math.floor(durationNs / 1000) / 1000;
}

/**
 * ISO 8601 UTC time of a CLOCK_MONOTONIC timestamp, with microseconds
 * (Date has only ms, so the last three digits are added by hand).
 */
export function isoTimeMicros(monotonicNs: number, wallClockOffsetMs: number): string {
  // Whole µs added as integers: a float sum at 1.7e15 µs is only 0.25 µs exact.
  const wallUs = Math.floor(monotonicNs / 1000) + Math.round(wallClockOffsetMs * 1000);
  const second = Math.floor(wallUs / 1_000_000);
  // Events come in bursts within one second: format its date part once.
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 20); // "YYYY-MM-DDTHH:MM:SS."
  }
  return `${cachedPrefix}${String(wallUs - second * 1_000_000).padStart(6, '0')}Z`;
}

let cachedSecond = Number.NaN;
let cachedPrefix = '';

function family(event: TcpEvent): 4 | 6 {
  return event.family === AF_INET6 ? 6 : 4;
}

/** sk_err as an errno name ("ECONNRESET"); null for 0. */
export function socketErrorName(skErr: number): string | null {
  return skErr === 0 ? null : errnoName(skErr);
}

export function tcpstatesJson(event: TcpEvent, wallClockOffsetMs: number, cgroupPathOf: CgroupPathOf = NO_CGROUP_PATHS): TcpstatesJson {
  const ownerKnown = event.ownerPid !== 0;
  return {
    time: isoTimeMicros(event.tsNs, wallClockOffsetMs),
    ts_ns: event.tsNs,
    skaddr: event.skaddr,
    pid: event.pid,
    comm: event.comm,
    owner_pid: ownerKnown ? event.ownerPid : null,
    family: family(event),
    laddr: event.localAddress,
    lport: event.localPort,
    raddr: event.remoteAddress,
    rport: event.remotePort,
    oldstate: stateName(event.oldState),
    newstate: stateName(event.newState),
    duration_ms: nsToMillisWithMicros(event.deltaNs),
    netns: event.netnsIno,
    cgroup: cgroupPathOf(event.cgroupId),
    error: event.newState === TCP_CLOSE ? socketErrorName(event.skErr) : null,
  };
}

export function tcplifeJson(event: TcpEvent, wallClockOffsetMs: number, cgroupPathOf: CgroupPathOf = NO_CGROUP_PATHS): TcplifeJson {
  const ownerKnown = event.ownerPid !== 0;
  return {
    time: isoTimeMicros(event.tsNs, wallClockOffsetMs),
    ts_ns: event.tsNs,
    pid: ownerKnown ? event.ownerPid : event.pid,
    comm: ownerKnown ? event.ownerComm : event.comm,
    family: family(event),
    laddr: event.localAddress,
    lport: event.localPort,
    raddr: event.remoteAddress,
    rport: event.remotePort,
    tx_bytes: event.txBytes,
    rx_bytes: event.rxBytes,
    duration_ms: nsToMillisWithMicros(event.deltaNs),
    netns: event.netnsIno,
    cgroup: cgroupPathOf(event.cgroupId),
    error: socketErrorName(event.skErr),
  };
}

/**
 * The --json formatter of io/diagnostics.ts: each stderr notice is one
 * object {"tool", "message", ...fields}, e.g.
 * {"tool":"tcpstates","message":"lost 3 events: ...","lost":3}.
 */
export function jsonDiagnostic(tool: string): (message: string, fields: Record<string, number>) => string {
  return (message, fields) => JSON.stringify({ tool, message, ...fields });
}
