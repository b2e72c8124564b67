// SPDX-License-Identifier: MIT
// Number formatting that matches Python's printf-style output bit for bit,
// done in integer arithmetic so no float rounding can creep in. The write*
// variants append the same text to a ByteOutput without making a string;
// they return false (writing nothing) outside the range where that is
// proven identical, and the caller then uses the string version.

import type { ByteOutput } from './output.js';

const DOT = 0x2e;

function pad(value: number, digits: number): string {
  return String(value).padStart(digits, '0');
}

/** `%.3f` of (us / 1000): microseconds shown as milliseconds. */
export function microsAsMillis3(us: number): string {
  return `${Math.floor(us / 1000)}.${pad(us % 1000, 3)}`;
}

/** `%.6f` of (us / 1e6): microseconds shown as seconds. */
export function microsAsSeconds6(us: number): string {
  return `${Math.floor(us / 1_000_000)}.${pad(us % 1_000_000, 6)}`;
}

/** microsAsSeconds6, appended to `out`. */
export function writeMicrosAsSeconds6(out: ByteOutput, us: number): boolean {
  if (!(us >= 0 && us <= Number.MAX_SAFE_INTEGER)) return false;
  out.uint(Math.floor(us / 1_000_000));
  out.byte(DOT);
  out.zeroPadded(us % 1_000_000, 6);
  return true;
}

/**
 * `%.2f` of float(us) / 1000, as Python prints it: the correctly rounded
 * decimal of the double, ties to even. V8's toFixed also rounds the exact
 * double, but breaks exact ties upwards; an exact tie needs us/1000 to be a
 * dyadic rational ending in 5 thousandths, i.e. us % 250 === 125.
 */
export function microsAsMillis2(us: number): string {
  if (us % 250 === 125) {
    const hundredths = Math.floor(us / 10);
    const even = hundredths % 2 === 0 ? hundredths : hundredths + 1;
    return `${Math.floor(even / 100)}.${pad(even % 100, 2)}`;
  }
  return (us / 1000).toFixed(2);
}
