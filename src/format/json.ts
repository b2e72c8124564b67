// SPDX-License-Identifier: MIT
// --json: one JSON object per line (NDJSON) per event, and JSON diagnostics
// for stderr. Pure: builds the objects, never prints. Field names carry their
// unit where the value has one (ts_ns, duration_ms, tx_bytes).

import type { TcpEvent } from '../decode/event.js';
import { AF_INET6 } from '../decode/addr.js';
import { stateName, TCP_CLOSE } from '../decode/tcp-states.js';
import { errnoName } from '../errors.js';
import { containerIdOf } from '../sys/container-id.js';
import { tcpInfoJson, TCP_INFO_JSON_FIELDS, type TcpInfoJson } from '../decode/tcp-info.js';
import type { OpenSessionRecord } from '../decode/open-record.js';
import { startSeen } from './seeded.js';
import { jsonText } from '../quote.js';

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
 *  - container_id: the container of that cgroup (docker, containerd, CRI-O,
 *                 podman: src/sys/container-id.ts), 64 hex digits, or null
 *  - error:       on transitions into CLOSE, the socket's error as an errno
 *                 name ("ECONNREFUSED"); null otherwise and when there is none
 *  - start_seen:  false on the first transition of a socket that predates the
 *                 trace (--existing): duration_ms counts from when the trace
 *                 found it, a lower bound
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
  readonly container_id: string | null;
  readonly error: string | null;
  readonly start_seen: boolean;
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
 *  - start_seen:  false for a session that predates the trace (--existing):
 *                 duration_ms counts from when the trace found it, a lower bound
 *  - srtt_us, retrans_segs, rto_count, segs_in, segs_out: the tcp_sock's
 *                 smoothed RTT (µs; 0 before any sample), segments
 *                 retransmitted, retransmission timeouts (null on kernels
 *                 before 6.7, which do not count them), segments in and out
 */
export interface TcplifeJson extends SessionJson {
  readonly error: string | null;
}

/** What a tcplife close row and an open row share. */
export interface SessionJson extends TcpInfoJson {
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
  readonly container_id: string | null;
  readonly error: string | null;
  readonly start_seen: boolean;
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
  'container_id',
  'error',
  'start_seen',
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
  'container_id',
  'error',
  'start_seen',
  ...TCP_INFO_JSON_FIELDS,
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

/** The `cgroup` and `container_id` fields of a row. */
function cgroupFields(cgroupId: number, cgroupPathOf: CgroupPathOf): { cgroup: string | null; container_id: string | null } {
  const cgroup = cgroupPathOf(cgroupId);
  return { cgroup, container_id: containerIdOf(cgroup) };
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
    ...cgroupFields(event.cgroupId, cgroupPathOf),
    error: event.newState === TCP_CLOSE ? socketErrorName(event.skErr) : null,
    start_seen: startSeen(event.flags),
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
    ...cgroupFields(event.cgroupId, cgroupPathOf),
    error: socketErrorName(event.skErr),
    start_seen: startSeen(event.flags),
    ...tcpInfoJson(event.tcpInfo),
  };
}

/**
 * tcplife --interval: an open session, as an interval's pass read it.
 *  - event:       "open" ("close" on the close rows while --interval is on)
 *  - time, ts_ns: the pass
 *  - pid, comm:   the session's owner as the tracer knows it (0 and "" if unknown)
 *  - family, laddr, lport, raddr, rport: as the close rows
 *  - state:       the TCP state now ("ESTABLISHED", "CLOSE_WAIT"...)
 *  - tx_bytes, rx_bytes: totals since the connection's start (exact also
 *                 for a session that predates the trace)
 *  - tx_interval_bytes, rx_interval_bytes: moved since the previous pass (the
 *                 first pass: since the trace started or found the session)
 *  - duration_ms: age so far (a lower bound when start_seen is false)
 *  - netns, cgroup, start_seen, srtt_us...segs_out: as the close rows
 */
export interface OpenSessionJson extends SessionJson {
  readonly event: 'open';
  readonly state: string;
  readonly tx_interval_bytes: number;
  readonly rx_interval_bytes: number;
}

export function openSessionJson(
  session: OpenSessionRecord,
  atNs: number,
  wallClockOffsetMs: number,
  cgroupPathOf: CgroupPathOf = NO_CGROUP_PATHS,
): OpenSessionJson {
  return {
    event: 'open',
    time: isoTimeMicros(atNs, wallClockOffsetMs),
    ts_ns: atNs,
    pid: session.pid,
    comm: session.comm,
    family: session.family,
    laddr: session.saddr,
    lport: session.sport,
    raddr: session.daddr,
    rport: session.dport,
    state: session.state,
    tx_bytes: session.txBytes,
    rx_bytes: session.rxBytes,
    tx_interval_bytes: session.txDeltaBytes,
    rx_interval_bytes: session.rxDeltaBytes,
    duration_ms: nsToMillisWithMicros(Math.max(0, atNs - session.seenNs)),
    netns: session.netnsIno,
    ...cgroupFields(session.cgroupId, cgroupPathOf),
    error: null,
    start_seen: session.startSeen,
    ...tcpInfoJson(session.tcpInfo),
  };
}

/**
 * The --json formatter of io/diagnostics.ts: each stderr notice is one
 * object {"tool", "message", ...fields}, e.g.
 * {"tool":"tcpstates","message":"lost 3 events: ...","lost":3}.
 */
export function jsonDiagnostic(tool: string): (message: string, fields: Record<string, number>) => string {
  return (message, fields) => jsonText({ tool, message, ...fields });
}
