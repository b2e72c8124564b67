// SPDX-License-Identifier: MIT
// -N/--netns: a network namespace given as a namespace file (/proc/PID/ns/net,
// /run/netns/NAME) or as its inode number, which is what the kernel filter
// compares with the socket's namespace. The kernel says what a file is
// (NS_GET_NSTYPE), not its name; a number is taken only if it names a live
// network namespace that this process can find.

import { closeSync, constants, fstatSync, openSync, readdirSync } from 'node:fs';
import { environmentProblem, usageProblem, type Checked } from '../errors.js';
import { namespaceType } from '../ffi/libc.js';
import { quoted } from '../quote.js';
import { inodeOf } from './proc-files.js';

/** include/uapi/linux/sched.h */
const CLONE_NEWNET = 0x4000_0000;
/** The other CLONE_NEW* flags, for the message. */
const NAMESPACE_TYPES = new Map<number, string>([
  [0x0002_0000, 'mnt'],
  [0x0200_0000, 'cgroup'],
  [0x0400_0000, 'uts'],
  [0x0800_0000, 'ipc'],
  [0x1000_0000, 'user'],
  [0x2000_0000, 'pid'],
  [0x0000_0080, 'time'],
]);

/** Inode numbers are u32 in the kernel's struct ns_common. */
const INO_MAX = 0xffff_ffff;

/** Where named network namespaces are: ip-netns(8)'s directory. */
const NAMED_NETNS_DIRECTORY = '/run/netns';

/** A namespace file's network namespace inode, or why it is not one. */
function netnsFileInode(path: string, optionName: string): Checked<number> {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO (or a device) given here must not block the open
    // beyond Ctrl-C; namespace files are regular files to fstat.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'an error';
    const message = `${optionName}: cannot open namespace ${quoted(path)}: ${code}`;
    return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG' || code === 'ELOOP' ? usageProblem(message) : environmentProblem(message, 'run it as root, or give a namespace file this user may open');
  }
  try {
    if (!fstatSync(fd).isFile()) return usageProblem(`${optionName}: ${quoted(path)} is not a namespace file (such as /proc/PID/ns/net or /run/netns/NAME)`);
    const type = namespaceType(fd);
    if (type === null) return usageProblem(`${optionName}: ${quoted(path)} is not a namespace file (such as /proc/PID/ns/net or /run/netns/NAME)`);
    if (type !== CLONE_NEWNET) {
      return usageProblem(`${optionName}: ${quoted(path)} is a ${NAMESPACE_TYPES.get(type) ?? 'different'} namespace, not a network namespace`);
    }
    return { ok: true, value: fstatSync(fd).ino };
  } finally {
    closeSync(fd);
  }
}

/** The network namespace files this process can name: every process's and
 * the named ones. */
function* netnsFiles(): Generator<string> {
  let names: string[] = [];
  try {
    names = readdirSync(NAMED_NETNS_DIRECTORY);
  } catch {
    // none named
  }
  for (const name of names) yield `${NAMED_NETNS_DIRECTORY}/${name}`;
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    // no /proc
  }
  for (const pid of pids) yield `/proc/${pid}/ns/net`;
}

/** Whether `ino` is the inode of a live network namespace found in
 * netnsFiles(): one of its files is a network namespace (nsfs inode numbers
 * are unique across namespace types). */
function isLiveNetns(ino: number): boolean {
  return (listNetworkNamespaces().get(ino) ?? []).some((path) => netnsFileInode(path, '').ok);
}

/** -N/--netns: the network namespace's inode number. */
export function resolveNetnsOption(text: string, optionName: string): Checked<number> {
  const trimmed = text.trim();
  if (trimmed === '') return usageProblem(`${optionName}: empty namespace`);
  if (/^\d+$/.test(trimmed)) {
    const ino = Number(trimmed);
    if (ino < 1 || ino > INO_MAX) return usageProblem(`${optionName}: namespace inode ${quoted(trimmed)} is out of range 1-${INO_MAX}`);
    if (!isLiveNetns(ino)) {
      return usageProblem(`${optionName}: no network namespace has inode ${ino} (none of /proc/*/ns/net or ${NAMED_NETNS_DIRECTORY}/* that this user can see)`, 'give the namespace as a file: /proc/PID/ns/net or /run/netns/NAME');
    }
    return { ok: true, value: ino };
  }
  return netnsFileInode(text, optionName);
}

/**
 * The network namespaces this host's processes are in and the named ones
 * (netnsFiles()): inode number -> a few files that open it, in the order
 * found (in case the first one's process exits). A namespace no file
 * reaches any more has no sockets to visit.
 */
export function listNetworkNamespaces(): Map<number, string[]> {
  const found = new Map<number, string[]>();
  for (const path of netnsFiles()) {
    const ino = inodeOf(path);
    if (ino === null) continue; // gone, or not ours to see
    const paths = found.get(ino);
    if (paths === undefined) found.set(ino, [path]);
    else if (paths.length < 3) paths.push(path);
  }
  return found;
}
