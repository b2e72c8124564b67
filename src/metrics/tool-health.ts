// SPDX-License-Identifier: MIT
// What a fleet needs to watch the tracer itself, beside the traffic
// counters of tcp-metrics.ts: `<tool>_build_info{version}`, every miss the
// tool reports on stderr (skipped program runs, sockets it could not
// track, listening ports it could not remember, samples it could not
// decode) as a counter an alert can see, and the process_* metrics.
// Counts come from the tracer's once-a-second counter check, the same
// numbers its stderr lines report.

import type { KernelCounters } from '../decode/counters.js';
import type { Exposition } from './exposition.js';
import { describeProcess, readProcessStats, type ProcessStats } from './process-metrics.js';

/**
 * The misses, as totals since the start; each is a `kind` of
 * `<tool>_misses_total`:
 *  - state_change_run_skipped: the kernel skipped the program on a state
 *    change (it was already running on that CPU): a transition not seen;
 *  - socket_io_run_skipped: tcplife's send/receive program skipped so: an
 *    owner may be an earlier user;
 *  - socket_untracked: no entry for a socket (the per-socket map full, or
 *    no memory): its next rows restart as first seen;
 *  - listening_port_untracked: the listeners map was full;
 *  - sample_undecodable: a ring sample too short to decode.
 */
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
      .counter(`${tool}_misses_total`, 'What the tool reports missing on stderr, by kind (see tool-health.ts).', [
        [[['kind', 'state_change_run_skipped']], misses.stateChangeRunsSkipped],
        [[['kind', 'socket_io_run_skipped']], misses.socketIoRunsSkipped],
        [[['kind', 'socket_untracked']], misses.socketsUntracked],
        [[['kind', 'listening_port_untracked']], misses.listeningPortsUntracked],
        [[['kind', 'sample_undecodable']], misses.samplesUndecodable],
      ]);
    describeProcess(exposition, this.processStats());
  }
}
