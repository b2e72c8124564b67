// SPDX-License-Identifier: MIT
// tcplife: one row per closed TCP session, with its bytes, lifespan and owner.
// Reimplements tcplife(8) from bcc (Brendan Gregg, 2016).

import { tcplifeJson } from '../format/json.js';
import { tcplifeRenderer } from '../format/tcplife.js';
import { Diagnostics } from '../io/diagnostics.js';
import { TcplifeMetrics } from '../metrics/tcp-metrics.js';
import type { RunDeps } from '../trace/run.js';
import { buildCommand, parseArgs, validateCommon } from './command.js';
import { runTool } from './tool.js';

const EXAMPLES = `examples:
    tcplife           # trace all TCP connect()s
    tcplife -T        # include time column (HH:MM:SS)
    tcplife -w        # wider columns (fit IPv6)
    tcplife -stT      # csv output, with times & timestamps
    tcplife -p 181    # only trace PID 181
    tcplife -p 181,182  # only trace PIDs 181 and 182
    tcplife -L 80     # only trace local port 80
    tcplife -L 80,81  # only trace local ports 80 and 81
    tcplife -D 80     # only trace remote port 80
    tcplife -4        # only trace IPv4 family
    tcplife -6        # only trace IPv6 family
    tcplife --metrics                 # Prometheus metrics on 127.0.0.1:19441/metrics
    tcplife --json | jq -c 'select(.error != null)'   # sessions that ended in an error
    tcplife -N /proc/1234/ns/net --container          # one process's network namespace
    tcplife --existing                # also the sessions open at start (MS marked ">": a lower bound)
    tcplife --existing --interval 10  # and every 10 s, the open sessions that moved bytes
    tcplife --top                     # live view of the open sessions, busiest first`;

export function parseTcplifeArgs(argv: readonly string[], diagnostics?: Diagnostics) {
  const command = buildCommand(
    {
      name: 'tcplife',
      description: 'Trace the lifespan of TCP sessions and summarize',
      examples: EXAMPLES,
      pidHelp: 'comma-separated list of PIDs to trace (the socket owner)',
    },
  );
  command
    .option('--interval <seconds>', 'every SECONDS, an OPEN row per open session that moved bytes, and one per session still open at exit (rows get a TYPE column)')
    .option('--all', 'with --interval: an OPEN row for every open session, not only those that moved')
    .option('--top', 'a live full-screen view of the open sessions, busiest first, redrawn every --interval (default 1 s); keys: t, r, a, b sort, q quits; plain text when stdout is not a terminal');
  return parseArgs(command, argv, (raw) => validateCommon(raw, 'sessions'), diagnostics);
}

export async function main(argv: readonly string[], diagnostics = new Diagnostics('tcplife'), deps?: RunDeps): Promise<number> {
  const parsed = parseTcplifeArgs(argv, diagnostics);
  if (parsed.kind === 'exit') return parsed.code;
  return runTool(parsed.options, diagnostics, { renderer: tcplifeRenderer, toJson: tcplifeJson, metrics: () => new TcplifeMetrics() }, deps);
}
