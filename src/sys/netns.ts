// SPDX-License-Identifier: MIT
// -N/--netns: a network namespace given as its inode number or as a
// namespace file (/proc/PID/ns/net, /run/netns/NAME), whose inode number is
// what the kernel filter compares with the socket's namespace.

import { readlinkSync, statSync, statfsSync } from 'node:fs';
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
