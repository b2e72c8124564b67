// SPDX-License-Identifier: MIT
// What a fleet needs to watch the tracer itself, beside the traffic
// counters of tcp-metrics.ts: `<tool>_build_info{version}`, every miss the
// tool reports on stderr (skipped program runs, sockets it could not
// track, listening ports it could not remember, samples it could not
// decode) as a counter an alert can see, and the process_* metrics.
// Counts come from the tracer's once-a-second counter check, the same
// numbers its stderr lines report.

import type { KernelCounters } from '../bpf/loader.js';
import type { Exposition } from './exposition.js';
import { describeProcess, readProcessStats, type ProcessStats } from './process-metrics.js';

/** The misses, as totals since the start. */
export interface MissTotals {
  /** State changes the kernel skipped (the program was already running on that CPU). */
  stateChangeRunsSkipped: number;
  /** tcplife's send/receive runs skipped: an owner may be an earlier user. */
  socketIoRunsSkipped: number;
  /** Sockets whose storage the kernel could not allocate. */
  socketsUntracked: number;
  /** Listening ports the listeners map refused. */
  listeningPortsUntracked: number;
  /** Ring samples too short to decode. */
  samplesUndecodable: number;
}

export class ToolHealth {
  readonly misses: MissTotals = {
    stateChangeRunsSkipped: 0,
    socketIoRunsSkipped: 0,
    socketsUntracked: 0,
    listeningPortsUntracked: 0,
    samplesUndecodable: 0,
  };

  constructor(
    readonly tool: string,
    readonly version: string,
    private readonly processStats: () => ProcessStats = readProcessStats,
  ) {}

  /** The kernel's counters as the tracer last read them, and the samples it could not decode. */
  update(counters: KernelCounters, undecodable: number): void {
    const misses = this.misses;
    misses.stateChangeRunsSkipped = counters.transitionMisses;
    misses.socketIoRunsSkipped = counters.recursionMisses - counters.transitionMisses;
    misses.socketsUntracked = counters.trackingFailed;
    misses.listeningPortsUntracked = counters.listenerFailed;
    misses.samplesUndecodable = undecodable;
  }

  /** Adds build info, the misses and the process metrics to a scrape. */
  describe(exposition: Exposition): void {
    const { tool, misses } = this;
    exposition
      .gauge(`${tool}_build_info`, `A metric with a constant '1' value labeled by the version of ${tool}.`, [[[['version', this.version]], 1]])
      .counter(`${tool}_program_runs_skipped_total`, 'Program runs the kernel skipped because a program was already running on that CPU.', [
        [[['program', 'state_change']], misses.stateChangeRunsSkipped],
        [[['program', 'socket_io']], misses.socketIoRunsSkipped],
      ])
      .counter(`${tool}_sockets_untracked_total`, 'Sockets the kernel could not allocate storage for (their next rows restart as first seen).', [
        [[], misses.socketsUntracked],
      ])
      .counter(`${tool}_listening_ports_untracked_total`, 'Listening ports the listeners map refused (full).', [[[], misses.listeningPortsUntracked]])
      .counter(`${tool}_samples_undecodable_total`, 'Ring samples too short to decode.', [[[], misses.samplesUndecodable]]);
    describeProcess(exposition, this.processStats());
  }
}
