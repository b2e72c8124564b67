// SPDX-License-Identifier: Apache-2.0
// tcpstates: trace TCP session state changes and durations.
// Reimplements tcpstates(8) from bcc (Brendan Gregg, 2018).

import { writeSync } from 'node:fs';
import { colorizerFor } from '../format/color.js';
import { sampleWallClockOffsetMs } from '../format/clock.js';
import { tcpstatesRenderer } from '../format/tcpstates.js';
import { buildCommand, parseArgs, validateCommon, type CommonOptions } from './command.js';
import { runTracer } from './run.js';

const EXAMPLES = `examples:
    tcpstates           # trace all TCP state changes
    tcpstates -t        # include timestamp column
    tcpstates -T        # include time column (HH:MM:SS)
    tcpstates -w        # wider columns (fit IPv6)
    tcpstates -stT      # csv output, with times & timestamps
    tcpstates -L 80     # only trace local port 80
    tcpstates -L 80,81  # only trace local ports 80 and 81
    tcpstates -D 80     # only trace remote port 80
    tcpstates -4        # trace IPv4 family only
    tcpstates --count 20 | grep ESTABLISHED   # stop after 20 rows`;

const write = { out: (s: string) => void writeSync(1, s), err: (s: string) => void writeSync(2, s) };

export function parseTcpstatesArgs(argv: readonly string[]) {
  const command = buildCommand(
    { name: 'tcpstates', description: 'Trace TCP session state changes and durations', examples: EXAMPLES, pidOption: false },
    write,
  );
  return parseArgs(command, argv, (raw) => validateCommon(raw, 'transitions'));
}

export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseTcpstatesArgs(argv);
  if (parsed.kind === 'exit') return parsed.code;
  const options: CommonOptions = parsed.options;
  const renderer = tcpstatesRenderer({
    wide: options.wide,
    csv: options.csv,
    time: options.time,
    timestamp: options.timestamp,
    wallClockOffsetMs: sampleWallClockOffsetMs(),
    colorizer: options.csv ? null : await colorizerFor(process.stdout.isTTY === true, process.env),
  });
  return runTracer({
    tool: 'tcpstates',
    config: options.trace,
    header: renderer.header(),
    writeRow: (out, event) => renderer.writeLine(out, event),
    maxRows: options.maxRows,
    durationMs: options.durationMs,
    verbose: options.verbose,
  });
}

