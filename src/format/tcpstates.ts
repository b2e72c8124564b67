// SPDX-License-Identifier: MIT
// tcpstates rows, in bcc's Python tcpstates formats:
//   default: "%-16x %-5d %-10.10s %s%-15s %-5d %-15s %-5d %-11s -> %-11s %.3f"
//   -w:      "%-16x %-5d %-16.16s %-2s %-39s %-5s %-39s %-5d %-11s -> %-11s %.3f"
//   -s:      "%x,%d,%s,%s,%s,%s,%s,%d,%s,%s,%.3f"
// with "%-8s " (TIME, -T) and "%-9.6f " (TIME(s), -t) prefixes.

import type { TcpEvent } from '../decode/event.js';
import { AF_INET6 } from '../decode/addr.js';
import { stateName } from '../decode/tcp-states.js';
import { RowRenderer, type Column } from './columns.js';
import { microsAsMillis3 } from './numbers.js';
import { colorState, type Colorizer } from './color.js';
import { timeColumns, type TimeOptions } from './time-columns.js';

export interface TcpstatesFormatOptions extends TimeOptions {
  readonly wide: boolean;
  readonly csv: boolean;
  /** Colours state names; null for plain text. */
  readonly colorizer: Colorizer | null;
}

export function tcpstatesColumns(options: TcpstatesFormatOptions): Column<TcpEvent>[] {
  const addressWidth = options.wide ? 39 : 15;
  const colorizer = options.colorizer;
  const state = (name: string, pick: (event: TcpEvent) => number): Column<TcpEvent> => ({
    header: name,
    width: 11,
    align: 'left',
    value: (event) => stateName(pick(event)),
    ...(colorizer ? { decorate: (padded: string, event: TcpEvent) => colorState(colorizer, pick(event), padded) } : {}),
  });
  return [
    ...timeColumns<TcpEvent>(options, (event) => event.tsNs),
    { header: 'SKADDR', width: 16, align: 'left', value: (event) => event.skaddr },
    { header: 'C-PID', width: 5, align: 'left', value: (event) => String(event.pid) },
    {
      header: 'C-COMM',
      width: options.wide ? 16 : 10,
      align: 'left',
      maxChars: options.wide ? 16 : 10,
      value: (event) => event.comm,
    },
    {
      header: 'IP',
      width: 2,
      align: 'left',
      omitInText: !options.wide,
      value: (event) => (event.family === AF_INET6 ? '6' : '4'),
    },
    { header: 'LADDR', width: addressWidth, align: 'left', value: (event) => event.localAddress },
    { header: 'LPORT', width: 5, align: 'left', value: (event) => String(event.localPort) },
    { header: 'RADDR', width: addressWidth, align: 'left', value: (event) => event.remoteAddress },
    { header: 'RPORT', width: 5, align: 'left', value: (event) => String(event.remotePort) },
    state('OLDSTATE', (event) => event.oldState),
    { header: '->', width: 0, align: 'left', literal: true, value: () => '->' },
    state('NEWSTATE', (event) => event.newState),
    { header: 'MS', width: 0, align: 'left', value: (event) => microsAsMillis3(Math.floor(event.deltaNs / 1000)) },
  ];
}

export function tcpstatesRenderer(options: TcpstatesFormatOptions): RowRenderer<TcpEvent> {
  return new RowRenderer(tcpstatesColumns(options), options.csv ? 'csv' : 'text', options.colorizer !== null);
}
