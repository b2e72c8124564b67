// SPDX-License-Identifier: MIT
// --metrics: what tcpstates and tcplife count for Prometheus. Aggregated in
// place from each event (an EventView over the ring: no object per event;
// a cell is made once per distinct label set, and every label set is
// bounded: states, family, role, errno), rendered only when scraped.
// No label grows without bound: never an address, port, PID or namespace.

import { AF_INET6 } from '../decode/addr.js';
import { EVENT_FLAG_PASSIVE, type TcpEvent } from '../decode/event.js';
import { stateName, TCP_SYN_SENT } from '../decode/tcp-states.js';
import { errnoName } from '../errors.js';
import { aggregatedEvents, type Aggregates } from '../decode/aggregates.js';
import { Exposition, FixedHistogram, type ExpositionFormat, type Labels } from './exposition.js';

/** node_exporter's spelling of a state: lowercase (`syn_sent`, `fin_wait1`). */
export function stateLabel(state: number): string {
  return stateName(state).toLowerCase();
}

/** The events the tool read and lost, as its final stderr line counts them. */
export interface EventCounts {
  events: number;
  lost: number;
}

interface TransitionCell {
  readonly oldState: number;
  readonly newState: number;
  /** [ipv4, ipv6] */
  readonly byFamily: Float64Array;
  /** Time spent in oldState; first-seen transitions (no known start) excluded. */
  readonly durations: FixedHistogram;
}

export class TcpstatesMetrics {
  private readonly cells = new Map<number, TransitionCell>();
  readonly counts: EventCounts = { events: 0, lost: 0 };

  add(event: Pick<TcpEvent, 'oldState' | 'newState' | 'family' | 'deltaNs'>): void {
    const oldState = event.oldState;
    const newState = event.newState;
    const key = oldState * 256 + newState;
    let cell = this.cells.get(key);
    if (cell === undefined) {
      cell = { oldState, newState, byFamily: new Float64Array(2), durations: new FixedHistogram() };
      this.cells.set(key, cell);
    }
    cell.byFamily[event.family === AF_INET6 ? 1 : 0]!++;
    // delta 0 is the kernel's "first seen" mark (bpf/tcpstates.h).
    const deltaNs = event.deltaNs;
    if (deltaNs !== 0) cell.durations.observeNs(deltaNs);
  }

  /** Replaces what was counted with the kernel's aggregates (bpf/aggregate.h). */
  load(aggregates: Aggregates): void {
    this.cells.clear();
    // As of this read (the tracer's count is up to a counter check older).
    this.counts.events = aggregatedEvents(aggregates);
    for (const totals of aggregates.transitions) {
      const { oldState, newState } = totals;
      const cell = { oldState, newState, byFamily: Float64Array.from(totals.byFamily), durations: new FixedHistogram() };
      cell.durations.addTotals(totals.durations.buckets, totals.durations.sumNs);
      this.cells.set(oldState * 256 + newState, cell);
    }
  }

  /** `more` adds families before the end (the tool's health, tool-health.ts). */
  render(format: ExpositionFormat, more?: (exposition: Exposition) => void): string {
    const cells = [...this.cells.values()].sort((a, b) => a.oldState - b.oldState || a.newState - b.newState);
    const transitions: [Labels, number][] = [];
    const durations: [Labels, FixedHistogram][] = [];
    for (const cell of cells) {
      const states: Labels = [
        ['old_state', stateLabel(cell.oldState)],
        ['new_state', stateLabel(cell.newState)],
      ];
      for (let family = 0; family < 2; family++) {
        const count = cell.byFamily[family]!;
        if (count > 0) transitions.push([[...states, ['family', family === 1 ? 'ipv6' : 'ipv4']], count]);
      }
      if (cell.durations.count > 0) durations.push([states, cell.durations]);
    }
    const exposition = new Exposition(format)
      .counter('tcpstates_transitions_total', 'TCP state transitions seen.', transitions)
      .histogram(
        'tcpstates_state_duration_seconds',
        'Time sockets spent in old_state before the transition (first-seen transitions excluded).',
        durations,
      )
      .counter('tcpstates_events_total', 'Events read from the kernel.', [[[], this.counts.events]])
      .counter('tcpstates_events_lost_total', 'Events lost (perf ring full, or the program busy on that CPU).', [
        [[], this.counts.lost],
      ]);
    more?.(exposition);
    return exposition.end();
  }
}

interface SessionCell {
  sessions: number;
  sentBytes: number;
  receivedBytes: number;
  retransmittedSegments: number;
  readonly durations: FixedHistogram;
  /** Smoothed RTT at CLOSE; sessions without an RTT sample excluded. */
  readonly rtts: FixedHistogram;
}

/** Role of a session: `server` when the socket began as a listener's child. */
export function roleLabel(flags: number): 'client' | 'server' {
  return (flags & EVENT_FLAG_PASSIVE) !== 0 ? 'server' : 'client';
}

/** The reason label of a failed connect: the socket's errno name in
 * lowercase, or `aborted` when the connecting process closed it first
 * (no socket error: e.g. its own connect timeout). */
export function failureReason(skErr: number): string {
  return skErr === 0 ? 'aborted' : errnoName(skErr).toLowerCase().replace(/ /g, '_');
}

export class TcplifeMetrics {
  /** Index: family (0 ipv4, 1 ipv6) * 2 + role (0 client, 1 server), as bpf/aggregate.h's. */
  private cells: SessionCell[] = TcplifeMetrics.emptyCells();
  /** errno (0 = aborted) -> failed connects. */
  private readonly failures = new Map<number, number>();
  readonly counts: EventCounts = { events: 0, lost: 0 };

  add(event: Pick<TcpEvent, 'family' | 'flags' | 'txBytes' | 'rxBytes' | 'deltaNs' | 'oldState' | 'skErr' | 'tcpInfo'>): void {
    const passive = (event.flags & EVENT_FLAG_PASSIVE) !== 0;
    const cell = this.cells[(event.family === AF_INET6 ? 2 : 0) + (passive ? 1 : 0)]!;
    cell.sessions++;
    cell.sentBytes += event.txBytes;
    cell.receivedBytes += event.rxBytes;
    cell.durations.observeNs(event.deltaNs);
    const info = event.tcpInfo;
    if (info !== undefined) {
      cell.retransmittedSegments += info.totalRetrans;
      if (info.srttUs > 0) cell.rtts.observeNs(info.srttUs * 1000);
    }
    // A connect that never got an answer it could use: CLOSE straight from SYN_SENT.
    if (!passive && event.oldState === TCP_SYN_SENT) {
      const skErr = event.skErr;
      this.failures.set(skErr, (this.failures.get(skErr) ?? 0) + 1);
    }
  }

  private static emptyCells(): SessionCell[] {
    return Array.from({ length: 4 }, () => ({
      sessions: 0,
      sentBytes: 0,
      receivedBytes: 0,
      retransmittedSegments: 0,
      durations: new FixedHistogram(),
      rtts: new FixedHistogram(),
    }));
  }

  /** Replaces what was counted with the kernel's aggregates (bpf/aggregate.h). */
  load(aggregates: Aggregates): void {
    this.cells = TcplifeMetrics.emptyCells();
    aggregates.sessions.forEach((totals, index) => {
      const cell = this.cells[index]!;
      cell.sessions = totals.sessions;
      cell.sentBytes = totals.sentBytes;
      cell.receivedBytes = totals.receivedBytes;
      cell.retransmittedSegments = totals.retransmittedSegments;
      cell.durations.addTotals(totals.durations.buckets, totals.durations.sumNs);
      cell.rtts.addTotals(totals.rtts.buckets, totals.rtts.sumNs);
    });
    this.failures.clear();
    for (const [skErr, count] of aggregates.failures) this.failures.set(skErr, count);
  }

  /** `more` adds families before the end (the tool's health, tool-health.ts). */
  render(format: ExpositionFormat, more?: (exposition: Exposition) => void): string {
    const sessions: [Labels, number][] = [];
    const sent: [Labels, number][] = [];
    const received: [Labels, number][] = [];
    const durations: [Labels, FixedHistogram][] = [];
    const rtts: [Labels, FixedHistogram][] = [];
    const retransmitted: [Labels, number][] = [];
    for (let index = 0; index < 4; index++) {
      const cell = this.cells[index]!;
      const labels: Labels = [
        ['family', index >= 2 ? 'ipv6' : 'ipv4'],
        ['role', index % 2 === 1 ? 'server' : 'client'],
      ];
      sessions.push([labels, cell.sessions]);
      sent.push([labels, cell.sentBytes]);
      received.push([labels, cell.receivedBytes]);
      durations.push([labels, cell.durations]);
      rtts.push([labels, cell.rtts]);
      retransmitted.push([labels, cell.retransmittedSegments]);
    }
    const byReason = new Map<string, number>();
    for (const [skErr, count] of this.failures) {
      const reason = failureReason(skErr);
      byReason.set(reason, (byReason.get(reason) ?? 0) + count);
    }
    const failures = [...byReason.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([reason, count]): [Labels, number] => [[['reason', reason]], count]);
    const exposition = new Exposition(format)
      .counter('tcplife_sessions_total', 'TCP sessions closed (role client: active open; server: passive open).', sessions)
      .histogram('tcplife_session_duration_seconds', 'Lifespan of TCP sessions, first transition seen to CLOSE.', durations)
      .counter('tcplife_sent_bytes_total', 'Bytes sent and acknowledged by the peer (tcp_sock.bytes_acked).', sent)
      .counter('tcplife_received_bytes_total', 'Bytes received (tcp_sock.bytes_received).', received)
      .histogram('tcplife_session_rtt_seconds', 'Smoothed RTT of TCP sessions at CLOSE (tcp_sock.srtt_us; sessions without a sample excluded).', rtts)
      .counter('tcplife_retransmitted_segments_total', 'Segments retransmitted by the closed sessions (tcp_sock.total_retrans).', retransmitted)
      .counter('tcplife_connect_failures_total', 'Active opens closed in SYN_SENT, by the socket error.', failures)
      .counter('tcplife_events_total', 'Events read from the kernel (one per session).', [[[], this.counts.events]])
      .counter('tcplife_events_lost_total', 'Events lost (perf ring full, or the program busy on that CPU).', [[[], this.counts.lost]]);
    more?.(exposition);
    return exposition.end();
  }
}
