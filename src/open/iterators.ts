// SPDX-License-Identifier: MIT
// Runs the iterators of bpf/open_sessions.h: the seed at start (--existing)
// and the open-session passes (--interval). An iterator instance is an fd
// whose read()s run the program over its objects; the seed's programs write
// nothing, the dump writes one struct open_session per session. Which
// namespaces a pass enters is namespace-turns.ts's: within a budget for those
// any user can make, so that making thousands cannot stall the tool.

import { closeSync, openSync, readSync } from 'node:fs';
import type { IteratorLinks } from '../bpf/loader.js';
import type { Libbpf, Pointer } from '../ffi/libbpf.js';
import { enterNetworkNamespace } from '../ffi/libc.js';
import { errnoName } from '../errors.js';
import { listNetworkNamespaces } from '../sys/netns.js';
import { NamespaceTurns } from './namespace-turns.js';

/** Bytes per read(): the kernel fills up to this much per call. */
const READ_BYTES = 1 << 20;
/** The calling thread's own namespace, to come back to. */
const OWN_NETNS = '/proc/thread-self/ns/net';

/**
 * Reads one instance of `link` to its end, handing each whole record of
 * `recordBytes` to `onRecord` (the view is valid during the call only).
 * Returns the number of records.
 */
export function readIterator(
  libbpf: Libbpf,
  link: Pointer,
  recordBytes: number,
  onRecord: (view: DataView, offset: number) => void,
  buffer: Uint8Array = new Uint8Array(READ_BYTES),
): number {
  return readInstance(libbpf.createIterator(link), recordBytes, onRecord, buffer);
}

/** readIterator of an instance already created; closes it. */
function readInstance(fd: number, recordBytes: number, onRecord: (view: DataView, offset: number) => void, buffer: Uint8Array): number {
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let records = 0;
  let carried = 0; // a record a read() split: the kernel copies bytes, not records
  try {
    for (;;) {
      const got = readRetrying(fd, buffer, carried);
      if (got === 0) break;
      const end = carried + got;
      let offset = 0;
      for (; offset + recordBytes <= end; offset += recordBytes) {
        onRecord(view, offset);
        records++;
      }
      buffer.copyWithin(0, offset, end);
      carried = end - offset;
    }
  } finally {
    closeSync(fd);
  }
  return records;
}

/** read(2), again after EAGAIN (the kernel stops a read() that has visited
 * a million objects without output) and EINTR. */
function readRetrying(fd: number, buffer: Uint8Array, offset: number): number {
  for (;;) {
    try {
      return readSync(fd, buffer, offset, buffer.length - offset, null);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' && code !== 'EINTR') throw error;
    }
  }
}

export interface UnreachableNamespace {
  readonly ino: number;
  /** Why (an errno name, or "not found"). */
  readonly reason: string;
  /** Not tried in this pass: over its budget for namespaces any user can
   * make (namespace-turns.ts); a later pass takes it in turn. */
  readonly deferred: boolean;
}

export interface NamespacePasses {
  /** Network namespaces visited. */
  readonly namespaces: number;
  /** Not entered: their TCP tables were empty. */
  readonly empty: number;
  /** Not entered: could not be, or left for a later pass (`deferred`). */
  readonly unreachable: readonly UnreachableNamespace[];
  readonly records: number;
  readonly elapsedMs: number;
}

/** Per pass (--interval, --top), the time for namespaces any user can make. */
export const PASS_BUDGET_MS = 50;
/** The seed runs once: more time for them. */
export const SEED_BUDGET_MS = 250;

/**
 * One instance of the iter/tcp program `link` in each network namespace of
 * the host that `turns` takes this pass (`netnsIno`, -N: only that one,
 * always), each read to its end.
 */
export function namespacePasses(
  libbpf: Libbpf,
  link: Pointer,
  netnsIno: number | null,
  recordBytes: number,
  onRecord: (view: DataView, offset: number) => void,
  buffer: Uint8Array,
  turns: NamespaceTurns = new NamespaceTurns(PASS_BUDGET_MS),
): NamespacePasses {
  const started = process.hrtime.bigint();
  const namespaces = listNetworkNamespaces();
  const unreachable: UnreachableNamespace[] = [];
  let visited = 0;
  let records = 0;
  const own = openSync(OWN_NETNS, 'r');
  const enter = (ino: number, paths: readonly string[]): void => {
    const instance = instanceIn(libbpf, link, paths, own);
    if (typeof instance === 'string') {
      unreachable.push({ ino, reason: instance, deferred: false });
      return;
    }
    visited++;
    records += readInstance(instance, recordBytes, onRecord, buffer);
  };
  let empty = 0;
  try {
    if (netnsIno !== null) enter(netnsIno, namespaces.get(netnsIno) ?? []);
    else {
      const taken = turns.run(namespaces, enter);
      empty = taken.empty;
      for (const ino of taken.deferred) unreachable.push({ ino, reason: 'over the budget of this pass', deferred: true });
    }
  } finally {
    closeSync(own);
  }
  return { namespaces: visited, empty, unreachable, records, elapsedMs: Number(process.hrtime.bigint() - started) / 1e6 };
}

/** The seed: which process holds which socket (every open file of every
 * process, all namespaces at once), then every namespace's TCP sockets.
 * Runs after the tracepoints are attached (openTrace). */
export function seedOpenSockets(libbpf: Libbpf, links: IteratorLinks, netnsIno: number | null): NamespacePasses {
  if (links.seedFiles === null || links.seedTcp === null) throw new Error('seed iterators not loaded');
  const started = process.hrtime.bigint();
  const buffer = new Uint8Array(4096); // the seed writes nothing
  readIterator(libbpf, links.seedFiles, 1, ignore, buffer);
  const passes = namespacePasses(libbpf, links.seedTcp, netnsIno, 1, ignore, buffer, new NamespaceTurns(SEED_BUDGET_MS));
  return { ...passes, elapsedMs: Number(process.hrtime.bigint() - started) / 1e6 };
}

/** An instance of `link` created in the namespace one of `paths` opens
 * (the instance walks its creator's namespace); or why not. */
function instanceIn(libbpf: Libbpf, link: Pointer, paths: readonly string[], own: number): number | string {
  let reason = 'not found';
  for (const path of paths) {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      reason = (error as NodeJS.ErrnoException).code ?? 'open failed';
      continue;
    }
    try {
      const errno = enterNetworkNamespace(fd);
      if (errno !== 0) {
        reason = errnoName(errno);
        continue;
      }
      try {
        return libbpf.createIterator(link);
      } finally {
        comeBack(own);
      }
    } finally {
      closeSync(fd);
    }
  }
  return reason;
}

function comeBack(own: number): void {
  const errno = enterNetworkNamespace(own);
  // Staying in another namespace would be wrong for everything after.
  if (errno !== 0) throw new Error(`cannot return to this process's network namespace: ${errnoName(errno)}`);
}

const ignore = (): void => {};
