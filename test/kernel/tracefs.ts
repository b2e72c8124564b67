// SPDX-License-Identifier: MIT
// tracefs helpers: the reference tool needs it mounted, ours must not.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const TRACEFS = '/sys/kernel/tracing';

export function tracefsMounted(): boolean {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === TRACEFS && line.split(' ')[2] === 'tracefs');
}

/** Runs `body` with tracefs mounted (or not), restoring the previous state. */
export async function withTracefs<T>(mounted: boolean, body: () => Promise<T>): Promise<T> {
  const before = tracefsMounted();
  if (before !== mounted) execFileSync(mounted ? 'mount' : 'umount', mounted ? ['-t', 'tracefs', 'nodev', TRACEFS] : [TRACEFS]);
  try {
    return await body();
  } finally {
    if (tracefsMounted() !== before) {
      execFileSync(before ? 'mount' : 'umount', before ? ['-t', 'tracefs', 'nodev', TRACEFS] : [TRACEFS]);
    }
  }
}
