// SPDX-License-Identifier: MIT
// Option value parsing, pure: each parser returns the value or throws
// UsageError with a message that names the offending text. The checks of
// sys/ and metrics/ return their problems as data (Checked), mapped here.

import { EnvironmentError, UsageError, type Checked } from '../errors.js';

import { quoted, shown } from '../quote.js';

export { quoted, shown, SHOWN_VALUE_MAX } from '../quote.js';

/** Parses "80,443": integers 1-65535, no empty items, duplicates dropped. */
export function parsePortList(text: string, optionName: string): number[] {
  return parseIntegerList(text, optionName, 'port', 65535);
}

/** PIDs are 1 .. 4194304 (PID_MAX_LIMIT on 64-bit). */
export const PID_MAX = 4194304;

/** Entries of the BPF `pids` map (MAX_PIDS in bpf/tcpstates.bpf.c), checked by test/build/constants.test.ts. */
export const PID_LIST_MAX = 1024;

export function parsePidList(text: string, optionName: string): number[] {
  return checkPidCount(parseIntegerList(text, optionName, 'PID', PID_MAX), optionName);
}

function checkPidCount(pids: number[], optionName: string): number[] {
  if (pids.length > PID_LIST_MAX) throw new UsageError(`${optionName}: at most ${PID_LIST_MAX} PIDs (got ${pids.length})`);
  return pids;
}

/**
 * A list option given once or more (-L 80 -L 443,8080): the union of the
 * lists, in order of first appearance, each value checked as
 * parsePortList/parsePidList do.
 */
export function parseRepeatedList(
  values: string | readonly string[],
  optionName: string,
  parse: (text: string, optionName: string) => number[],
): number[] {
  const union = new Set<number>();
  for (const text of typeof values === 'string' ? [values] : values) for (const value of parse(text, optionName)) union.add(value);
  return [...union];
}

/** -p given more than once: the union, at most PID_LIST_MAX PIDs in all. */
export function parsePidLists(values: string | readonly string[], optionName: string): number[] {
  return checkPidCount(
    parseRepeatedList(values, optionName, (text) => parseIntegerList(text, optionName, 'PID', PID_MAX)),
    optionName,
  );
}

function parseIntegerList(text: string, optionName: string, what: string, max: number): number[] {
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const trimmed = item.trim();
    if (trimmed === '') throw new UsageError(`${optionName}: empty ${what} in list ${quoted(text)}`);
    if (!/^\d+$/.test(trimmed)) throw new UsageError(`${optionName}: invalid ${what} ${quoted(trimmed)}: not a positive integer`);
    const value = Number(trimmed);
    if (value < 1 || value > max) throw new UsageError(`${optionName}: ${what} ${shown(trimmed)} is out of range 1-${max}`);
    values.add(value);
  }
  return [...values];
}

/** Pages per CPU for the perf rings: a power of two, 1 .. 65536. */
export function parseBufferPages(text: string, optionName: string): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${optionName}: invalid page count ${quoted(text)}: not a positive integer`);
  const pages = Number(text.trim());
  if (pages < 1 || pages > 65536 || (pages & (pages - 1)) !== 0) {
    throw new UsageError(`${optionName}: page count ${shown(text.trim())} must be a power of two from 1 to 65536`);
  }
  return pages;
}

/** A check's result as the CLI takes it: its value, or its problem thrown
 * as a UsageError (exit 2) or an EnvironmentError (exit 1). */
export function checkedValue<T>(checked: Checked<T>): T {
  if (checked.ok) return checked.value;
  const { kind, message, hint } = checked.problem;
  throw kind === 'usage' ? new UsageError(message, { hint }) : new EnvironmentError(message, { hint });
}
