// SPDX-License-Identifier: MIT
// The process's resource limits, from /proc/self/limits (Node has no
// getrlimit): what the --metrics endpoint may hold open, and which limit to
// name when a start-up step fails for want of descriptors or address space.

import { readdirSync, readFileSync } from 'node:fs';

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

/**
 * The resource limit that most likely made a start-up step fail, as a hint,
 * or undefined when none is near: libbpf and the dynamic loader report
 * running out of descriptors or address space as whatever errno their last
 * step left (EINVAL, ESRCH "no BTF", "cannot open shared object"), which
 * names the wrong cause. From /proc/self/limits and the count of open
 * descriptors. Pure.
 */
export function resourceLimitHint(limits: string, openFiles: number): string | undefined {
  const files = softLimit(limits, 'Max open files');
  if (files !== null && files !== Infinity && files - openFiles < DESCRIPTORS_FREE_MIN) {
    return `the process is out of file descriptors (${openFiles} open, RLIMIT_NOFILE ${files}): raise the limit, e.g. ulimit -n 1024 (LimitNOFILE= in a systemd unit)`;
  }
  const addressSpace = softLimit(limits, 'Max address space');
  if (addressSpace !== null && addressSpace !== Infinity) {
    return `the address-space limit (RLIMIT_AS ${Math.round(addressSpace / 1024)} KiB, ulimit -v) is likely too small for Node and libbpf: lift it (ulimit -v unlimited)`;
  }
  return undefined;
}

/** Free descriptors below which a failed load is put down to RLIMIT_NOFILE:
 * the load and the rings take some 20 and one per CPU. */
const DESCRIPTORS_FREE_MIN = 32;

/** resourceLimitHint() for this process; undefined when /proc cannot say. */
export function resourceLimitHintHere(): string | undefined {
  try {
    return resourceLimitHint(readFileSync('/proc/self/limits', 'utf8'), readdirSync('/proc/self/fd').length);
  } catch {
    return undefined;
  }
}
