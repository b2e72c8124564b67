// SPDX-License-Identifier: MIT
// tcplife: one row per closed TCP session, with its bytes, lifespan and owner.
// Reimplements tcplife(8) from bcc (Brendan Gregg, 2016).

import { sampleWallClockOffsetMs } from '../format/clock.js';
import { jsonDiagnostic, jsonLine, tcplifeJson } from '../format/json.js';
import { tcplifeRenderer } from '../format/tcplife.js';
import { buildCommand, parseArgs, rowLayout, validateCommon, type CommonOptions } from './command.js';
import { runTracer } from './run.js';
import type { EventView } from '../decode/event.js';
import type { ByteOutput } from '../format/output.js';

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
    tcplife -6        # only trace IPv6 family`;

export function parseTcplifeArgs(argv: readonly string[]) {
  const command = buildCommand(
    {
      name: 'tcplife',
      description: 'Trace the lifespan of TCP sessions and summarize',
      examples: EXAMPLES,
      pidOption: true,
      pidHelp: 'comma-separated list of PIDs to trace (the socket owner)',
    },
  );
  return parseArgs(command, argv, (raw) => validateCommon(raw, 'sessions'));
}

export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseTcplifeArgs(argv);
  if (parsed.kind === 'exit') return parsed.code;
  const options: CommonOptions = parsed.options;
  const wallClockOffsetMs = sampleWallClockOffsetMs();
  const layout = await rowLayout(options, wallClockOffsetMs);
  const renderer = tcplifeRenderer(layout);
  /** The row writer; made twice: the second one for the warm-up. */
  const rowWriter = (rows: typeof renderer) =>
    options.json
      ? (out: ByteOutput, event: EventView) => out.text(`${jsonLine(tcplifeJson(event, wallClockOffsetMs))}\n`)
      : (out: ByteOutput, event: EventView) => rows.writeLine(out, event);
  return runTracer({
    tool: 'tcplife',
    config: options.trace,
    header: options.json ? null : renderer.header(),
    // `event` is a view into the ring, valid during the call only.
    writeRow: rowWriter(renderer),
    warmRow: rowWriter(tcplifeRenderer(layout)),
    ...(options.json ? { diagnostic: jsonDiagnostic('tcplife') } : {}),
    maxRows: options.maxRows,
    durationMs: options.durationMs,
    verbose: options.verbose,
  });
}
