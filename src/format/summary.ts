// SPDX-License-Identifier: MIT
// --summary output, pure: the per-transition table (cli-table3), the per-state
// log2 histograms in the layout of bcc's print_log2_hist, and the JSON
// objects for --summary --json.

import Table from 'cli-table3';
import { stateName } from '../decode/tcp-states.js';
import type { DurationHistogram, StateHistogram, TransitionStats } from '../track/summary.js';
import { microsAsMillis3 } from './numbers.js';

export const SUMMARY_HEAD = ['OLD -> NEW', 'COUNT', 'FIRST SEEN', 'P50 MS', 'P90 MS', 'P99 MS', 'MAX MS'] as const;

/** Printed under the table: what the columns mean, and what is left out. */
export const SUMMARY_NOTES = [
  'MS: time spent in OLD before the transition; P50/P90/P99 within 1.6 %, MAX exact.',
  'FIRST SEEN: transitions of sockets not seen before (no known start, 0.000 in rows):',
  'counted in COUNT, left out of the MS columns and the histograms.',
];

function millis(us: number | null): string {
  return us === null ? '-' : microsAsMillis3(us);
}

/** The table, a blank line, then SUMMARY_NOTES; a single line when empty. */
export function renderSummaryTable(transitions: readonly TransitionStats[]): string {
  if (transitions.length === 0) return 'no TCP state transitions seen\n';
  const table = new Table({
    head: [...SUMMARY_HEAD],
    colAligns: ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
    // No colours (the same text on a terminal, in a pipe and in tests), and
    // no rule between rows.
    style: { head: [], border: [], compact: true },
  });
  for (const stats of transitions) {
    const durations = stats.durations;
    table.push([
      `${stateName(stats.oldState)} -> ${stateName(stats.newState)}`,
      String(stats.count),
      String(stats.firstSeen),
      millis(durations.percentile(50)),
      millis(durations.percentile(90)),
      millis(durations.percentile(99)),
      millis(durations.max),
    ]);
  }
  return `${table.toString()}\n${SUMMARY_NOTES.join('\n')}\n`;
}

const STARS_MAX = 40;

/** bcc's _stars: floor(width * value / max) stars, at most `width`. */
function stars(value: number, valueMax: number, width: number): string {
  return '*'.repeat(Math.min(width, Math.floor((width * value) / valueMax)));
}

/**
 * One histogram as bcc's print_log2_hist prints it (slot i >= 1 covers
 * [2^(i-1), 2^i - 1], slot 1 shows "0 -> 1"; leading zero slots are shown,
 * as bcc does by default), with its "\n<header> = <name>" section line.
 */
export function renderLog2Histogram(slots: readonly number[], valueType: string, section: string): string {
  let indexMax = -1;
  let valueMax = 0;
  slots.forEach((value, index) => {
    if (value > 0) indexMax = index;
    if (value > valueMax) valueMax = value;
  });
  const narrow = indexMax <= 32;
  const width = narrow ? STARS_MAX : STARS_MAX / 2;
  const lines = [`\n${section}`];
  if (indexMax > 0) lines.push(narrow ? `     ${valueType.padEnd(19)} : count     distribution` : `               ${valueType.padEnd(29)} : count     distribution`);
  for (let i = 1; i <= indexMax; i++) {
    const high = 2 ** i - 1;
    const low = i === 1 ? 0 : 2 ** (i - 1);
    const value = slots[i] ?? 0;
    const range = narrow
      ? `${String(low).padStart(10)} -> ${String(high).padEnd(10)}`
      : `${String(low).padStart(20)} -> ${String(high).padEnd(20)}`;
    lines.push(`${range} : ${String(value).padEnd(8)} |${stars(value, valueMax, width).padEnd(width)}|`);
  }
  return `${lines.join('\n')}\n`;
}

/** --histogram: one log2 histogram of µs per OLD state. */
export function renderStateHistograms(states: readonly StateHistogram[]): string {
  return states.map(({ state, durations }) => renderLog2Histogram(durations.log2Counts(), 'usecs', `state = ${stateName(state)}`)).join('');
}

function msOrNull(us: number | null): number | null {
  return us === null ? null : us / 1000;
}

/** --summary --json: one object per transition. *_ms are null when no
 * transition of the kind had a known duration. */
export interface TransitionSummaryJson {
  readonly type: 'transition';
  readonly oldstate: string;
  readonly newstate: string;
  readonly count: number;
  readonly first_seen: number;
  readonly p50_ms: number | null;
  readonly p90_ms: number | null;
  readonly p99_ms: number | null;
  readonly max_ms: number | null;
}

/** --summary --histogram --json: one object per OLD state, the non-empty
 * log2 slots of the time spent in it. */
export interface StateHistogramJson {
  readonly type: 'state_histogram';
  readonly state: string;
  readonly buckets: readonly { readonly low_us: number; readonly high_us: number; readonly count: number }[];
}

export function transitionSummaryJson(stats: TransitionStats): TransitionSummaryJson {
  const durations: DurationHistogram = stats.durations;
  return {
    type: 'transition',
    oldstate: stateName(stats.oldState),
    newstate: stateName(stats.newState),
    count: stats.count,
    first_seen: stats.firstSeen,
    p50_ms: msOrNull(durations.percentile(50)),
    p90_ms: msOrNull(durations.percentile(90)),
    p99_ms: msOrNull(durations.percentile(99)),
    max_ms: msOrNull(durations.max),
  };
}

export function stateHistogramJson(histogram: StateHistogram): StateHistogramJson {
  const buckets: { low_us: number; high_us: number; count: number }[] = [];
  histogram.durations.log2Counts().forEach((count, slot) => {
    if (slot === 0 || count === 0) return;
    buckets.push({ low_us: slot === 1 ? 0 : 2 ** (slot - 1), high_us: 2 ** slot - 1, count });
  });
  return { type: 'state_histogram', state: stateName(histogram.state), buckets };
}
