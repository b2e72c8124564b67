// SPDX-License-Identifier: MIT
// -N/--netns: a network namespace given as its inode number or as a
// namespace file (/proc/PID/ns/net, /run/netns/NAME), whose inode number is
// what the kernel filter compares with the socket's namespace.

import { readdirSync, readlinkSync, statSync, statfsSync } from 'node:fs';
import { usageProblem, type Checked } from '../errors.js';

/** statfs f_type of nsfs (NSFS_MAGIC, include/uapi/linux/magic.h). */
const NSFS_MAGIC = 0x6e736673;

/** Inode numbers are u32 in the kernel's struct ns_common. */
const INO_MAX = 0xffff_ffff;

/** The namespace's inode number, or the usage problem with `text`. */
export function resolveNetnsOption(text: string, optionName: string): Checked<number> {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    const ino = Number(trimmed);
    if (ino < 1 || ino > INO_MAX) return usageProblem(`${optionName}: namespace inode ${trimmed} is out of range 1-${INO_MAX}`);
    return { ok: true, value: ino };
  }
  if (trimmed === '') return usageProblem(`${optionName}: empty namespace`);
  let ino: number;
  let fsType: number;
  try {
    ino = statSync(text).ino;
    fsType = statfsSync(text).type;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return usageProblem(`${optionName}: cannot open namespace "${text}": ${code}`);
  }
  if (fsType !== NSFS_MAGIC) return usageProblem(`${optionName}: "${text}" is not a namespace file (such as /proc/PID/ns/net or /run/netns/NAME)`);
  // /proc/PID/ns/* are links named "TYPE:[INODE]": another type of
  // namespace would match no socket. (/run/netns/NAME is a bind mount: no link.)
  let link: string | null = null;
  try {
    link = readlinkSync(text);
  } catch {
    // not a link
  }
  if (link !== null && /^[a-z_]+:\[\d+\]$/.test(link) && !link.startsWith('net:')) {
    return usageProblem(`${optionName}: "${text}" is a ${link.slice(0, link.indexOf(':'))} namespace, not a network namespace`);
  }
  return { ok: true, value: ino };
}

/**
 * The network namespaces this host's processes are in (/proc/PID/ns/net)
 * and the named ones (/run/netns/NAME, `ip netns add`): inode number -> the
 * files that open it, in the order found. Processes that exit meanwhile are
 * skipped; a namespace no file reaches any more has no sockets to seed.
 */
export function listNetworkNamespaces(procRoot = '/proc', namedRoots: readonly string[] = ['/run/netns', '/var/run/netns']): Map<number, string[]> {
  const found = new Map<number, string[]>();
  const add = (ino: number, path: string) => {
    const paths = found.get(ino);
    if (paths === undefined) found.set(ino, [path]);
    else if (paths.length < 3) paths.push(path); // a few, in case the first exits
  };
  for (const entry of safeReaddir(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    const path = `${procRoot}/${entry}/ns/net`;
    try {
      const match = /^net:\[(\d+)\]$/.exec(readlinkSync(path));
      if (match) add(Number(match[1]), path);
    } catch {
      // exited, or not ours to read
    }
  }
  for (const root of namedRoots) {
    for (const name of safeReaddir(root)) {
      const path = `${root}/${name}`;
      try {
        if (statfsSync(path).type === NSFS_MAGIC) add(statSync(path).ino, path);
      } catch {
        // removed meanwhile
      }
    }
  }
  return found;
}

function safeReaddir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}
