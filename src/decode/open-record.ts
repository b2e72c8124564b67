// SPDX-License-Identifier: MIT
// struct open_session (bpf/tcpstates.h), as the dump iterator writes it:
// decoded into OpenSession rows. Pure; the layout test checks
// OPEN_SESSION_LAYOUT against the object's BTF.

import { AF_INET6, ipv4ToString, ipv6ToString } from '../decode/addr.js';
import { EVENT_FLAG_SEEDED, hex64, readComm, readU64 } from '../decode/event.js';
import { readTcpInfo, type TcpInfo } from '../decode/tcp-info.js';
import { stateName } from '../decode/tcp-states.js';
import type { OpenSession } from './open-session.js';

/** Byte offset of each field of struct open_session. */
export const OPEN_SESSION_LAYOUT = {
  skaddr: 0,
  seen_ns: 8,
  tx_bytes: 16,
  rx_bytes: 24,
  tx_reported: 32,
  rx_reported: 40,
  cgroup_id: 48,
  owner_pid: 56,
  netns_ino: 60,
  saddr: 64,
  daddr: 80,
  owner_comm: 96,
  family: 112,
  sport: 114,
  dport: 116,
  state: 118,
  flags: 119,
  info: 120,
} as const;
export const OPEN_SESSION_SIZE = 144;

/** An OpenSession with what the JSON rows add. */
export interface OpenSessionRecord extends OpenSession {
  readonly skaddr: string;
  /** CLOCK_MONOTONIC ns of the session's first transition seen, or of the seed. */
  readonly seenNs: number;
  /** The state's number (include/net/tcp_states.h); `state` is its name. */
  readonly stateNumber: number;
  readonly netnsIno: number;
  readonly cgroupId: number;
  readonly tcpInfo: TcpInfo;
}

const L = OPEN_SESSION_LAYOUT;

/** Whether the record at `offset` moved bytes since the previous pass
 * (read without decoding the rest). */
export function movedSincePass(view: DataView, offset: number): boolean {
  return (
    readU64(view, offset + L.tx_bytes) !== readU64(view, offset + L.tx_reported) ||
    readU64(view, offset + L.rx_bytes) !== readU64(view, offset + L.rx_reported)
  );
}

/** The record at `offset`; `nowNs` (CLOCK_MONOTONIC) gives its age. */
export function decodeOpenSession(view: DataView, offset: number, nowNs: number): OpenSessionRecord {
  const family = view.getUint16(offset + L.family, true);
  const v6 = family === AF_INET6;
  const address = (at: number) => (v6 ? ipv6ToString(view, offset + at) : ipv4ToString(view, offset + at));
  const seenNs = readU64(view, offset + L.seen_ns);
  const skaddr = hex64(view, offset + L.skaddr);
  const txBytes = readU64(view, offset + L.tx_bytes);
  const rxBytes = readU64(view, offset + L.rx_bytes);
  const tcpInfo = readTcpInfo(view, offset + L.info);
  const stateNumber = view.getUint8(offset + L.state);
  return {
    // The address alone may be reused by a later socket; with the time it was first seen, not.
    key: `${skaddr}:${seenNs}`,
    skaddr,
    seenNs,
    pid: view.getUint32(offset + L.owner_pid, true),
    comm: readComm(view, offset + L.owner_comm),
    family: v6 ? 6 : 4,
    saddr: address(L.saddr),
    sport: view.getUint16(offset + L.sport, true),
    daddr: address(L.daddr),
    dport: view.getUint16(offset + L.dport, true),
    state: stateName(stateNumber),
    stateNumber,
    ageMs: Math.max(0, nowNs - seenNs) / 1e6,
    startSeen: (view.getUint8(offset + L.flags) & EVENT_FLAG_SEEDED) === 0,
    txBytes,
    rxBytes,
    txDeltaBytes: txBytes - readU64(view, offset + L.tx_reported),
    rxDeltaBytes: rxBytes - readU64(view, offset + L.rx_reported),
    srttUs: tcpInfo.srttUs,
    totalRetrans: tcpInfo.totalRetrans,
    netnsIno: view.getUint32(offset + L.netns_ino, true),
    cgroupId: readU64(view, offset + L.cgroup_id),
    tcpInfo,
  };
}
