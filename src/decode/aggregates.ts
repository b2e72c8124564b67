// SPDX-License-Identifier: MIT
// The in-kernel aggregates (bpf/aggregate.h), decoded: each map value comes
// as the kernel hands a per-CPU value to user space (one copy per possible
// CPU, each 8-byte aligned), and is summed over the CPUs and the two writers
// here. Pure: the lookups are src/bpf/aggregate-maps.ts's.

/** Mirrors of bpf/tcpstates.h, checked by test/build/constants.test.ts. */
export const AGGREGATE_LIMITS = {
  AGG_WRITERS: 2,
  AGG_STATES: 16,
  AGG_TRANSITION_CELLS: 256,
  AGG_SESSION_CELLS: 4,
  AGG_ERRNOS: 256,
  DURATION_BOUNDS: 15,
  AGG_SUMMARY_CELLS: 65536,
} as const;
const { AGG_STATES, DURATION_BOUNDS } = AGGREGATE_LIMITS;

/** struct agg_transition and struct agg_session (bpf/tcpstates.h), in bytes;
 * checked by test/build/layout.test.ts against the object's BTF. */
export const AGG_TRANSITION_LAYOUT = { by_family: 0, first_seen: 16, buckets: 24, sum_ns: 152, min_us_plus1: 160, max_us: 168 } as const;
export const AGG_TRANSITION_SIZE = 176;
export const AGG_SESSION_LAYOUT = {
  sessions: 0,
  sent_bytes: 8,
  received_bytes: 16,
  buckets: 24,
  sum_ns: 152,
  retransmitted_segments: 160,
  rtt_buckets: 168,
  rtt_sum_ns: 296,
} as const;
export const AGG_SESSION_SIZE = 304;

/** A duration histogram as the kernel keeps it: counts per bucket of the
 * metrics' bounds (not cumulative; the last is +Inf) and the sum in ns. */
export interface DurationTotals {
  readonly buckets: readonly number[];
  readonly sumNs: bigint;
}

export interface TransitionTotals {
  readonly oldState: number;
  readonly newState: number;
  /** [ipv4, ipv6] */
  readonly byFamily: readonly [number, number];
  readonly firstSeen: number;
  /** The timed ones (all but firstSeen). */
  readonly durations: DurationTotals;
  /** --summary: the least and greatest delta_ns / 1000 of the timed ones (null: none, or no summary). */
  readonly minUs: number | null;
  readonly maxUs: number | null;
  /** --summary: its log-linear bucket (src/track/summary.ts) -> count; empty without. */
  readonly summaryBuckets: ReadonlyMap<number, number>;
}

export interface SessionTotals {
  readonly family: 'ipv4' | 'ipv6';
  readonly passive: boolean;
  readonly sessions: number;
  readonly sentBytes: number;
  readonly receivedBytes: number;
  readonly durations: DurationTotals;
  /** tcp_info's total_retrans at CLOSE, summed. */
  readonly retransmittedSegments: number;
  /** Smoothed RTTs at CLOSE (sessions without a sample left out). */
  readonly rtts: DurationTotals;
}

/** Everything the maps hold, summed over CPUs and writers. */
export interface Aggregates {
  /** Pairs with at least one transition, in (old, new) order. */
  readonly transitions: readonly TransitionTotals[];
  /** The four (family, role) cells, ipv4 client, ipv4 server, ipv6 client, ipv6 server. */
  readonly sessions: readonly SessionTotals[];
  /** errno (0: none) -> connects closed in SYN_SENT. */
  readonly failures: ReadonlyMap<number, number>;
}

/** Bytes of one CPU's copy of a per-CPU value. */
export function perCpuStride(valueSize: number): number {
  return Math.ceil(valueSize / 8) * 8;
}

/** u64 word `word` of a per-CPU value, summed over `cpus` copies. */
export function sumWord(values: DataView, cpus: number, stride: number, offset: number): bigint {
  let total = 0n;
  for (let cpu = 0; cpu < cpus; cpu++) total += values.getBigUint64(cpu * stride + offset, true);
  return total;
}

/** Over `cpus` copies: the least non-zero value of a word (0 if none), or the greatest. */
function extremeWord(values: DataView, cpus: number, stride: number, offset: number, least: boolean): bigint {
  let extreme = 0n;
  for (let cpu = 0; cpu < cpus; cpu++) {
    const value = values.getBigUint64(cpu * stride + offset, true);
    if (value === 0n) continue;
    if (extreme === 0n || (least ? value < extreme : value > extreme)) extreme = value;
  }
  return extreme;
}

/** Sums of struct agg_transition over CPUs; added into across writers. */
export class TransitionAccumulator {
  readonly byFamily = [0n, 0n];
  firstSeen = 0n;
  readonly buckets: bigint[] = new Array<bigint>(DURATION_BOUNDS + 1).fill(0n);
  sumNs = 0n;
  minUsPlus1 = 0n;
  maxUs = 0n;

  add(values: DataView, cpus: number): void {
    const stride = perCpuStride(AGG_TRANSITION_SIZE);
    const L = AGG_TRANSITION_LAYOUT;
    for (let family = 0; family < 2; family++) this.byFamily[family]! += sumWord(values, cpus, stride, L.by_family + family * 8);
    this.firstSeen += sumWord(values, cpus, stride, L.first_seen);
    for (let i = 0; i <= DURATION_BOUNDS; i++) this.buckets[i]! += sumWord(values, cpus, stride, L.buckets + i * 8);
    this.sumNs += sumWord(values, cpus, stride, L.sum_ns);
    const min = extremeWord(values, cpus, stride, L.min_us_plus1, true);
    if (min !== 0n && (this.minUsPlus1 === 0n || min < this.minUsPlus1)) this.minUsPlus1 = min;
    const max = extremeWord(values, cpus, stride, L.max_us, false);
    if (max > this.maxUs) this.maxUs = max;
  }

  /** `summaryBuckets`: the summary's cells of this transition, null without --summary. */
  totals(transition: number, summaryBuckets: ReadonlyMap<number, number> | null): TransitionTotals | null {
    const [ipv4, ipv6] = this.byFamily.map(Number) as [number, number];
    if (ipv4 + ipv6 === 0) return null;
    const timed = summaryBuckets !== null && this.minUsPlus1 !== 0n;
    return {
      oldState: Math.floor(transition / AGG_STATES),
      newState: transition % AGG_STATES,
      byFamily: [ipv4, ipv6],
      firstSeen: Number(this.firstSeen),
      durations: { buckets: this.buckets.map(Number), sumNs: this.sumNs },
      minUs: timed ? Number(this.minUsPlus1 - 1n) : null,
      maxUs: timed ? Number(this.maxUs) : null,
      summaryBuckets: summaryBuckets ?? new Map(),
    };
  }
}

/** Sums of struct agg_session over CPUs; added into across writers. */
export class SessionAccumulator {
  sessions = 0n;
  sentBytes = 0n;
  receivedBytes = 0n;
  readonly buckets: bigint[] = new Array<bigint>(DURATION_BOUNDS + 1).fill(0n);
  sumNs = 0n;
  retransmittedSegments = 0n;
  readonly rttBuckets: bigint[] = new Array<bigint>(DURATION_BOUNDS + 1).fill(0n);
  rttSumNs = 0n;

  add(values: DataView, cpus: number): void {
    const stride = perCpuStride(AGG_SESSION_SIZE);
    const L = AGG_SESSION_LAYOUT;
    this.sessions += sumWord(values, cpus, stride, L.sessions);
    this.sentBytes += sumWord(values, cpus, stride, L.sent_bytes);
    this.receivedBytes += sumWord(values, cpus, stride, L.received_bytes);
    for (let i = 0; i <= DURATION_BOUNDS; i++) this.buckets[i]! += sumWord(values, cpus, stride, L.buckets + i * 8);
    this.sumNs += sumWord(values, cpus, stride, L.sum_ns);
    this.retransmittedSegments += sumWord(values, cpus, stride, L.retransmitted_segments);
    for (let i = 0; i <= DURATION_BOUNDS; i++) this.rttBuckets[i]! += sumWord(values, cpus, stride, L.rtt_buckets + i * 8);
    this.rttSumNs += sumWord(values, cpus, stride, L.rtt_sum_ns);
  }

  /** `cell`: family * 2 + role, as bpf/aggregate.h indexes it. */
  totals(cell: number): SessionTotals {
    return {
      family: cell >= 2 ? 'ipv6' : 'ipv4',
      passive: cell % 2 === 1,
      sessions: Number(this.sessions),
      sentBytes: Number(this.sentBytes),
      receivedBytes: Number(this.receivedBytes),
      durations: { buckets: this.buckets.map(Number), sumNs: this.sumNs },
      retransmittedSegments: Number(this.retransmittedSegments),
      rtts: { buckets: this.rttBuckets.map(Number), sumNs: this.rttSumNs },
    };
  }
}

/** The parts of a SUMMARY_KEY (bpf/tcpstates.h). */
export function summaryKeyParts(key: number): { writer: number; transition: number; bucket: number } {
  return { writer: key >>> 24, transition: (key >>> 16) & 0xff, bucket: key & 0xffff };
}

/** Events the maps counted: transitions (tcpstates) or sessions (tcplife). */
export function aggregatedEvents(aggregates: Aggregates): number {
  let events = 0;
  for (const transition of aggregates.transitions) events += transition.byFamily[0] + transition.byFamily[1];
  for (const cell of aggregates.sessions) events += cell.sessions;
  return events;
}
