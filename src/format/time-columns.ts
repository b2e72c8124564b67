// SPDX-License-Identifier: MIT
// bcc's optional leading columns: TIME ("%-8s ", wall clock HH:MM:SS, -T)
// and TIME(s) ("%-9.6f ", seconds since the first row printed, -t).

import type { Column } from './columns.js';
import { WallClock } from './clock.js';
import { microsAsSeconds6 } from './numbers.js';

export interface TimeOptions {
  /** -T: HH:MM:SS column. */
  readonly time: boolean;
  /** -t: seconds since the first row. */
  readonly timestamp: boolean;
  /** Wall-clock ms minus CLOCK_MONOTONIC ms (see clock.ts). */
  readonly wallClockOffsetMs: number;
}

export function timeColumns<Row>(options: TimeOptions, monotonicNs: (row: Row) => number): Column<Row>[] {
  const columns: Column<Row>[] = [];
  if (options.time) {
    const clock = new WallClock(options.wallClockOffsetMs);
    columns.push({ header: 'TIME', width: 8, align: 'left', value: (row) => clock.hhmmss(monotonicNs(row)) });
  }
  if (options.timestamp) {
    let firstUs = -1;
    columns.push({
      header: 'TIME(s)',
      width: 9,
      align: 'left',
      value: (row) => {
        const us = Math.floor(monotonicNs(row) / 1000);
        if (firstUs < 0) firstUs = us;
        return microsAsSeconds6(us - firstUs);
      },
    });
  }
  return columns;
}
