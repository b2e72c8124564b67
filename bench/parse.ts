// SPDX-License-Identifier: MIT
// Pure helpers of the benchmark: reading the tools' output and summary
// lines, counting rows, medians. Kept apart from the process juggling in
// bench.ts so that they can be unit-tested. Rows are read with the tests'
// parser (harness/rows.ts).

import type { ChildProcess } from 'node:child_process';
import { procStatFields } from '../src/sys/proc-stat.js';
import { parseTextRow, transition, type StateRow } from '../harness/rows.js';

/** The generator's summary line:
 * "loadgen: connections=N failures=F seconds=S rate=R cpu_us=C". */
export interface LoadgenResult {
  readonly connections: number;
  readonly failures: number;
  readonly seconds: number;
  readonly rate: number;
  readonly cpuUs: number;
}

/** What bench.ts lends a measurement of its own (the floor, the open
 * sessions): its generators, its registry of children to stop if the bench
 * is interrupted, its log. */
export interface BenchDriver {
  /** The bench's generators: `connections` spread over its processes. */
  readonly runLoadgen: (connections: number) => Promise<LoadgenResult>;
  /** Registers a child to be stopped if the bench is interrupted. */
  readonly track: (child: ChildProcess) => ChildProcess;
  readonly log: (line: string) => void;
}

export function parseLoadgen(stdout: string): LoadgenResult {
  const match = /loadgen: connections=(\d+) failures=(\d+) seconds=([\d.]+) rate=([\d.]+) cpu_us=(\d+)/.exec(stdout);
  if (!match) throw new Error(`no summary line in the generator's output: ${JSON.stringify(stdout.slice(0, 200))}`);
  return {
    connections: Number(match[1]),
    failures: Number(match[2]),
    seconds: Number(match[3]),
    rate: Number(match[4]),
    cpuUs: Number(match[5]),
  };
}

/** measure's report: "pid=P" then "pid=P status=S utime_us=U stime_us=S maxrss_kb=K". */
export interface MeasureReport {
  readonly pid: number;
  readonly status: number;
  readonly cpuUs: number;
  readonly userUs: number;
  readonly kernelUs: number;
  readonly maxRssKb: number;
}

export function parseMeasureReport(text: string): MeasureReport | null {
  const match = /pid=(\d+) status=(\d+) utime_us=(\d+) stime_us=(\d+) maxrss_kb=(\d+)/.exec(text);
  if (!match) return null;
  return {
    pid: Number(match[1]),
    status: Number(match[2]),
    cpuUs: Number(match[3]) + Number(match[4]),
    userUs: Number(match[3]),
    kernelUs: Number(match[4]),
    maxRssKb: Number(match[5]),
  };
}

/** The child pid, from measure's first line. */
export function parseMeasurePid(text: string): number | null {
  const match = /^pid=(\d+)$/m.exec(text);
  return match ? Number(match[1]) : null;
}

/** Our tool's last stderr line: "tcpstates: N events read, M lost". */
export function parseOurSummary(stderr: string): { read: number; lost: number } | null {
  const match = /tcpstates: (\d+) events read, (\d+) lost/.exec(stderr);
  return match ? { read: Number(match[1]), lost: Number(match[2]) } : null;
}

/** Sums libbpf-tools' "lost N events on CPU #C" lines (and ours' "lost N events: ..."). */
export function sumLostLines(stderr: string): number {
  let lost = 0;
  for (const match of stderr.matchAll(/lost (\d+) events/g)) lost += Number(match[1]);
  return lost;
}

/** `line` as a tcpstates row (default layout), or null when it is none. */
function textRowOrNull(line: string): StateRow | null {
  try {
    return parseTextRow(line);
  } catch {
    return null;
  }
}

/** Whether `line` is a tcpstates row (default layout) with `port` as LPORT or RPORT. */
export function rowHasPort(line: string, port: number): boolean {
  const row = textRowOrNull(line);
  return row !== null && (row.lport === port || row.rport === port);
}

/**
 * Counts the rows of a tcpstates output (bcc's or libbpf-tools' default
 * layout: "... LADDR LPORT RADDR RPORT OLDSTATE -> NEWSTATE MS"), fed in
 * chunks. Fields are taken from the end of the line, so a command name with
 * spaces cannot shift them. Rows with `port` as LPORT or RPORT are the
 * generator's, counted per transition.
 */
export class RowCounter {
  rows = 0;
  portRows = 0;
  readonly transitions = new Map<string, number>();
  private partial = '';

  constructor(private readonly port: number) {}

  feed(chunk: string): void {
    const text = this.partial + chunk;
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      this.line(text.slice(start, end));
      start = end + 1;
    }
    this.partial = text.slice(start);
  }

  end(): void {
    if (this.partial.length > 0) this.line(this.partial);
    this.partial = '';
  }

  private line(line: string): void {
    if (line.startsWith('SKADDR') || line.startsWith('TIME')) return;
    this.rows++;
    const row = textRowOrNull(line);
    if (row === null || (row.lport !== this.port && row.rport !== this.port)) return;
    this.portRows++;
    const key = transition(row);
    this.transitions.set(key, (this.transitions.get(key) ?? 0) + 1);
  }
}

/** What each generator connection must show: 5 client and 5 server transitions. */
export const TRANSITIONS_PER_CONNECTION = [
  'CLOSE->SYN_SENT',
  'SYN_SENT->ESTABLISHED',
  'ESTABLISHED->FIN_WAIT1',
  'FIN_WAIT1->FIN_WAIT2',
  'FIN_WAIT2->CLOSE',
  'LISTEN->SYN_RECV',
  'SYN_RECV->ESTABLISHED',
  'ESTABLISHED->CLOSE_WAIT',
  'CLOSE_WAIT->LAST_ACK',
  'LAST_ACK->CLOSE',
] as const;

/** Rows the generator causes: 10 per connection, plus each listener's
 * CLOSE->LISTEN and LISTEN->CLOSE. */
export function expectedRows(connections: number, listeners: number): number {
  return connections * TRANSITIONS_PER_CONNECTION.length + 2 * listeners;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Sums the first field (ns on CPU) of each thread's /proc/<pid>/task/<tid>/schedstat. */
export function sumSchedstatNs(schedstats: readonly string[]): number {
  let total = 0;
  for (const text of schedstats) {
    const first = Number(text.trim().split(/\s+/)[0]);
    if (Number.isFinite(first)) total += first;
  }
  return total;
}

/** A table cell: `value` with `digits` decimals, or "-" when it is not a number. */
export function fmt(value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

/** `items` in the order of round `round` (from 1): rotated by one each
 * round, so that none always runs first or after another. */
export function rotated<T>(items: readonly T[], round: number): T[] {
  return items.map((_, index) => items[(index + round - 1) % items.length] as T);
}

/** A markdown table, columns padded for reading as plain text too. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] as number) : cell.padStart(widths[column] as number))).join(' | ')} |`;
  const rule = `|${widths.map((width, column) => (column === 0 ? `-${'-'.repeat(width)}-` : `-${'-'.repeat(width)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** Several generators run at once, as one load: their connections added
 * up over the longest one's time. */
export function combineLoadgens(results: readonly LoadgenResult[]): LoadgenResult {
  const connections = results.reduce((sum, result) => sum + result.connections, 0);
  const seconds = Math.max(...results.map((result) => result.seconds));
  return {
    connections,
    failures: results.reduce((sum, result) => sum + result.failures, 0),
    seconds,
    rate: seconds > 0 ? connections / seconds : 0,
    cpuUs: results.reduce((sum, result) => sum + result.cpuUs, 0),
  };
}

export { procStatFields };

/** User and kernel CPU time (clock ticks) of a whole process, fields 14
 * and 15 of /proc/<pid>/stat (after the parenthesised command name). */
export function parseProcStatTicks(text: string): { userTicks: number; kernelTicks: number } | null {
  const fields = procStatFields(text);
  const userTicks = Number(fields[11]);
  const kernelTicks = Number(fields[12]);
  return Number.isFinite(userTicks) && Number.isFinite(kernelTicks) ? { userTicks, kernelTicks } : null;
}
