// SPDX-License-Identifier: MIT
// Runs harness/bcc_format.py: bcc's own printf formats, applied by
// Python, as the reference our renderers must match byte for byte.

import { execFileSync } from 'node:child_process';
import type { TcpEvent } from '../src/decode/event.js';
import { REPO_ROOT } from './system.js';

const SCRIPT = `${REPO_ROOT}harness/bcc_format.py`;

export type OracleMode = 'default' | 'wide' | 'csv';

export interface OracleJob {
  tool: 'tcpstates' | 'tcplife';
  mode: OracleMode;
  timestamp?: boolean;
  events: readonly TcpEvent[];
}

/** The oracle's lines (header first) for each job. */
export function bccFormat(jobs: readonly OracleJob[]): string[][] {
  const input = jobs.map((job) => ({
    tool: job.tool,
    mode: job.mode,
    timestamp: job.timestamp ?? false,
    events: job.events.map((event) => ({
      skaddr_hex: event.skaddr, // too big for a JSON number: Python parses it
      pid: event.pid,
      comm: event.comm,
      owner_pid: event.ownerPid,
      owner_comm: event.ownerComm,
      family: event.family,
      saddr: event.localAddress,
      daddr: event.remoteAddress,
      lport: event.localPort,
      dport: event.remotePort,
      oldstate: event.oldState,
      newstate: event.newState,
      span_us: Math.floor(event.deltaNs / 1000),
      ts_us: Math.floor(event.tsNs / 1000),
      tx_b: event.txBytes,
      rx_b: event.rxBytes,
    })),
  }));
  const output = execFileSync('python3', [SCRIPT], { input: JSON.stringify(input), encoding: 'utf8' });
  return JSON.parse(output) as string[][];
}
