// SPDX-License-Identifier: MIT
// Every loss, said once: events the rings dropped (LOST records, or the
// kernel's failed outputs, whichever is ahead), samples too short to decode,
// events the kernel emitted that were never read, program runs the kernel
// skipped, sockets and listeners it could not track. The tracer tells it
// what it read and the counters it read; it says what is new through
// Diagnostics and keeps the totals for the final line.

import { ZERO_COUNTERS, type KernelCounters } from '../decode/counters.js';
import type { EventBatch } from '../reader/batch.js';
import type { Diagnostics } from '../io/diagnostics.js';

export class LossReport {
  private lostReported = 0;
  private undecodableReported = 0;
  /** Events the kernel emitted that never reached us, reported so far. */
  private unreadReported = 0;
  /** The kernel's emitted count one check ago: all of those should have
   * been read by now (the rings are read every READ_INTERVAL_MS). */
  private emittedAtLastCheck = 0;
  /** A tick left the rings unread since the last check (stdout backlogged). */
  private readSkipped = false;
  private counters: KernelCounters = ZERO_COUNTERS;
  private readonly unit: string;

  constructor(
    private readonly sessions: boolean,
    private readonly diagnostics: Diagnostics,
  ) {
    this.unit = sessions ? 'sessions' : 'events';
  }

  /** The counters as last read. */
  get lastCounters(): KernelCounters {
    return this.counters;
  }

  /** Lost so far, as --metrics counts it: ring losses, skipped runs, and
   * events the kernel's aggregate maps could not count. */
  get lostForMetrics(): number {
    return this.lostReported + this.counters.recursionMisses + this.counters.aggregateFailed;
  }

  /** Lost in all, as the final line counts it. Skipped program runs are
   * reported on their own line: for tcplife they are not sessions (a skipped
   * run is mostly not a CLOSE). */
  get lostInAll(): number {
    return this.lostReported + this.unreadReported + this.counters.aggregateFailed + (this.sessions ? 0 : this.counters.transitionMisses);
  }

  /** A tick left the rings unread on purpose (stdout backlogged). */
  skippedRead(): void {
    this.readSkipped = true;
  }

  /** Reports losses not reported yet. The kernel counts a refused output at
   * once; the ring's LOST record only comes with the next event that fits,
   * so whichever count is ahead is the truth. */
  afterRead(sink: EventBatch): void {
    const { diagnostics } = this;
    const lostSoFar = Math.max(sink.lostInRings, this.counters.outputFailed);
    if (lostSoFar > this.lostReported) {
      const lost = lostSoFar - this.lostReported;
      diagnostics.notice(`lost ${lost} ${this.unit}: the perf ring was full (try a larger --buffer-pages)`, { lost });
      this.lostReported = lostSoFar;
    }
    if (sink.undecodable > this.undecodableReported) {
      const undecodable = sink.undecodable - this.undecodableReported;
      diagnostics.notice(`skipped ${undecodable} samples too short to decode`, { undecodable });
      this.undecodableReported = sink.undecodable;
    }
  }

  /** Takes the counters just read: reports what the kernel skipped or could
   * not track since the last check, and compares what it emitted with what
   * was read (`final`: after a full drain, everything it emitted; otherwise
   * what it had emitted one check ago, unless reads were skipped). */
  check(counters: KernelCounters, read: { events: number; sink: EventBatch; backlogged: boolean; final: boolean }): void {
    this.reportSkipped(counters);
    if (read.final) this.reportUnread(counters.emitted, read);
    else if (!this.readSkipped && !read.backlogged) this.reportUnread(this.emittedAtLastCheck, read);
    this.readSkipped = false;
    this.emittedAtLastCheck = counters.emitted;
    this.counters = counters;
    this.afterRead(read.sink);
  }

  private reportSkipped(counters: KernelCounters): void {
    const { diagnostics } = this;
    const last = this.counters;
    const missed = counters.transitionMisses - last.transitionMisses;
    if (missed > 0) {
      const affects = this.sessions
        ? `up to ${missed} sessions may be missing or have an unknown start`
        : `${missed} transitions not shown; the next row of each such socket has an MS spanning two states`;
      diagnostics.notice(`skipped ${missed} program runs (the program was already running on that CPU): ${affects}`, { missed });
    }
    const ownerMissed = counters.recursionMisses - counters.transitionMisses - (last.recursionMisses - last.transitionMisses);
    if (ownerMissed > 0) {
      diagnostics.notice(`skipped ${ownerMissed} socket I/O runs (the program was already running on that CPU): an owner may be an earlier user`, {
        missed: ownerMissed,
      });
    }
    const untracked = counters.trackingFailed - last.trackingFailed;
    if (untracked > 0) {
      const affects = this.sessions ? 'their sessions may be missing' : "those sockets' next rows restart as if first seen";
      diagnostics.notice(`could not keep state at ${untracked} state changes (the per-socket map is full: raise --max-sockets; or out of memory): ${affects}`, { untracked });
    }
    const unaggregated = counters.aggregateFailed - last.aggregateFailed;
    if (unaggregated > 0) {
      diagnostics.notice(`could not count ${unaggregated} ${this.unit} in the kernel's maps (map full)`, { lost: unaggregated });
    }
    const listenersRefused = counters.listenerFailed - last.listenerFailed;
    if (listenersRefused > 0) {
      diagnostics.notice(
        `could not remember ${listenersRefused} listening ports (map full): children reset before accept() there may name the wrong owner`,
        { untracked: listenersRefused },
      );
    }
  }

  /** Compares what the kernel emitted up to `emittedBy` with what was
   * read: the difference never reached us (beyond the ring losses, which
   * the kernel does not count as emitted). */
  private reportUnread(emittedBy: number, read: { events: number; sink: EventBatch }): void {
    const unread = emittedBy - read.events - read.sink.undecodable - this.unreadReported;
    if (unread > 0) {
      this.diagnostics.notice(`lost ${unread} ${this.unit}: emitted by the kernel but never read`, { lost: unread });
      this.unreadReported += unread;
    }
  }
}
