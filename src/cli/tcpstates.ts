// SPDX-License-Identifier: MIT
// tcpstates: trace TCP session state changes and durations. The options,
// the -Y and --summary consumers; the rest is cli/tool.ts.
// Reimplements tcpstates(8) from bcc (Brendan Gregg, 2018).

import { Option } from 'commander';
import { encodeJournalEntry, tcpstatesJournalFields } from '../format/journal.js';
import { tcpstatesJson } from '../format/json.js';
import { tcpstatesRenderer } from '../format/tcpstates.js';
import { Diagnostics } from '../io/diagnostics.js';
import { JournalWriter, journalSocketPath } from '../io/journal.js';
import { TcpstatesMetrics } from '../metrics/tcp-metrics.js';
import { TransitionSummary } from '../track/summary.js';
import { Aggregation, JournalEntries } from '../trace/consumers.js';
import type { RunDeps } from '../trace/run.js';
import { buildCommand, parseArgs, validateCommon, type CommonOptions, type RawOptions } from './command.js';
import { ROW_LAYOUT_OPTIONS } from './fleet-options.js';
import { runTool } from './tool.js';

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
    tcpstates --existing      # sockets open at start: first MS since found, marked ">"
    tcpstates --cgroup /system.slice --json   # sockets of a cgroup subtree`;

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

/** -Y: each event to the journal too. As bcc: journald adds OBJECT_COMM
 * itself for root senders. */
function journalEntries(diagnostics: Diagnostics): JournalEntries {
  const writer = JournalWriter.open(journalSocketPath(process.env), (message, fields) => diagnostics.notice(message, fields));
  const fieldOptions = { includeComm: process.getuid?.() !== 0 };
  return new JournalEntries(writer, (event) => encodeJournalEntry(tcpstatesJournalFields(event, fieldOptions)), diagnostics);
}

/** --summary: the table (or JSON objects) at exit. Its format is loaded
 * only then: cli-table3 alone costs ~15 ms of start-up. */
async function summaryAggregation(options: TcpstatesOptions): Promise<Aggregation<TransitionSummary>> {
  const { renderStateHistograms, renderSummaryTable, stateHistogramJson, transitionSummaryJson } = await import('../format/summary.js');
  const render = (summary: TransitionSummary): string => {
    if (!options.json) {
      return renderSummaryTable(summary.byTransition()) + (options.histogram ? renderStateHistograms(summary.byOldState()) : '');
    }
    let text = '';
    for (const stats of summary.byTransition()) text += `${JSON.stringify(transitionSummaryJson(stats))}\n`;
    if (options.histogram) for (const state of summary.byOldState()) text += `${JSON.stringify(stateHistogramJson(state))}\n`;
    return text;
  };
  return new Aggregation(new TransitionSummary(), () => new TransitionSummary(), render);
}

export async function main(argv: readonly string[], diagnostics = new Diagnostics('tcpstates'), deps?: RunDeps): Promise<number> {
  const parsed = parseTcpstatesArgs(argv, diagnostics);
  if (parsed.kind === 'exit') return parsed.code;
  const options = parsed.options;
  return runTool(options, diagnostics, {
    renderer: tcpstatesRenderer,
    toJson: tcpstatesJson,
    metrics: () => new TcpstatesMetrics(),
    // Opened first: a missing journal fails before anything is loaded.
    consumers: async () => [
      ...(options.journal ? [journalEntries(diagnostics)] : []),
      ...(options.summary ? [await summaryAggregation(options)] : []),
    ],
    noRows: options.summary,
    ...(options.summary ? { notice: SUMMARY_NOTICE } : {}),
  }, deps);
}
