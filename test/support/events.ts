// SPDX-License-Identifier: Apache-2.0
// Decoded events for the unit tests of the pure formatters.

import type { TcpEvent } from '../../src/decode/event.js';

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
