// SPDX-License-Identifier: MIT
// Which network namespaces an iterator pass enters, so that nobody can stall
// the tool by making namespaces: any user can make thousands (unshare -Urn),
// and each one entered costs a walk of the host's whole TCP hash tables
// (~0.7 ms at 262,144 buckets, more on bigger hosts), on the main thread.
// Namespaces root made (named in /run/netns, or holding a process of this
// tool's user namespace) are all entered on every pass, as before; the others
// within a time budget per pass, in turn by inode across passes. A namespace
// whose TCP tables are empty (/proc/PID/net/protocols, read without entering)
// is not entered at all. Those left for a later pass are counted for the
// caller to report.

import { inodeOf, readSmallFile } from '../sys/proc-files.js';

/** Where ip-netns(8) names namespaces: only root can. */
const NAMED_PREFIX = '/run/netns/';
/** /proc/net/protocols is some 2 KiB (a line per protocol). */
const PROTOCOLS_BYTES = 16384;
/** /proc/PID/ns/net */
const PROC_NETNS = /^\/proc\/(\d+)\/ns\/net$/;

/** The probes of a namespace, by its inode and the files that open it. */
export interface NamespaceProbes {
  /** Whether root made it: then it is entered whatever the budget. */
  rootMade(ino: number, paths: readonly string[]): boolean;
  /** Its TCP sockets (listeners included), or null when unknown. */
  tcpSockets(ino: number, paths: readonly string[]): number | null;
}

export interface TurnsResult {
  /** Not entered: their TCP tables are empty. */
  readonly empty: number;
  /** Left for a later pass: over the budget. */
  readonly deferred: readonly number[];
}

/**
 * The turns of namespaces any user can make, across the passes of one
 * iterator: each pass takes them from after the last one it took (by inode,
 * wrapping), until `budgetMs` has gone on them. At least one is taken per
 * pass, so every one comes in turn.
 */
export class NamespaceTurns {
  /** The inode taken last: the next pass starts after it. */
  private last = -1;
  /** rootMade by inode and first file, from the previous pass: a
   * namespace's maker does not change (a key gone is dropped). */
  private rootMadeKnown = new Map<string, boolean>();

  constructor(
    private readonly budgetMs: number,
    private readonly probes: NamespaceProbes = systemProbes(),
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  /** Calls `enter` for each namespace of `namespaces` this pass enters. */
  run(namespaces: ReadonlyMap<number, readonly string[]>, enter: (ino: number, paths: readonly string[]) => void): TurnsResult {
    const others: number[] = [];
    let empty = 0;
    const visit = (ino: number, paths: readonly string[]): void => {
      if (this.probes.tcpSockets(ino, paths) === 0) empty++;
      else enter(ino, paths);
    };
    const rootMadeNow = new Map<string, boolean>();
    for (const [ino, paths] of namespaces) {
      const key = `${ino} ${paths[0]}`;
      const rootMade = this.rootMadeKnown.get(key) ?? this.probes.rootMade(ino, paths);
      rootMadeNow.set(key, rootMade);
      if (rootMade) visit(ino, paths);
      else others.push(ino);
    }
    this.rootMadeKnown = rootMadeNow;
    const order = this.inTurn(others);
    const started = this.nowMs();
    let taken = 0;
    for (; taken < order.length && (taken === 0 || this.nowMs() - started < this.budgetMs); taken++) {
      const ino = order[taken]!;
      this.last = ino;
      visit(ino, namespaces.get(ino) ?? []);
    }
    return { empty, deferred: order.slice(taken) };
  }

  /** `inos` sorted, starting after the last one taken. */
  private inTurn(inos: number[]): number[] {
    inos.sort((a, b) => a - b);
    const next = inos.findIndex((ino) => ino > this.last);
    return next <= 0 ? inos : [...inos.slice(next), ...inos.slice(0, next)];
  }
}

/** /proc/net/protocols' header: the third column is the namespace's own
 * count of sockets (sock_prot_inuse_get). */
const PROTOCOLS_HEADER = /^protocol\s+size\s+sockets\s/;
/** A TCP or TCPv6 row's name, size and sockets (one regex over the text:
 * splitting every row costs more than the read). */
const TCP_ROW = /^TCP(?:v6)?\s+\S+\s+(\S+)/gm;

/** The TCP sockets of a /proc/net/protocols text (TCP and TCPv6 rows,
 * listeners included), or null when unreadable. Pure. */
export function parseTcpSockets(protocols: string): number | null {
  if (!PROTOCOLS_HEADER.test(protocols)) return null;
  let sockets: number | null = null;
  for (const [, column] of protocols.matchAll(TCP_ROW)) {
    const count = Number(column);
    if (!Number.isInteger(count) || count < 0) return null;
    sockets = (sockets ?? 0) + count;
  }
  return sockets;
}

/** The probes on this host's /proc, each checked against a PID reused
 * meanwhile (its ns/net read again after). Without user namespaces (no
 * ns/user: null) only root makes network namespaces. */
export function systemProbes(ownUserNamespace: number | null = inodeOf('/proc/self/ns/user')): NamespaceProbes {
  const stillIn = (pid: string, ino: number): boolean => inodeOf(`/proc/${pid}/ns/net`) === ino;
  const buffer = Buffer.alloc(PROTOCOLS_BYTES);
  return {
    rootMade(ino, paths) {
      // A process of our user namespace in it: it made it, or entered it
      // with CAP_SYS_ADMIN there and in the namespace's owner.
      return paths.some((path) => {
        if (path.startsWith(NAMED_PREFIX)) return true;
        const pid = PROC_NETNS.exec(path)?.[1];
        return pid !== undefined && inodeOf(`/proc/${pid}/ns/user`) === ownUserNamespace && stillIn(pid, ino);
      });
    },
    tcpSockets(ino, paths) {
      for (const path of paths) {
        const pid = PROC_NETNS.exec(path)?.[1];
        if (pid === undefined) continue;
        const text = readSmallFile(`/proc/${pid}/net/protocols`, buffer);
        if (text !== null && stillIn(pid, ino)) return parseTcpSockets(text);
      }
      return null; // only named, or every process gone: entered to be sure
    },
  };
}
