// SPDX-License-Identifier: MIT
// The in-kernel aggregation's maps (bpf/aggregate.h): sized before the load
// to what the mode uses, read by lookup at scrape and at exit. The decoding
// and the sums over CPUs are decode/aggregates.ts's.

import type { Libbpf, Pointer } from '../ffi/libbpf.js';
import {
  AGG_SESSION_SIZE,
  AGG_TRANSITION_SIZE,
  AGGREGATE_LIMITS,
  perCpuStride,
  SessionAccumulator,
  summaryKeyParts,
  sumWord,
  TransitionAccumulator,
  type Aggregates,
  type TransitionTotals,
} from '../decode/aggregates.js';
import type { TraceMode, AggregateConfig } from './config.js';

/** Names in bpf/aggregate.h. */
export const MAP_AGG_TRANSITIONS = 'agg_transitions';
export const MAP_AGG_SESSIONS = 'agg_sessions';
export const MAP_AGG_FAILURES = 'agg_failures';
export const MAP_AGG_SUMMARY = 'agg_summary';

const { AGG_WRITERS, AGG_TRANSITION_CELLS, AGG_SESSION_CELLS, AGG_ERRNOS, AGG_SUMMARY_CELLS } = AGGREGATE_LIMITS;

/** max_entries of each map in this mode: as declared when used, else one
 * cell (per-CPU arrays are allocated whole, for every possible CPU). */
export function aggregateMapSizes(mode: TraceMode, aggregate: AggregateConfig | undefined): Record<string, number> {
  const transitions = mode === 'transitions' && aggregate !== undefined;
  const sessions = mode === 'sessions' && aggregate?.metrics === true;
  return {
    [MAP_AGG_TRANSITIONS]: transitions ? AGG_WRITERS * AGG_TRANSITION_CELLS : 1,
    [MAP_AGG_SUMMARY]: transitions && aggregate.summary ? AGG_SUMMARY_CELLS : 1,
    [MAP_AGG_SESSIONS]: sessions ? AGG_WRITERS * AGG_SESSION_CELLS : 1,
    [MAP_AGG_FAILURES]: sessions ? AGG_WRITERS * AGG_ERRNOS : 1,
  };
}

export function sizeAggregateMaps(libbpf: Libbpf, object: Pointer, mode: TraceMode, aggregate: AggregateConfig | undefined): void {
  for (const [name, entries] of Object.entries(aggregateMapSizes(mode, aggregate))) libbpf.setMaxEntries(libbpf.findMap(object, name), entries);
}

export interface AggregateMaps {
  /** The maps now, summed over CPUs and writers; `withSummary` false: the
   * summary's buckets left out (to count the events). */
  read(withSummary?: boolean): Aggregates;
}

/** After the load: reads the maps the mode uses. */
export function openAggregateMaps(libbpf: Libbpf, object: Pointer, mode: TraceMode, aggregate: AggregateConfig): AggregateMaps {
  const cpus = libbpf.possibleCpus();
  const fd = (name: string): number => libbpf.mapFd(libbpf.findMap(object, name));

  /** A per-CPU array's cells, all in one call: cell i's CPU copies at view(i). */
  const readArray = (name: string, cells: number, valueSize: number): ((cell: number) => DataView) => {
    const entryBytes = cpus * perCpuStride(valueSize);
    const values = new Uint8Array(cells * entryBytes);
    libbpf.lookupArray(fd(name), cells, values);
    return (cell) => new DataView(values.buffer, cell * entryBytes, entryBytes);
  };

  const readTransitions = (summary: ReadonlyMap<number, ReadonlyMap<number, number>> | null): TransitionTotals[] => {
    const cell = readArray(MAP_AGG_TRANSITIONS, AGG_WRITERS * AGG_TRANSITION_CELLS, AGG_TRANSITION_SIZE);
    const totals: TransitionTotals[] = [];
    for (let transition = 0; transition < AGG_TRANSITION_CELLS; transition++) {
      const sum = new TransitionAccumulator();
      for (let writer = 0; writer < AGG_WRITERS; writer++) sum.add(cell(writer * AGG_TRANSITION_CELLS + transition), cpus);
      const totalsOf = sum.totals(transition, summary === null ? null : (summary.get(transition) ?? new Map()));
      if (totalsOf !== null) totals.push(totalsOf);
    }
    return totals;
  };

  const readSessions = (): Aggregates['sessions'] => {
    const cellView = readArray(MAP_AGG_SESSIONS, AGG_WRITERS * AGG_SESSION_CELLS, AGG_SESSION_SIZE);
    return Array.from({ length: AGG_SESSION_CELLS }, (_, cell) => {
      const sum = new SessionAccumulator();
      for (let writer = 0; writer < AGG_WRITERS; writer++) sum.add(cellView(writer * AGG_SESSION_CELLS + cell), cpus);
      return sum.totals(cell);
    });
  };

  const readFailures = (): Map<number, number> => {
    const cell = readArray(MAP_AGG_FAILURES, AGG_WRITERS * AGG_ERRNOS, 8);
    const failures = new Map<number, number>();
    for (let errno = 0; errno < AGG_ERRNOS; errno++) {
      let count = 0n;
      for (let writer = 0; writer < AGG_WRITERS; writer++) count += sumWord(cell(writer * AGG_ERRNOS + errno), cpus, 8, 0);
      if (count > 0n) failures.set(errno, Number(count));
    }
    return failures;
  };

  const readSummary = (): Map<number, Map<number, number>> => {
    const mapFd = fd(MAP_AGG_SUMMARY);
    const values = new Uint8Array(cpus * 8);
    const view = new DataView(values.buffer);
    const summary = new Map<number, Map<number, number>>();
    const next = new Uint8Array(4);
    let previous: Uint8Array | null = null;
    while (libbpf.nextKey(mapFd, previous, next)) {
      if (libbpf.lookup(mapFd, next, values)) {
        const { transition, bucket } = summaryKeyParts(new DataView(next.buffer).getUint32(0, true));
        let buckets = summary.get(transition);
        if (buckets === undefined) summary.set(transition, (buckets = new Map()));
        buckets.set(bucket, (buckets.get(bucket) ?? 0) + Number(sumWord(view, cpus, 8, 0)));
      }
      previous = next.slice();
    }
    return summary;
  };

  const transitions = mode === 'transitions';
  return {
    read: (withSummary = true) => ({
      transitions: transitions ? readTransitions(aggregate.summary && withSummary ? readSummary() : null) : [],
      sessions: transitions || !aggregate.metrics ? [] : readSessions(),
      failures: transitions || !aggregate.metrics ? new Map() : readFailures(),
    }),
  };
}
