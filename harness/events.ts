// SPDX-License-Identifier: MIT
// Events for tests: encoded bytes with defaults (over encode-event.ts), and
// decoded events for the pure formatters.

import type { TcpEvent } from '../src/decode/event.js';
import { encodeEvent as encodeRawEvent, type EventFields } from './encode-event.js';

export type { EventFields };

/** Event bytes with plausible defaults for what `fields` leaves out (an
 * IPv4 curl socket going CLOSE -> SYN_SENT), plus `trailingBytes` of padding. */
export function encodeEvent(fields: EventFields, trailingBytes = 0): DataView {
  return encodeRawEvent(
    {
      tsNs: 1_000_000_000n,
      skaddr: 0xffff888104d1c000n,
      pid: 1234,
      saddr: [127, 0, 0, 1],
      daddr: [127, 0, 0, 1],
      comm: 'curl',
      family: 2,
      dport: 80,
      oldState: 7,
      newState: 2,
      ...fields,
    },
    0,
    trailingBytes,
  );
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
    netnsIno: 4026531840,
    cgroupId: 0,
    skErr: 0,
    flags: 0,
    ...overrides,
  };
}
