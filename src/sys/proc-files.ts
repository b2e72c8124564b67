// SPDX-License-Identifier: MIT
// Small /proc files read cheaply, for passes that read one per process or
// per namespace: a file's inode, and a small file's text.

import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** A small /proc file's text, null when gone or bigger than `buffer`. Not
 * readFileSync: its fstat doubles the cost of these small files. */
export function readSmallFile(path: string, buffer: Buffer): string | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    let length = 0;
    for (;;) {
      const got = readSync(fd, buffer, length, buffer.length - length, null);
      if (got === 0) return buffer.toString('latin1', 0, length);
      length += got;
      if (length === buffer.length) return null;
    }
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** The inode number of what `path` names; null when it is gone or hidden. */
export function inodeOf(path: string): number | null {
  try {
    return statSync(path).ino;
  } catch {
    return null;
  }
}
