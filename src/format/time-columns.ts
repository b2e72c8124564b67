// SPDX-License-Identifier: MIT
// bcc's optional leading columns: TIME ("%-8s ", wall clock HH:MM:SS, -T)
// and TIME(s) ("%-9.6f ", seconds since the first row printed, -t).

import type { Column } from './columns.js';
import { WallClock } from './clock.js';
import { microsAsSeconds6, writeMicrosAsSeconds6 } from './numbers.js';

export interface TimeOptions {
  /** -T: HH:MM:SS column. */
  readonly time: boolean;
  /** -t: seconds since the first row. */
  readonly timestamp: boolean;
  /** Wall-clock ms minus CLOCK_MONOTONIC ms (see clock.ts). */
  readonly wallClockOffsetMs: number;
}

export function timeColumns<Row, Raw extends Row = Row>(
  options: TimeOptions,
  monotonicNs: (row: Row) => number,
): Column<Row, Raw>[] {
  const columns: Column<Row, Raw>[] = [];
  if (options.time) {
    const clock = new WallClock(options.wallClockOffsetMs);
    columns.push({
      header: 'TIME',
      width: 8,
      align: 'left',
      value: (row) => clock.hhmmss(monotonicNs(row)),
      write: (out, row) => {
        out.text(clock.hhmmss(monotonicNs(row)));
        return true;
      },
    });
  }
  if (options.timestamp) {
    let firstUs = -1;
    const sinceFirstUs = (row: Row): number => {
      const us = Math.floor(monotonicNs(row) / 1000);
      if (firstUs < 0) firstUs = us;
      return us - firstUs;
    };
    columns.push({
      header: 'TIME(s)',
      width: 9,
      align: 'left',
      value: (row) => microsAsSeconds6(sinceFirstUs(row)),
      write: (out, row) => writeMicrosAsSeconds6(out, sinceFirstUs(row)),
      reset: () => {
        firstUs = -1;
      },
    });
  }
  return columns;
}
