// SPDX-License-Identifier: MIT
// Builds the bytes of a struct tcp_event (bpf/tcpstates.h) for tests, the
// inverse of decodeEvent: fields not given are zero.

import { EVENT_LAYOUT, EVENT_SIZE } from '../src/decode/event.js';

export interface EventFields {
  tsNs?: bigint;
  skaddr?: bigint;
  deltaNs?: bigint;
  txBytes?: bigint;
  rxBytes?: bigint;
  pid?: number;
  ownerPid?: number;
  /** Raw address bytes, network order (4 for IPv4, 16 for IPv6). */
  saddr?: readonly number[];
  daddr?: readonly number[];
  /** Raw comm bytes (UTF-8), at most 16; NUL-padded. */
  comm?: string | readonly number[];
  ownerComm?: string | readonly number[];
  family?: number;
  sport?: number;
  dport?: number;
  oldState?: number;
  newState?: number;
  netnsIno?: number;
  cgroupId?: bigint;
  skErr?: number;
  flags?: number;
}

function commBytes(comm: string | readonly number[]): Uint8Array {
  const bytes = typeof comm === 'string' ? new TextEncoder().encode(comm) : Uint8Array.from(comm);
  return bytes.subarray(0, 16);
}

/** The event's bytes at `offset` in a buffer of `offset + EVENT_SIZE + padding` bytes. */
export function encodeEvent(fields: EventFields, offset = 0, padding = 0): DataView {
  const bytes = new Uint8Array(offset + EVENT_SIZE + padding);
  const view = new DataView(bytes.buffer);
  const L = EVENT_LAYOUT;
  view.setBigUint64(offset + L.ts_ns, fields.tsNs ?? 0n, true);
  view.setBigUint64(offset + L.skaddr, fields.skaddr ?? 0n, true);
  view.setBigUint64(offset + L.delta_ns, fields.deltaNs ?? 0n, true);
  view.setBigUint64(offset + L.tx_bytes, fields.txBytes ?? 0n, true);
  view.setBigUint64(offset + L.rx_bytes, fields.rxBytes ?? 0n, true);
  view.setUint32(offset + L.pid, fields.pid ?? 0, true);
  view.setUint32(offset + L.owner_pid, fields.ownerPid ?? 0, true);
  bytes.set(fields.saddr ?? [], offset + L.saddr);
  bytes.set(fields.daddr ?? [], offset + L.daddr);
  bytes.set(commBytes(fields.comm ?? ''), offset + L.comm);
  bytes.set(commBytes(fields.ownerComm ?? ''), offset + L.owner_comm);
  view.setUint16(offset + L.family, fields.family ?? 2, true);
  view.setUint16(offset + L.sport, fields.sport ?? 0, true);
  view.setUint16(offset + L.dport, fields.dport ?? 0, true);
  view.setUint8(offset + L.oldstate, fields.oldState ?? 0);
  view.setUint8(offset + L.newstate, fields.newState ?? 0);
  view.setUint32(offset + L.netns_ino, fields.netnsIno ?? 0, true);
  view.setBigUint64(offset + L.cgroup_id, fields.cgroupId ?? 0n, true);
  view.setUint16(offset + L.sk_err, fields.skErr ?? 0, true);
  view.setUint8(offset + L.flags, fields.flags ?? 0);
  return view;
}
