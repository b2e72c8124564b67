// SPDX-License-Identifier: MIT
// Option value parsing, pure: each parser returns the value or throws
// UsageError with a message that names the offending text.

import { UsageError } from '../errors.js';

/** Parses "80,443": integers 1-65535, no empty items, duplicates dropped. */
export function parsePortList(text: string, optionName: string): number[] {
  return parseIntegerList(text, optionName, 'port', 65535);
}

/** PIDs are 1 .. 4194304 (PID_MAX_LIMIT on 64-bit). */
export const PID_MAX = 4194304;

/** Entries of the BPF `pids` map (MAX_PIDS in bpf/tcpstates.bpf.c). */
export const PID_LIST_MAX = 1024;

export function parsePidList(text: string, optionName: string): number[] {
  const pids = parseIntegerList(text, optionName, 'PID', PID_MAX);
  if (pids.length > PID_LIST_MAX) throw new UsageError(`${optionName}: at most ${PID_LIST_MAX} PIDs (got ${pids.length})`);
  return pids;
}

function parseIntegerList(text: string, optionName: string, what: string, max: number): number[] {
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const trimmed = item.trim();
    if (trimmed === '') throw new UsageError(`${optionName}: empty ${what} in list "${text}"`);
    if (!/^\d+$/.test(trimmed)) throw new UsageError(`${optionName}: invalid ${what} "${trimmed}": not a positive integer`);
    const value = Number(trimmed);
    if (value < 1 || value > max) throw new UsageError(`${optionName}: ${what} ${trimmed} is out of range 1-${max}`);
    values.add(value);
  }
  return [...values];
}

/** Pages per CPU for the perf rings: a power of two, 1 .. 65536. */
export function parseBufferPages(text: string, optionName: string): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${optionName}: invalid page count "${text}": not a positive integer`);
  const pages = Number(text.trim());
  if (pages < 1 || pages > 65536 || (pages & (pages - 1)) !== 0) {
    throw new UsageError(`${optionName}: page count ${text.trim()} must be a power of two from 1 to 65536`);
  }
  return pages;
}
