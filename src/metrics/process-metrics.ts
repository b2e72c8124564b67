// SPDX-License-Identifier: MIT
// The standard process_* metrics every Prometheus client library exports
// (client_golang's names and meanings), for the tracer's own cost: CPU of
// all its threads, resident memory, open descriptors, start time. Read at
// scrape time only; the parsers are pure.

import { readdirSync, readFileSync } from 'node:fs';
import { procStatFields } from '../sys/proc-stat.js';
import type { Exposition } from './exposition.js';

/** Linux reports /proc times in USER_HZ, 100 on every architecture. */
const USER_HZ = 100;

export interface ProcessStats {
  readonly cpuSeconds: number;
  readonly residentBytes: number;
  readonly virtualBytes: number;
  readonly startTimeSeconds: number;
  readonly openFds: number;
  /** null: no limit. */
  readonly maxFds: number | null;
}

/** The boot time, seconds since the epoch: /proc/stat's btime line. */
export function parseBootTimeSeconds(procStat: string): number | null {
  const match = /^btime (\d+)$/m.exec(procStat);
  return match === null ? null : Number(match[1]);
}

/** Start time (seconds since the epoch) and virtual size of a process from
 * its /proc/<pid>/stat line and the boot time. */
export function parseProcessStat(stat: string, bootTimeSeconds: number): { startTimeSeconds: number; virtualBytes: number } {
  const fields = procStatFields(stat);
  return { startTimeSeconds: bootTimeSeconds + Number(fields[19]) / USER_HZ, virtualBytes: Number(fields[20]) };
}

/** The soft limit on open files from /proc/<pid>/limits; null: unlimited. */
export function parseMaxFds(limits: string): number | null {
  const match = /^Max open files\s+(\S+)/m.exec(limits);
  return match === null || match[1] === 'unlimited' ? null : Number(match[1]);
}

/** This process's figures, now. */
export function readProcessStats(): ProcessStats {
  const usage = process.cpuUsage();
  const bootTime = parseBootTimeSeconds(readFileSync('/proc/stat', 'utf8')) ?? 0;
  const stat = parseProcessStat(readFileSync('/proc/self/stat', 'utf8'), bootTime);
  return {
    cpuSeconds: (usage.user + usage.system) / 1e6,
    residentBytes: process.memoryUsage.rss(),
    virtualBytes: stat.virtualBytes,
    startTimeSeconds: stat.startTimeSeconds,
    // The listing's own descriptor is among them.
    openFds: readdirSync('/proc/self/fd').length - 1,
    maxFds: parseMaxFds(readFileSync('/proc/self/limits', 'utf8')),
  };
}

/** Adds the process_* families to an exposition. */
export function describeProcess(exposition: Exposition, stats: ProcessStats): void {
  exposition
    .counter('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', [[[], stats.cpuSeconds]])
    .gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', [[[], stats.residentBytes]])
    .gauge('process_virtual_memory_bytes', 'Virtual memory size in bytes.', [[[], stats.virtualBytes]])
    .gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', [[[], stats.startTimeSeconds]])
    .gauge('process_open_fds', 'Number of open file descriptors.', [[[], stats.openFds]]);
  if (stats.maxFds !== null) exposition.gauge('process_max_fds', 'Maximum number of open file descriptors.', [[[], stats.maxFds]]);
}
