// SPDX-License-Identifier: MIT
// The tests' oracle for EventView: a second, independent decoder of struct
// tcp_event that copies an event into a plain object (the tools read events
// in place through EventView only).

import { AF_INET6, ipv4ToString, ipv6ToString } from '../src/decode/addr.js';
import { EVENT_LAYOUT, EVENT_SIZE, hex64, readComm, readU64, TRANSITION_EVENT_SIZE, type TcpEvent } from '../src/decode/event.js';

export class DecodeError extends Error {
  override name = 'DecodeError' as const;
}

/**
 * Decodes the event at `offset`. Perf samples may carry up to 7 bytes of
 * trailing padding, so any `size` of at least TRANSITION_EVENT_SIZE is
 * accepted; the sessions tail (bytes, owner) reads as zero in a record too
 * short to hold it (a tcpstates record).
 * @throws DecodeError when the sample is shorter than a transition record.
 */
export function decodeEvent(view: DataView, offset: number, size: number): TcpEvent {
  if (size < TRANSITION_EVENT_SIZE) {
    throw new DecodeError(`sample of ${size} bytes is shorter than an event (${TRANSITION_EVENT_SIZE})`);
  }
  const L = EVENT_LAYOUT;
  const hasTail = size >= EVENT_SIZE;
  const family = view.getUint16(offset + L.family, true);
  const v6 = family === AF_INET6;
  return {
    tsNs: readU64(view, offset + L.ts_ns),
    skaddr: hex64(view, offset + L.skaddr),
    deltaNs: readU64(view, offset + L.delta_ns),
    txBytes: hasTail ? readU64(view, offset + L.tx_bytes) : 0,
    rxBytes: hasTail ? readU64(view, offset + L.rx_bytes) : 0,
    pid: view.getUint32(offset + L.pid, true),
    comm: readComm(view, offset + L.comm),
    ownerPid: view.getUint32(offset + L.owner_pid, true),
    ownerComm: hasTail ? readComm(view, offset + L.owner_comm) : '',
    family,
    localAddress: v6 ? ipv6ToString(view, offset + L.saddr) : ipv4ToString(view, offset + L.saddr),
    localPort: view.getUint16(offset + L.sport, true),
    remoteAddress: v6 ? ipv6ToString(view, offset + L.daddr) : ipv4ToString(view, offset + L.daddr),
    remotePort: view.getUint16(offset + L.dport, true),
    oldState: view.getUint8(offset + L.oldstate),
    newState: view.getUint8(offset + L.newstate),
    netnsIno: view.getUint32(offset + L.netns_ino, true),
    cgroupId: readU64(view, offset + L.cgroup_id),
    skErr: view.getUint16(offset + L.sk_err, true),
    flags: view.getUint8(offset + L.flags),
  };
}
