// SPDX-License-Identifier: MIT
// Decodes struct tcp_event (bpf/tcpstates.h) from raw sample bytes. Pure.
// EVENT_LAYOUT mirrors the C header; test/build/layout.test.ts checks it
// against the BTF of the compiled object, so the two cannot drift apart
// silently. EventView is a movable window onto the bytes in place (the perf
// ring), read field by field on demand, so the hot path makes no object and
// no string per event. (The tests keep an independent copying decoder as
// their oracle: harness/decode-event.ts.)

import { AF_INET6, ipv4ToString, ipv6ToString } from './addr.js';
import { readTcpInfo, type TcpInfo } from './tcp-info.js';

/** Byte offset of each field of struct tcp_event. */
export const EVENT_LAYOUT = {
  ts_ns: 0,
  skaddr: 8,
  delta_ns: 16,
  cgroup_id: 24,
  pid: 32,
  netns_ino: 36,
  saddr: 40,
  daddr: 56,
  comm: 72,
  family: 88,
  sport: 90,
  dport: 92,
  oldstate: 94,
  newstate: 95,
  sk_err: 96,
  flags: 98,
  owner_pid: 100,
  tx_bytes: 104,
  rx_bytes: 112,
  owner_comm: 120,
  info: 136,
} as const;

/** sizeof(struct tcp_event): a tcplife (sessions mode) record. */
export const EVENT_SIZE = 160;
/** TCP_EVENT_TRANSITION_SIZE: a tcpstates record, the head up to tx_bytes. */
export const TRANSITION_EVENT_SIZE = 104;
/** TCP_EVENT_F_PASSIVE: the socket began as a listener's child. */
export const EVENT_FLAG_PASSIVE = 1;
/** TCP_EVENT_F_SEEDED: the socket predates the trace (--existing); its
 * delta_ns counts from when the trace found it. */
export const EVENT_FLAG_SEEDED = 2;
/** TASK_COMM_LEN (bpf/tcpstates.h): the comm fields' bytes. */
export const TASK_COMM_LEN = 16;

export interface TcpEvent {
  /** CLOCK_MONOTONIC ns of the transition (bpf_ktime_get_ns). */
  readonly tsNs: number;
  /** Kernel address of the struct sock, lowercase hex without 0x. */
  readonly skaddr: string;
  /** tcpstates: ns spent in oldState (0 = first seen); tcplife: lifespan ns. */
  readonly deltaNs: number;
  readonly txBytes: number;
  readonly rxBytes: number;
  /** The task on the CPU when the transition ran. */
  readonly pid: number;
  readonly comm: string;
  /** The socket's owner as far as the kernel side saw it; 0 / '' if unknown. */
  readonly ownerPid: number;
  readonly ownerComm: string;
  readonly family: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly oldState: number;
  readonly newState: number;
  /** Inode number of the socket's network namespace. */
  readonly netnsIno: number;
  /** The socket's cgroup v2 id (its directory's inode number), 0 if unknown. */
  readonly cgroupId: number;
  /** sk->sk_err at the transition: a positive errno, 0 for none. */
  readonly skErr: number;
  /** TCP_EVENT_F_* bits. */
  readonly flags: number;
  /** tcplife: the session's tcp_info-like fields at CLOSE. */
  readonly tcpInfo?: TcpInfo;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** A NUL-terminated char array; ASCII fast path, UTF-8 with replacement
 * characters otherwise (as bcc's decode('utf-8', 'replace')). */
export function readComm(view: DataView, offset: number): string {
  let text = '';
  for (let i = 0; i < TASK_COMM_LEN; i++) {
    const byte = view.getUint8(offset + i);
    if (byte === 0) return text;
    if (byte >= 0x80) {
      let end = i;
      while (end < TASK_COMM_LEN && view.getUint8(offset + end) !== 0) end++;
      return utf8.decode(new Uint8Array(view.buffer, view.byteOffset + offset, end));
    }
    text += String.fromCharCode(byte);
  }
  return text;
}

export function readU64(view: DataView, offset: number): number {
  return view.getUint32(offset + 4, true) * 0x1_0000_0000 + view.getUint32(offset, true);
}

export function hex64(view: DataView, offset: number): string {
  const high = view.getUint32(offset + 4, true);
  const low = view.getUint32(offset, true).toString(16);
  return high === 0 ? low : high.toString(16) + low.padStart(8, '0');
}

/**
 * A TcpEvent read in place from `view` at `offset`, which `at` moves. Every
 * field is read when asked for, so it must not be kept past the life of the
 * bytes it looks at. Formatters can also read the bytes themselves (`view`
 * and `offset`, see format/raw-fields.ts).
 */
export class EventView implements TcpEvent {
  view: DataView = new DataView(new ArrayBuffer(EVENT_SIZE));
  offset = 0;

  /** Points this view at the event at `offset` (at least EVENT_SIZE bytes). */
  at(view: DataView, offset: number): this {
    this.view = view;
    this.offset = offset;
    return this;
  }

  get tsNs(): number {
    return readU64(this.view, this.offset + EVENT_LAYOUT.ts_ns);
  }
  get skaddr(): string {
    return hex64(this.view, this.offset + EVENT_LAYOUT.skaddr);
  }
  get deltaNs(): number {
    return readU64(this.view, this.offset + EVENT_LAYOUT.delta_ns);
  }
  get txBytes(): number {
    return readU64(this.view, this.offset + EVENT_LAYOUT.tx_bytes);
  }
  get rxBytes(): number {
    return readU64(this.view, this.offset + EVENT_LAYOUT.rx_bytes);
  }
  get pid(): number {
    return this.view.getUint32(this.offset + EVENT_LAYOUT.pid, true);
  }
  get comm(): string {
    return readComm(this.view, this.offset + EVENT_LAYOUT.comm);
  }
  get ownerPid(): number {
    return this.view.getUint32(this.offset + EVENT_LAYOUT.owner_pid, true);
  }
  get ownerComm(): string {
    return readComm(this.view, this.offset + EVENT_LAYOUT.owner_comm);
  }
  get family(): number {
    return this.view.getUint16(this.offset + EVENT_LAYOUT.family, true);
  }
  get localAddress(): string {
    return addressAt(this.view, this.offset + EVENT_LAYOUT.saddr, this.family);
  }
  get localPort(): number {
    return this.view.getUint16(this.offset + EVENT_LAYOUT.sport, true);
  }
  get remoteAddress(): string {
    return addressAt(this.view, this.offset + EVENT_LAYOUT.daddr, this.family);
  }
  get remotePort(): number {
    return this.view.getUint16(this.offset + EVENT_LAYOUT.dport, true);
  }
  get oldState(): number {
    return this.view.getUint8(this.offset + EVENT_LAYOUT.oldstate);
  }
  get newState(): number {
    return this.view.getUint8(this.offset + EVENT_LAYOUT.newstate);
  }
  get netnsIno(): number {
    return this.view.getUint32(this.offset + EVENT_LAYOUT.netns_ino, true);
  }
  get cgroupId(): number {
    return readU64(this.view, this.offset + EVENT_LAYOUT.cgroup_id);
  }
  get skErr(): number {
    return this.view.getUint16(this.offset + EVENT_LAYOUT.sk_err, true);
  }
  get flags(): number {
    return this.view.getUint8(this.offset + EVENT_LAYOUT.flags);
  }
  /** Sessions records only (EVENT_SIZE bytes). */
  get tcpInfo(): TcpInfo {
    return readTcpInfo(this.view, this.offset + EVENT_LAYOUT.info);
  }
}

function addressAt(view: DataView, offset: number, family: number): string {
  return family === AF_INET6 ? ipv6ToString(view, offset) : ipv4ToString(view, offset);
}

/** The CLOCK_MONOTONIC timestamp of the event at `offset`, without decoding the rest. */
export function eventTsNs(view: DataView, offset: number): number {
  return readU64(view, offset + EVENT_LAYOUT.ts_ns);
}
