// SPDX-License-Identifier: MIT
// tcpstates rows, in bcc's Python tcpstates formats:
//   default: "%-16x %-5d %-10.10s %s%-15s %-5d %-15s %-5d %-11s -> %-11s %.3f"
//   -w:      "%-16x %-5d %-16.16s %-2s %-39s %-5s %-39s %-5d %-11s -> %-11s %.3f"
//   -s:      "%x,%d,%s,%s,%s,%s,%s,%d,%s,%s,%.3f"
// with "%-8s " (TIME, -T) and "%-9.6f " (TIME(s), -t) prefixes.

import { EVENT_LAYOUT, type EventView, type TcpEvent } from '../decode/event.js';
import { STATE_NAMES, stateName } from '../decode/tcp-states.js';
import { RowRenderer, type Column } from './columns.js';
import { microsAsMillis3 } from './numbers.js';
import { colorState, type Colorizer } from './color.js';
import { timeColumns, type TimeOptions } from './time-columns.js';
import { endpointColumns } from './endpoint-columns.js';
import { markIfSeeded } from './seeded.js';
import { printable } from '../quote.js';

export interface TcpstatesFormatOptions extends TimeOptions {
  readonly wide: boolean;
  readonly csv: boolean;
  /** Colours state names; null for plain text. */
  readonly colorizer: Colorizer | null;
  /** --existing: a seeded socket's first MS (time since the seed) marked as a lower bound. */
  readonly markSeeded?: boolean;
}

type EventColumn = Column<TcpEvent, EventView>;

const L = EVENT_LAYOUT;
/** The raw field's names: the states that have one (others decline to stateName). */
const RAW_STATE_NAMES = STATE_NAMES.map((name, state) => (state > 0 ? name : undefined));

export function tcpstatesColumns(options: TcpstatesFormatOptions): EventColumn[] {
  const colorizer = options.colorizer;
  const state = (name: string, pick: (event: TcpEvent) => number, offset: number): EventColumn => ({
    header: name,
    width: 11,
    align: 'left',
    value: (event) => stateName(pick(event)),
    raw: { kind: 'name', offset, bytes: 1, names: RAW_STATE_NAMES },
    ...(colorizer ? { decorate: (padded: string, event: TcpEvent) => colorState(colorizer, pick(event), padded) } : {}),
  });
  return [
    ...timeColumns<TcpEvent, EventView>(options, (event) => event.tsNs),
    {
      header: 'SKADDR',
      width: 16,
      align: 'left',
      value: (event) => event.skaddr,
      raw: { kind: 'hex64', offset: L.skaddr },
    },
    {
      header: 'C-PID',
      width: 5,
      align: 'left',
      value: (event) => String(event.pid),
      raw: { kind: 'uint', offset: L.pid, bytes: 4 },
    },
    {
      header: 'C-COMM',
      width: options.wide ? 16 : 10,
      align: 'left',
      maxChars: options.wide ? 16 : 10,
      value: (event) => printable(event.comm),
      raw: { kind: 'text', offset: L.comm, maxBytes: 16 },
    },
    ...endpointColumns(options.wide),
    state('OLDSTATE', (event) => event.oldState, L.oldstate),
    { header: '->', width: 0, align: 'left', literal: true, value: () => '->' },
    state('NEWSTATE', (event) => event.newState, L.newstate),
    options.markSeeded
      ? {
          // No raw path: the marker depends on the flags.
          header: 'MS',
          width: 0,
          align: 'left',
          value: (event) => markIfSeeded(event.flags, microsAsMillis3(Math.floor(event.deltaNs / 1000))),
        }
      : {
          header: 'MS',
          width: 0,
          align: 'left',
          value: (event) => microsAsMillis3(Math.floor(event.deltaNs / 1000)),
          raw: { kind: 'nsAsMillis3', offset: L.delta_ns },
        },
  ];
}

export function tcpstatesRenderer(options: TcpstatesFormatOptions): RowRenderer<TcpEvent, EventView> {
  return new RowRenderer(tcpstatesColumns(options), options.csv ? 'csv' : 'text', options.colorizer !== null);
}
