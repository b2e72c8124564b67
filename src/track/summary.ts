// SPDX-License-Identifier: MIT
// --summary: counts transitions (OLD -> NEW) and the time spent in OLD before
// each, in fixed-size histograms, so memory does not grow with the number of
// events. Pure: fed decoded events, queried at exit; never prints.

import type { TcpEvent } from '../decode/event.js';
import type { Aggregates } from '../decode/aggregates.js';

/**
 * Log-linear ("HDR-style") buckets of whole microseconds: values below
 * 2^(SUB_BITS+1) have a bucket each; above, every power of two is split into
 * 2^SUB_BITS equal buckets. A bucket [low, low+width) has low >= 32 * width,
 * so its midpoint is within 1/64 (1.6 %) of any value in it.
 */
export const SUB_BITS = 5;
const SUB_COUNT = 1 << SUB_BITS; // 32
const EXACT_LIMIT = SUB_COUNT * 2; // 64: values 0..63 are exact
/** Durations are stored up to 2^53 µs (285 years); larger ones are clamped. */
export const MAX_EXPONENT = 52;
export const BUCKET_COUNT = EXACT_LIMIT + (MAX_EXPONENT - SUB_BITS) * SUB_COUNT;
/** Worst-case relative error of a reported percentile (half a bucket). */
export const PERCENTILE_RELATIVE_ERROR = 1 / (2 * SUB_COUNT);

/** floor(log2(value)) for a positive integer up to 2^53, exact. */
function floorLog2(value: number): number {
  let exponent = Math.floor(Math.log2(value));
  // Math.log2 may round across a power of two for large values.
  while (2 ** exponent > value) exponent--;
  while (2 ** (exponent + 1) <= value) exponent++;
  return exponent;
}

export function bucketIndex(us: number): number {
  const value = Math.min(Math.max(0, Math.floor(us)), 2 ** (MAX_EXPONENT + 1) - 1);
  if (value < EXACT_LIMIT) return value;
  const exponent = floorLog2(value);
  const shift = exponent - SUB_BITS;
  return EXACT_LIMIT + (exponent - SUB_BITS - 1) * SUB_COUNT + (Math.floor(value / 2 ** shift) - SUB_COUNT);
}

/** The smallest value and the width of bucket `index`. */
export function bucketRange(index: number): { lowUs: number; widthUs: number } {
  if (index < EXACT_LIMIT) return { lowUs: index, widthUs: 1 };
  const octave = Math.floor((index - EXACT_LIMIT) / SUB_COUNT); // 0 for [64, 128)
  const shift = octave + 1;
  const sub = (index - EXACT_LIMIT) % SUB_COUNT;
  return { lowUs: (SUB_COUNT + sub) * 2 ** shift, widthUs: 2 ** shift };
}

/**
 * bcc's log2 slot of a value (bpf_log2l(v) + ... as print_log2_hist shows
 * it): slot 1 holds 0 and 1, slot i >= 2 holds [2^(i-1), 2^i - 1].
 */
export function log2Slot(us: number): number {
  return us <= 1 ? 1 : floorLog2(Math.floor(us)) + 1;
}

/** Durations of one kind, in fixed memory (BUCKET_COUNT counters). */
export class DurationHistogram {
  private readonly counts = new Float64Array(BUCKET_COUNT);
  private total = 0;
  private minUs = Infinity;
  private maxUs = 0;

  record(us: number): void {
    const value = Math.max(0, Math.floor(us));
    this.counts[bucketIndex(value)]!++;
    this.total++;
    if (value < this.minUs) this.minUs = value;
    if (value > this.maxUs) this.maxUs = value;
  }

  /** Adds the kernel's counts per bucket (bpf/aggregate.h) and their exact extremes. */
  addBuckets(buckets: ReadonlyMap<number, number>, minUs: number, maxUs: number): void {
    for (const [index, count] of buckets) {
      this.counts[index]! += count;
      this.total += count;
    }
    this.minUs = Math.min(this.minUs, minUs);
    this.maxUs = Math.max(this.maxUs, maxUs);
  }

  /** Adds another histogram's counts into this one. */
  merge(other: DurationHistogram): void {
    for (let i = 0; i < BUCKET_COUNT; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    this.minUs = Math.min(this.minUs, other.minUs);
    this.maxUs = Math.max(this.maxUs, other.maxUs);
  }

  get count(): number {
    return this.total;
  }

  /** The largest value recorded, exact; null when empty. */
  get max(): number | null {
    return this.total === 0 ? null : this.maxUs;
  }

  /**
   * The nearest-rank percentile (the smallest recorded value with at least
   * p % of the values at or below it), as the midpoint of its bucket clamped
   * to the exact min and max: exact below 64 µs, else within 1.6 %.
   * null when empty.
   */
  percentile(percent: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil((percent / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const { lowUs, widthUs } = bucketRange(i);
        const middle = lowUs + Math.floor((widthUs - 1) / 2);
        return Math.min(this.maxUs, Math.max(this.minUs, middle));
      }
    }
    return this.maxUs;
  }

  /** Counts per bcc log2 slot (index = slot; index 0 unused, as in bcc). */
  log2Counts(): number[] {
    const slots: number[] = [];
    for (let i = 0; i < BUCKET_COUNT; i++) {
      const count = this.counts[i]!;
      if (count === 0) continue;
      // A bucket never spans two powers of two, so its low end names the slot.
      const slot = log2Slot(bucketRange(i).lowUs);
      while (slots.length <= slot) slots.push(0);
      slots[slot]! += count;
    }
    return slots;
  }
}

export interface TransitionStats {
  readonly oldState: number;
  readonly newState: number;
  /** All transitions seen, timed or not. */
  readonly count: number;
  /** Transitions of sockets seen for the first time (duration unknown,
   * shown as 0.000 in rows): in `count`, not in `durations`. */
  readonly firstSeen: number;
  /** Time spent in oldState, µs, for the others. */
  readonly durations: DurationHistogram;
}

export interface StateHistogram {
  readonly state: number;
  /** Time spent in `state` before leaving it, over all its transitions. */
  readonly durations: DurationHistogram;
}

/** Aggregates transitions; memory is bounded by the distinct (OLD, NEW) pairs
 * (at most 256 x 256 for u8 states; about 20 in practice), not by events. */
export class TransitionSummary {
  private readonly transitions = new Map<number, { oldState: number; newState: number; count: number; firstSeen: number; durations: DurationHistogram }>();
  private total = 0;

  add(event: Pick<TcpEvent, 'oldState' | 'newState' | 'deltaNs'>): void {
    const key = event.oldState * 256 + event.newState;
    let entry = this.transitions.get(key);
    if (entry === undefined) {
      entry = { oldState: event.oldState, newState: event.newState, count: 0, firstSeen: 0, durations: new DurationHistogram() };
      this.transitions.set(key, entry);
    }
    entry.count++;
    this.total++;
    // delta 0 is the kernel's "first seen" mark (bpf/tcpstates.h).
    if (event.deltaNs === 0) entry.firstSeen++;
    else entry.durations.record(Math.floor(event.deltaNs / 1000));
  }

  get count(): number {
    return this.total;
  }

  /** Replaces what was added with the kernel's aggregates (bpf/aggregate.h). */
  load(aggregates: Aggregates): void {
    this.transitions.clear();
    this.total = 0;
    for (const totals of aggregates.transitions) {
      const { oldState, newState, firstSeen } = totals;
      const count = totals.byFamily[0] + totals.byFamily[1];
      const durations = new DurationHistogram();
      if (totals.minUs !== null && totals.maxUs !== null) durations.addBuckets(totals.summaryBuckets, totals.minUs, totals.maxUs);
      this.transitions.set(oldState * 256 + newState, { oldState, newState, count, firstSeen, durations });
      this.total += count;
    }
  }

  /** Most frequent first; ties in state-number order, so the output is stable. */
  byTransition(): TransitionStats[] {
    return [...this.transitions.values()].sort(
      (a, b) => b.count - a.count || a.oldState - b.oldState || a.newState - b.newState,
    );
  }

  /** One histogram per OLD state that has timed transitions, in state-number order. */
  byOldState(): StateHistogram[] {
    const states = new Map<number, DurationHistogram>();
    for (const entry of this.transitions.values()) {
      if (entry.durations.count === 0) continue;
      let merged = states.get(entry.oldState);
      if (merged === undefined) {
        merged = new DurationHistogram();
        states.set(entry.oldState, merged);
      }
      merged.merge(entry.durations);
    }
    return [...states.entries()].sort((a, b) => a[0] - b[0]).map(([state, durations]) => ({ state, durations }));
  }
}
