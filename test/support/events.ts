// SPDX-License-Identifier: MIT
// Builds struct tcp_event bytes for tests, from the same EVENT_LAYOUT the
// decoder uses (the layout itself is checked against BTF in layout.test.ts).

import { EVENT_LAYOUT, EVENT_SIZE, type TcpEvent } from '../../src/decode/event.js';

export interface EventFields {
  tsNs?: bigint;
  skaddr?: bigint;
  deltaNs?: bigint;
  txBytes?: bigint;
  rxBytes?: bigint;
  pid?: number;
  ownerPid?: number;
  saddr?: number[];
  daddr?: number[];
  comm?: string | Uint8Array;
  ownerComm?: string;
  family?: number;
  sport?: number;
  dport?: number;
  oldstate?: number;
  newstate?: number;
}

export function encodeEvent(fields: EventFields, trailingBytes = 0): DataView {
  const bytes = new Uint8Array(EVENT_SIZE + trailingBytes);
  const view = new DataView(bytes.buffer);
  const L = EVENT_LAYOUT;
  view.setBigUint64(L.ts_ns, fields.tsNs ?? 1_000_000_000n, true);
  view.setBigUint64(L.skaddr, fields.skaddr ?? 0xffff888104d1c000n, true);
  view.setBigUint64(L.delta_ns, fields.deltaNs ?? 0n, true);
  view.setBigUint64(L.tx_bytes, fields.txBytes ?? 0n, true);
  view.setBigUint64(L.rx_bytes, fields.rxBytes ?? 0n, true);
  view.setUint32(L.pid, fields.pid ?? 1234, true);
  view.setUint32(L.owner_pid, fields.ownerPid ?? 0, true);
  bytes.set(fields.saddr ?? [127, 0, 0, 1], L.saddr);
  bytes.set(fields.daddr ?? [127, 0, 0, 1], L.daddr);
  const comm = fields.comm ?? 'curl';
  bytes.set(typeof comm === 'string' ? new TextEncoder().encode(comm).subarray(0, 16) : comm, L.comm);
  bytes.set(new TextEncoder().encode(fields.ownerComm ?? '').subarray(0, 16), L.owner_comm);
  view.setUint16(L.family, fields.family ?? 2, true);
  view.setUint16(L.sport, fields.sport ?? 0, true);
  view.setUint16(L.dport, fields.dport ?? 80, true);
  view.setUint8(L.oldstate, fields.oldstate ?? 7);
  view.setUint8(L.newstate, fields.newstate ?? 2);
  return view;
}

/** An IPv4 client socket's ESTABLISHED -> FIN_WAIT1 after 1.234567 ms. */
export function sampleEvent(overrides: Partial<TcpEvent> = {}): TcpEvent {
  return {
    tsNs: 5_000_123_456,
    skaddr: 'ffff9fd7e8192000',
    deltaNs: 1_234_567,
    txBytes: 0,
    rxBytes: 0,
    pid: 22384,
    comm: 'curl',
    ownerPid: 22384,
    ownerComm: 'curl',
    family: 2,
    localAddress: '127.0.0.1',
    localPort: 63446,
    remoteAddress: '127.0.0.2',
    remotePort: 80,
    oldState: 1,
    newState: 4,
    ...overrides,
  };
}
