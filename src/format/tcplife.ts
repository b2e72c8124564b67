// SPDX-License-Identifier: MIT
// tcplife rows, in bcc's Python tcplife formats:
//   default: "%-5d %-10.10s %s%-15s %-5d %-15s %-5d %5d %5d %.2f"
//   -w:      "%-5d %-16.16s %-2s %-39s %-5s %-39s %-5d %6d %6d %.2f"
//   -s:      "%d,%s,%s,%s,%s,%s,%d,%d,%d,%.2f"
// with "%-8s " (TIME, -T) and "%-9.6f " (TIME(s), -t) prefixes; headers use
// the same widths with %s.

import type { EventView, TcpEvent } from '../decode/event.js';
import { RowRenderer, type Column } from './columns.js';
import { microsAsMillis2 } from './numbers.js';
import type { Colorizer } from './color.js';
import { timeColumns, type TimeOptions } from './time-columns.js';
import { endpointColumns } from './endpoint-columns.js';
import { markIfSeeded } from './seeded.js';
import { TCP_CLOSE } from '../decode/tcp-states.js';
import { printable } from '../quote.js';

export interface TcplifeFormatOptions extends TimeOptions {
  readonly wide: boolean;
  readonly csv: boolean;
  /** Marks guessed owners (see sessionOwner) on a terminal; null for plain text. */
  readonly colorizer: Colorizer | null;
  /** --interval: a leading TYPE column, OPEN or CLOSE (see openSessionEvent). */
  readonly rowTypes?: boolean;
  /** --existing: MS of a session that predates the trace marked as a lower bound. */
  readonly markSeeded?: boolean;
}

/** The TYPE column's width: its longest value, CLOSE. */
const TYPE_WIDTH = 5;

export interface SessionOwner {
  readonly pid: number;
  readonly comm: string;
  /** False when the kernel side never saw the owner and this is the task
   * that happened to be on the CPU at CLOSE (bcc's only answer). */
  readonly known: boolean;
}

/**
 * The process a session row is attributed to: the owner the kernel side
 * recorded (connect, listen, accept, close), else, as bcc does, the task on
 * the CPU when the socket reached CLOSE. The kernel's PID filter (-p) uses
 * the same rule.
 */
export function sessionOwner(event: TcpEvent): SessionOwner {
  return event.ownerPid !== 0
    ? { pid: event.ownerPid, comm: event.ownerComm, known: true }
    : { pid: event.pid, comm: event.comm, known: false };
}

/** bcc's `bytes / 1024` printed with %d: whole KiB, truncated. */
export function bytesAsKib(bytes: number): string {
  return String(Math.floor(bytes / 1024));
}

export function tcplifeColumns(options: TcplifeFormatOptions): Column<TcpEvent, EventView>[] {
  const commWidth = options.wide ? 16 : 10;
  const kibWidth = options.wide ? 6 : 5;
  const colorizer = options.colorizer;
  // Only the owner columns carry colour: a guessed owner shows in yellow.
  const ownerDecoration = colorizer
    ? { decorate: (padded: string, event: TcpEvent) => (event.ownerPid === 0 ? colorizer.yellow(padded) : padded) }
    : {};
  const ms = (event: TcpEvent) => microsAsMillis2(Math.floor(event.deltaNs / 1000));
  return [
    // Open rows carry their session's current state in newState, never CLOSE.
    ...(options.rowTypes
      ? [{ header: 'TYPE', width: TYPE_WIDTH, align: 'left', value: (event) => (event.newState === TCP_CLOSE ? 'CLOSE' : 'OPEN') } as const satisfies Column<TcpEvent, EventView>]
      : []),
    ...timeColumns<TcpEvent, EventView>(options, (event) => event.tsNs),
    { header: 'PID', width: 5, align: 'left', value: (event) => String(sessionOwner(event).pid), ...ownerDecoration },
    {
      header: 'COMM',
      width: commWidth,
      align: 'left',
      maxChars: commWidth,
      value: (event) => printable(sessionOwner(event).comm),
      ...ownerDecoration,
    },
    ...endpointColumns(options.wide),
    { header: 'TX_KB', width: kibWidth, align: 'right', value: (event) => bytesAsKib(event.txBytes) },
    { header: 'RX_KB', width: kibWidth, align: 'right', value: (event) => bytesAsKib(event.rxBytes) },
    // bcc: float(span_us) / 1000 with span_us = ns / 1000 truncated.
    {
      header: 'MS',
      width: 0,
      align: 'left',
      value: options.markSeeded ? (event) => markIfSeeded(event.flags, ms(event)) : ms,
    },
  ];
}

export function tcplifeRenderer(options: TcplifeFormatOptions): RowRenderer<TcpEvent, EventView> {
  return new RowRenderer(tcplifeColumns(options), options.csv ? 'csv' : 'text', options.colorizer !== null);
}
