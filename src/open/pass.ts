// SPDX-License-Identifier: MIT
// An interval's pass over the open sessions (tcplife --interval, --top): the
// dump iterator in every network namespace, decoded into a snapshot.

import type { Libbpf, Pointer } from '../ffi/libbpf.js';
import { AF_INET, AF_INET6 } from '../decode/addr.js';
import type { TcpEvent } from '../decode/event.js';
import { EVENT_FLAG_SEEDED } from '../decode/event.js';
import { namespacePasses, PASS_BUDGET_MS, type UnreachableNamespace } from './iterators.js';
import { NamespaceTurns } from './namespace-turns.js';
import { decodeOpenSession, movedSincePass, OPEN_SESSION_SIZE, type OpenSessionRecord } from '../decode/open-record.js';
import type { OpenSessionsSnapshot } from '../decode/open-session.js';

/** Bytes per read() of a pass: some 7,000 records. */
const PASS_READ_BYTES = 1 << 20;

export interface PassSnapshot extends OpenSessionsSnapshot {
  readonly sessions: OpenSessionRecord[];
  /** Open sessions the pass visited (all of them, also those not decoded). */
  readonly openSessions: number;
  readonly unreachable: readonly UnreachableNamespace[];
  /** The pass's wall time, ms. */
  readonly elapsedMs: number;
}

export class OpenSessionPasses {
  private readonly buffer = new Uint8Array(PASS_READ_BYTES);
  /** Across passes: the namespaces left over by one come first in the next. */
  private readonly turns = new NamespaceTurns(PASS_BUDGET_MS);
  private previousAtNs = 0;

  constructor(
    private readonly libbpf: Libbpf,
    private readonly link: Pointer,
    private readonly netnsIno: number | null,
  ) {}

  /**
   * One pass. `onlyMoved`: decode only the sessions that moved bytes since
   * the previous pass (the others are counted). `closedInInterval` and
   * `eventsLost` come from the event stream.
   */
  run(onlyMoved: boolean, closedInInterval: number, eventsLost: number): PassSnapshot {
    const atNs = Number(process.hrtime.bigint()); // CLOCK_MONOTONIC, as bpf_ktime_get_ns
    const sessions: OpenSessionRecord[] = [];
    let openedInInterval = 0;
    const since = this.previousAtNs;
    const passes = namespacePasses(this.libbpf, this.link, this.netnsIno, OPEN_SESSION_SIZE, (view, offset) => {
      if (onlyMoved && !movedSincePass(view, offset)) return;
      const session = decodeOpenSession(view, offset, atNs);
      if (session.seenNs > since) openedInInterval++;
      sessions.push(session);
    }, this.buffer, this.turns);
    this.previousAtNs = atNs;
    return {
      atNs: BigInt(atNs),
      sessions,
      openedInInterval,
      closedInInterval,
      eventsLost,
      openSessions: passes.records,
      unreachable: passes.unreachable,
      elapsedMs: passes.elapsedMs,
    };
  }
}

/**
 * An open session as a tcplife row's event, so that the open rows are the
 * close rows' columns: ts = the pass, MS = the age so far, newState = the
 * state now (never CLOSE: the TYPE column tells them apart).
 */
export function openSessionEvent(session: OpenSessionRecord, atNs: number): TcpEvent {
  return {
    tsNs: atNs,
    skaddr: session.skaddr,
    deltaNs: Math.max(0, atNs - session.seenNs),
    txBytes: session.txBytes,
    rxBytes: session.rxBytes,
    pid: session.pid,
    comm: session.comm,
    ownerPid: session.pid,
    ownerComm: session.comm,
    family: session.family === 6 ? AF_INET6 : AF_INET,
    localAddress: session.saddr,
    localPort: session.sport,
    remoteAddress: session.daddr,
    remotePort: session.dport,
    oldState: 0,
    newState: session.stateNumber,
    netnsIno: session.netnsIno,
    cgroupId: session.cgroupId,
    skErr: 0,
    flags: session.startSeen ? 0 : EVENT_FLAG_SEEDED,
    tcpInfo: session.tcpInfo,
  };
}
