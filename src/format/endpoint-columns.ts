// SPDX-License-Identifier: MIT
// The IP, LADDR, LPORT, RADDR and RPORT columns, identical in bcc's tcpstates
// and tcplife formats: IP only in -w (and CSV), addresses 15 wide or 39 with
// -w, ports 5 wide.

import { EVENT_LAYOUT, type EventView, type TcpEvent } from '../decode/event.js';
import { AF_INET6 } from '../decode/addr.js';
import type { Column } from './columns.js';

const L = EVENT_LAYOUT;
/** '6' for AF_INET6, '4' for anything else, as `value` says. */
const FAMILY_DIGITS = Array.from({ length: AF_INET6 + 1 }, (_, family) => (family === AF_INET6 ? '6' : undefined));

export function endpointColumns(wide: boolean): Column<TcpEvent, EventView>[] {
  const addressWidth = wide ? 39 : 15;
  return [
    {
      header: 'IP',
      width: 2,
      align: 'left',
      omitInText: !wide,
      value: (event) => (event.family === AF_INET6 ? '6' : '4'),
      raw: { kind: 'name', offset: L.family, bytes: 2, names: FAMILY_DIGITS, otherwise: '4' },
    },
    {
      header: 'LADDR',
      width: addressWidth,
      align: 'left',
      value: (event) => event.localAddress,
      raw: { kind: 'ipv4', offset: L.saddr, familyOffset: L.family },
    },
    {
      header: 'LPORT',
      width: 5,
      align: 'left',
      value: (event) => String(event.localPort),
      raw: { kind: 'uint', offset: L.sport, bytes: 2 },
    },
    {
      header: 'RADDR',
      width: addressWidth,
      align: 'left',
      value: (event) => event.remoteAddress,
      raw: { kind: 'ipv4', offset: L.daddr, familyOffset: L.family },
    },
    {
      header: 'RPORT',
      width: 5,
      align: 'left',
      value: (event) => String(event.remotePort),
      raw: { kind: 'uint', offset: L.dport, bytes: 2 },
    },
  ];
}
