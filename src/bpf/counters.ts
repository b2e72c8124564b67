// SPDX-License-Identifier: MIT
// The kernel side's counters: the `counters` map (per CPU, summed) and each
// program's recursion misses (bpf_prog_info), read as one KernelCounters.

import { COUNTER_INDEX, type KernelCounters } from '../decode/counters.js';
import type { Libbpf } from '../ffi/libbpf.js';

const {
  COUNTER_EMITTED,
  COUNTER_OUTPUT_FAILED,
  COUNTER_TRACKING_FAILED,
  COUNTER_LISTENER_FAILED,
  COUNTER_NESTED,
  COUNTER_EMITTED_NESTED,
  COUNTER_SEEDED,
  COUNTER_SEED_FAILED,
  COUNTER_SEED_FILES,
  COUNTER_SEED_FILES_REACHED,
  COUNTER_AGGREGATE_FAILED,
} = COUNTER_INDEX;

// from include/uapi/linux/bpf.h: struct bpf_prog_info
const PROG_INFO_SIZE = 232;
const PROG_INFO_RECURSION_MISSES_OFFSET = 208;

/** The programs whose misses count: the state-change programs first
 * (handle_set_state, then its nested cover), then the owner programs. */
export interface CountedPrograms {
  readonly fds: readonly number[];
  /** How many of `fds` are state-change programs. */
  readonly stateChange: number;
}

/** A reader of the counters map at `countersFd`, of `programs`' misses and,
 * in-kernel aggregation, of how many events the maps counted (`aggregated`). */
export function counterReader(libbpf: Libbpf, countersFd: number, programs: CountedPrograms, aggregated: () => number = () => 0): () => KernelCounters {
  const cpus = libbpf.possibleCpus();
  const perCpu = new Uint8Array(cpus * 8);
  const perCpuView = new DataView(perCpu.buffer);
  const key = new Uint8Array(4);
  const sumCounter = (index: number): number => {
    new DataView(key.buffer).setUint32(0, index, true);
    if (!libbpf.lookup(countersFd, key, perCpu)) return 0;
    let total = 0;
    for (let cpu = 0; cpu < cpus; cpu++) total += Number(perCpuView.getBigUint64(cpu * 8, true));
    return total;
  };
  const info = new Uint8Array(PROG_INFO_SIZE);
  const infoView = new DataView(info.buffer);
  const missesOf = (fd: number): number => {
    info.fill(0);
    const filled = libbpf.objectInfo(fd, info);
    return filled > PROG_INFO_RECURSION_MISSES_OFFSET ? Number(infoView.getBigUint64(PROG_INFO_RECURSION_MISSES_OFFSET, true)) : 0;
  };
  return () => {
    const misses = programs.fds.map(missesOf);
    const nestedCovered = sumCounter(COUNTER_NESTED);
    // handle_set_state's skipped runs, less those made up for; the nested
    // program's own skips are not losses (handle_set_state ran then).
    const transitionMisses = Math.max(0, (misses[0] ?? 0) - nestedCovered);
    const ownerMisses = misses.slice(programs.stateChange).reduce((total, value) => total + value, 0);
    return {
      // Two counters: the first program's usual runs count without an atomic.
      emitted: sumCounter(COUNTER_EMITTED) + sumCounter(COUNTER_EMITTED_NESTED),
      outputFailed: sumCounter(COUNTER_OUTPUT_FAILED),
      trackingFailed: sumCounter(COUNTER_TRACKING_FAILED),
      listenerFailed: sumCounter(COUNTER_LISTENER_FAILED),
      recursionMisses: transitionMisses + ownerMisses,
      transitionMisses,
      nestedCovered,
      seeded: sumCounter(COUNTER_SEEDED),
      seedFailed: sumCounter(COUNTER_SEED_FAILED),
      seedFiles: sumCounter(COUNTER_SEED_FILES),
      seedFilesReached: sumCounter(COUNTER_SEED_FILES_REACHED),
      aggregated: aggregated(),
      aggregateFailed: sumCounter(COUNTER_AGGREGATE_FAILED),
    };
  };
}
