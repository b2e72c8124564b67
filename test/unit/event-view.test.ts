// SPDX-License-Identifier: MIT
// EventView reads in place exactly what decodeEvent copies out.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { EVENT_SIZE, EventView, type TcpEvent } from '../../src/decode/event.js';
import { decodeEvent } from '../../harness/decode-event.js';
import { encodeEvent } from '../../harness/encode-event.js';

const FIELDS: (keyof TcpEvent)[] = [
  'tsNs', 'skaddr', 'deltaNs', 'txBytes', 'rxBytes', 'pid', 'comm', 'ownerPid', 'ownerComm',
  'family', 'localAddress', 'localPort', 'remoteAddress', 'remotePort', 'oldState', 'newState',
];

test('every getter equals the decoded field, IPv4 and IPv6, after moving the view', () => {
  const view = new EventView();
  const events = [
    encodeEvent({ tsNs: 123456789012345n, skaddr: 0xffff888106441bc0n, deltaNs: 987654321n, txBytes: 5n, rxBytes: 7n,
      pid: 4242, ownerPid: 17, comm: 'curl', ownerComm: 'n\u00e9', family: 2, saddr: [127, 0, 0, 1], daddr: [127, 0, 0, 9],
      sport: 41000, dport: 80, oldState: 2, newState: 1 }, 24),
    encodeEvent({ skaddr: 0x1a2bn, family: 10, saddr: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
      daddr: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1], sport: 1, dport: 65535, oldState: 10, newState: 3 }, 24),
  ];
  for (const bytes of events) {
    const decoded = decodeEvent(bytes, 24, EVENT_SIZE);
    view.at(bytes, 24);
    for (const field of FIELDS) assert.equal(view[field], decoded[field], field);
  }
});
