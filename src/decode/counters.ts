// SPDX-License-Identifier: MIT
// The kernel side's counters as facts of the boundary: the `counters` map's
// indexes (mirrored from bpf/tcpstates.h) and what a read of them gives
// (bpf/counters.ts reads them).

/** Indexes of the `counters` map (enum counter_index in bpf/tcpstates.h),
 * checked by the constants test; COUNTER_MAX is the map's size. */
export const COUNTER_INDEX = {
  COUNTER_EMITTED: 0,
  COUNTER_OUTPUT_FAILED: 1,
  COUNTER_TRACKING_FAILED: 2,
  COUNTER_LISTENER_FAILED: 3,
  COUNTER_NESTED: 4,
  COUNTER_EMITTED_NESTED: 5,
  COUNTER_SEEDED: 6,
  COUNTER_SEED_FAILED: 7,
  COUNTER_SEED_FILES: 8,
  COUNTER_SEED_FILES_REACHED: 9,
  COUNTER_AGGREGATE_FAILED: 10,
  COUNTER_MAX: 11,
} as const;
export interface KernelCounters {
  /** Events the program wrote to the perf rings. */
  readonly emitted: number;
  /** Events the program could not write: the ring was full. */
  readonly outputFailed: number;
  /** Sockets the per-socket map could not take (full, or no memory). */
  readonly trackingFailed: number;
  /** Listening ports the listeners map refused (full). */
  readonly listenerFailed: number;
  /** Times a program did not run because it was already running on the CPU
   * and no other program did its work (all programs). */
  readonly recursionMisses: number;
  /** Of those, state changes: transitions not seen. */
  readonly transitionMisses: number;
  /** State changes whose skipped run handle_set_state_nested made up for. */
  readonly nestedCovered: number;
  /** --existing: open sockets the seed gave storage. */
  readonly seeded: number;
  /** --existing: open sockets the seed could not give storage (no memory),
   * or whose owner it could not note. */
  readonly seedFailed: number;
  /** --existing: TCP sockets found in processes' files... */
  readonly seedFiles: number;
  /** ...and of those, found again in a namespace's TCP tables. */
  readonly seedFilesReached: number;
  /** Events counted in the aggregate maps (in-kernel aggregation). */
  readonly aggregated: number;
  /** Events the aggregate maps could not count (a full map). */
  readonly aggregateFailed: number;
}

export const ZERO_COUNTERS: KernelCounters = {
  emitted: 0,
  outputFailed: 0,
  trackingFailed: 0,
  listenerFailed: 0,
  recursionMisses: 0,
  transitionMisses: 0,
  nestedCovered: 0,
  seeded: 0,
  seedFailed: 0,
  seedFiles: 0,
  seedFilesReached: 0,
  aggregated: 0,
  aggregateFailed: 0,
};
