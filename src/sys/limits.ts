// SPDX-License-Identifier: MIT
// The process's resource limits, from /proc/self/limits (Node has no
// getrlimit): what the --metrics endpoint may hold open.

import { readFileSync } from 'node:fs';

/** The soft limit named `name` ("Max open files") of a /proc/PID/limits
 * text: a number, Infinity for "unlimited", null when absent. Pure. */
export function softLimit(limits: string, name: string): number | null {
  for (const line of limits.split('\n')) {
    if (!line.startsWith(name)) continue;
    const soft = line.slice(name.length).trim().split(/\s+/)[0];
    if (soft === 'unlimited') return Infinity;
    return soft !== undefined && /^\d+$/.test(soft) ? Number(soft) : null;
  }
  return null;
}

/** RLIMIT_NOFILE's soft limit of this process; null when unknown. */
export function openFilesLimit(): number | null {
  try {
    return softLimit(readFileSync('/proc/self/limits', 'utf8'), 'Max open files');
  } catch {
    return null;
  }
}
