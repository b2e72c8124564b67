// SPDX-License-Identifier: MIT
// tcpstates: trace TCP session state changes and durations.
// Reimplements tcpstates(8) from bcc (Brendan Gregg, 2018).

import { Option } from 'commander';
import { sampleWallClockOffsetMs } from '../format/clock.js';
import { encodeJournalEntry, tcpstatesJournalFields } from '../format/journal.js';
import { tcpstatesJson } from '../format/json.js';
import { tcpstatesRenderer } from '../format/tcpstates.js';
import { TransitionSummary } from '../track/summary.js';
import { buildCommand, parseArgs, rowLayout, validateCommon, type CommonOptions, type RawOptions } from './command.js';
import { JournalWriter, journalSocketPath } from './journal.js';
import { runTracer } from './run.js';
import { Diagnostics } from './diagnostics.js';
import { appendContainerColumns, containerHeader } from '../format/container-columns.js';
import { TcpstatesMetrics } from '../metrics/tcp-metrics.js';
import { metricsFeeds, ToolHealth } from '../metrics/tool-health.js';
import { packageVersion } from './version.js';
import { CgroupPaths } from '../sys/cgroup.js';
import { openMetricsEndpoint } from './metrics-endpoint.js';
import type { EventView } from '../decode/event.js';
import type { ByteOutput } from '../format/output.js';

const EXAMPLES = `examples:
    tcpstates           # trace all TCP state changes
    tcpstates -t        # include timestamp column
    tcpstates -T        # include time column (HH:MM:SS)
    tcpstates -w        # wider columns (fit IPv6)
    tcpstates -stT      # csv output, with times & timestamps
    tcpstates -Y        # log events to the systemd journal
    tcpstates -L 80     # only trace local port 80
    tcpstates -L 80,81  # only trace local ports 80 and 81
    tcpstates -D 80     # only trace remote port 80
    tcpstates -p 181    # only trace transitions run by PID 181 (C-PID)
    tcpstates -4        # trace IPv4 family only
    tcpstates --count 20 | grep ESTABLISHED   # stop after 20 rows
    tcpstates --json | jq -c 'select(.newstate == "CLOSE")'
    tcpstates --summary --duration 10         # time in each state, for 10 s
    tcpstates --summary --histogram           # ... with log2 histograms
    tcpstates --metrics                       # Prometheus metrics on 127.0.0.1:19440/metrics
    tcpstates -N /run/netns/blue --container  # one network namespace; NETNS, CGROUP columns
    tcpstates --cgroup /system.slice --json   # sockets of a cgroup subtree`;

/** Row-layout options that mean nothing without rows. */
const ROW_LAYOUT_OPTIONS = ['csv', 'wide', 'time', 'timestamp'];

/** Shown on stderr in --summary mode, where no header says tracing started. */
export const SUMMARY_NOTICE = 'Tracing TCP state changes for the summary... Hit Ctrl-C to end.';

export interface TcpstatesOptions extends CommonOptions {
  /** --summary: a table at exit instead of rows. */
  readonly summary: boolean;
  /** --histogram: log2 histograms with the summary. */
  readonly histogram: boolean;
  /** -Y/--journal: each event to the systemd journal too. */
  readonly journal: boolean;
}

interface TcpstatesRawOptions extends RawOptions {
  summary?: boolean;
  histogram?: boolean;
  journal?: boolean;
}

export function parseTcpstatesArgs(argv: readonly string[], diagnostics?: Diagnostics) {
  const command = buildCommand(
    {
      name: 'tcpstates',
      description: 'Trace TCP session state changes and durations',
      examples: EXAMPLES,
      pidHelp: 'comma-separated list of PIDs to trace: the task on the CPU at the transition (C-PID)',
    },
  );
  command
    .option('-Y, --journal', 'log session state changes to the systemd journal')
    .addOption(
      new Option('--summary', 'no rows: at exit, a table per transition (count, time in the old state)').conflicts(
        ROW_LAYOUT_OPTIONS,
      ),
    )
    .addOption(
      // Not commander's implies(): a conflict would then name --summary.
      new Option('--histogram', 'with the summary, a log2 histogram of the time in each state (implies --summary)').conflicts(
        ROW_LAYOUT_OPTIONS,
      ),
    );
  return parseArgs(command, argv, (raw): TcpstatesOptions => {
    const extra = raw as TcpstatesRawOptions;
    return {
      ...validateCommon(raw, 'transitions'),
      summary: extra.summary === true || extra.histogram === true,
      histogram: extra.histogram === true,
      journal: extra.journal === true,
    };
  }, diagnostics);
}

export async function main(argv: readonly string[], diagnostics = new Diagnostics('tcpstates')): Promise<number> {
  const parsed = parseTcpstatesArgs(argv, diagnostics);
  if (parsed.kind === 'exit') return parsed.code;
  const options = parsed.options;
  const wallClockOffsetMs = sampleWallClockOffsetMs();

  // Opened first: a missing journal fails before anything is loaded.
  const journal = options.journal
    ? JournalWriter.open(journalSocketPath(process.env), (message, fields) => diagnostics.notice(message, fields))
    : null;
  // As bcc: journald adds OBJECT_COMM itself for root senders.
  const journalFieldOptions = { includeComm: process.getuid?.() !== 0 };

  const summary = options.summary ? new TransitionSummary() : null;
  const { fleet } = options;
  const metrics = fleet.metrics === null ? null : new TcpstatesMetrics();
  const health = metrics === null ? null : new ToolHealth('tcpstates', packageVersion());
  // Rows: not with --summary; with --metrics only if --json asks for them.
  const rows = summary === null && (metrics === null || options.json);
  const cgroupPaths = options.json || fleet.container ? new CgroupPaths() : null;
  const cgroupPathOf = (id: number): string | null => cgroupPaths?.pathOf(id) ?? null;
  const layout = await rowLayout(options, wallClockOffsetMs);
  const renderer = tcpstatesRenderer(layout);
  // Where the row writer's side effects go: elsewhere while the tracer warms
  // it up (see TracerOptions.warming).
  let to = journal;
  let into = summary;
  let counted = metrics;
  /** `event` is a view into the ring, valid during the call only. */
  const writeRow = (out: ByteOutput, event: EventView): void => {
    if (to !== null) to.send(encodeJournalEntry(tcpstatesJournalFields(event, journalFieldOptions)));
    if (counted !== null) counted.add(event);
    if (into !== null) into.add(event);
    else if (!rows) return;
    else if (options.json) out.text(`${JSON.stringify(tcpstatesJson(event, wallClockOffsetMs, cgroupPathOf))}\n`);
    else {
      renderer.writeLine(out, event);
      if (fleet.container) appendContainerColumns(out, event.netnsIno, event.cgroupId, cgroupPathOf, options.csv);
    }
  };
  const warming = (on: boolean): void => {
    to = on ? null : journal;
    into = on && summary !== null ? new TransitionSummary() : summary;
    counted = on && metrics !== null ? new TcpstatesMetrics() : metrics;
    if (!on) renderer.reset();
  };

  // Loaded only for --summary: cli-table3 alone costs ~15 ms of start-up.
  const summaryFormat = summary === null ? null : await import('../format/summary.js');
  const renderEnd = (): string => {
    if (summary === null || summaryFormat === null) return '';
    const { renderStateHistograms, renderSummaryTable, stateHistogramJson, transitionSummaryJson } = summaryFormat;
    if (options.json) {
      let text = '';
      for (const stats of summary.byTransition()) text += `${JSON.stringify(transitionSummaryJson(stats))}\n`;
      if (options.histogram) for (const state of summary.byOldState()) text += `${JSON.stringify(stateHistogramJson(state))}\n`;
      return text;
    }
    return renderSummaryTable(summary.byTransition()) + (options.histogram ? renderStateHistograms(summary.byOldState()) : '');
  };

  let server: Awaited<ReturnType<typeof openMetricsEndpoint>> = null;
  let exitCode: number;
  try {
    server = await openMetricsEndpoint(fleet.metrics, (format) => metrics!.render(format, (exposition) => health!.describe(exposition)), diagnostics);
    exitCode = await runTracer({
      config: options.trace,
      header: !rows || options.json || !options.header ? null : fleet.container ? containerHeader(renderer.header(), options.csv) : renderer.header(),
      writeRow,
      warming,
      maxRows: options.maxRows,
      durationMs: options.durationMs,
      diagnostics,
      ...(summary !== null ? { notice: SUMMARY_NOTICE, renderEnd } : {}),
      ...(metrics !== null ? metricsFeeds(metrics.counts, health!) : {}),
    });
  } catch (error) {
    journal?.close(0);
    await server?.close();
    throw error;
  }
  await server?.close();
  if (journal !== null) {
    const stats = journal.close();
    diagnostics.notice(`journal: ${stats.sent} entries sent, ${stats.notDelivered} not delivered`, {
      journal_sent: stats.sent,
      journal_not_delivered: stats.notDelivered,
    });
  }
  return exitCode;
}
