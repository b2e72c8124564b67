// SPDX-License-Identifier: MIT
// tcplife: one row per closed TCP session, with its bytes, lifespan and owner.
// Reimplements tcplife(8) from bcc (Brendan Gregg, 2016).

import { sampleWallClockOffsetMs } from '../format/clock.js';
import type { EventView } from '../decode/event.js';
import type { ByteOutput } from '../format/output.js';
import { tcplifeJson } from '../format/json.js';
import { tcplifeRenderer } from '../format/tcplife.js';
import { buildCommand, parseArgs, rowLayout, validateCommon, type CommonOptions } from './command.js';
import { runTracer } from './run.js';
import { Diagnostics } from './diagnostics.js';
import { appendContainerColumns, containerHeader } from '../format/container-columns.js';
import { TcplifeMetrics } from '../metrics/tcp-metrics.js';
import { metricsFeeds, ToolHealth } from '../metrics/tool-health.js';
import { packageVersion } from './version.js';
import { CgroupPaths } from '../sys/cgroup.js';
import { openMetricsEndpoint } from './metrics-endpoint.js';

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
    tcplife -N /proc/1234/ns/net --container          # one process's network namespace`;

export function parseTcplifeArgs(argv: readonly string[], diagnostics?: Diagnostics) {
  const command = buildCommand(
    {
      name: 'tcplife',
      description: 'Trace the lifespan of TCP sessions and summarize',
      examples: EXAMPLES,
      pidHelp: 'comma-separated list of PIDs to trace (the socket owner)',
    },
  );
  return parseArgs(command, argv, (raw) => validateCommon(raw, 'sessions'), diagnostics);
}

export async function main(argv: readonly string[], diagnostics = new Diagnostics('tcplife')): Promise<number> {
  const parsed = parseTcplifeArgs(argv, diagnostics);
  if (parsed.kind === 'exit') return parsed.code;
  const options: CommonOptions = parsed.options;
  const { fleet } = options;
  const wallClockOffsetMs = sampleWallClockOffsetMs();
  const layout = await rowLayout(options, wallClockOffsetMs);
  const renderer = tcplifeRenderer(layout);
  const metrics = fleet.metrics === null ? null : new TcplifeMetrics();
  const health = metrics === null ? null : new ToolHealth('tcplife', packageVersion());
  // With --metrics, rows only if --json asks for them.
  const rows = metrics === null || options.json;
  const cgroupPaths = options.json || fleet.container ? new CgroupPaths() : null;
  const cgroupPathOf = (id: number): string | null => cgroupPaths?.pathOf(id) ?? null;
  // Where the row writer counts: into metrics of its own while the tracer
  // warms it up (see TracerOptions.warming).
  let counted = metrics;
  /** `event` is a view into the ring, valid during the call only. */
  const writeRow = (out: ByteOutput, event: EventView): void => {
    if (counted !== null) counted.add(event);
    if (!rows) return;
    if (options.json) out.text(`${JSON.stringify(tcplifeJson(event, wallClockOffsetMs, cgroupPathOf))}\n`);
    else {
      renderer.writeLine(out, event);
      if (fleet.container) appendContainerColumns(out, event.netnsIno, event.cgroupId, cgroupPathOf, options.csv);
    }
  };
  const warming = (on: boolean): void => {
    counted = on && metrics !== null ? new TcplifeMetrics() : metrics;
    if (!on) renderer.reset();
  };

  const server = await openMetricsEndpoint(fleet.metrics, (format) => metrics!.render(format, (exposition) => health!.describe(exposition)), diagnostics);
  try {
    return await runTracer({
      config: options.trace,
      header: !rows || options.json || !options.header ? null : fleet.container ? containerHeader(renderer.header(), options.csv) : renderer.header(),
      writeRow,
      warming,
      diagnostics,
      maxRows: options.maxRows,
      durationMs: options.durationMs,
      ...(metrics !== null ? metricsFeeds(metrics.counts, health!) : {}),
    });
  } finally {
    await server?.close();
  }
}
