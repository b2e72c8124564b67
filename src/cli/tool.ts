// SPDX-License-Identifier: MIT
// What both tools do once their options are parsed, so that each tool is a
// spec (ToolSpec): build the trace pipeline (the tool's own consumers, then
// --metrics, then the rows), open the metrics endpoint, run the tracer, and
// close everything in order, whatever happened.

import { sampleWallClockOffsetMs } from '../format/clock.js';
import type { EventView, TcpEvent } from '../decode/event.js';
import type { RowRenderer } from '../format/columns.js';
import { containerHeader } from '../format/container-columns.js';
import type { CgroupPathOf } from '../format/json.js';
import type { Diagnostics } from '../io/diagnostics.js';
import type { Exposition, ExpositionFormat } from '../metrics/exposition.js';
import type { EventCounts } from '../metrics/tcp-metrics.js';
import { ToolHealth } from '../metrics/tool-health.js';
import { CgroupPaths } from '../sys/cgroup.js';
import { Aggregation, JsonRows, MetricsAggregation, TextRows, type Aggregate } from '../trace/consumers.js';
import type { TraceConfig } from '../bpf/config.js';
import { Pipeline, type Consumer } from '../trace/pipeline.js';
import { runTracer, type RunDeps } from '../trace/run.js';
import type { TraceSession } from '../bpf/loader.js';
import type { Libbpf } from '../ffi/libbpf.js';
import { rowLayout, type CommonOptions, type RowLayout } from './command.js';
import { OpenSessionRows } from '../open/rows.js';
import { OpenSessionPasses } from '../open/pass.js';
import { seedAndReport, unreachableReporter } from '../open/seed-report.js';
import { openMetricsEndpoint } from './metrics-endpoint.js';
import { packageVersion } from './version.js';
import { liveViewOnTerminal } from '../top/live-view.js';

/** The --metrics aggregate of a tool. */
export type ToolMetrics = Aggregate & { readonly counts: EventCounts; render(format: ExpositionFormat, more?: (exposition: Exposition) => void): string };

export interface ToolSpec {
  readonly renderer: (layout: RowLayout) => RowRenderer<TcpEvent, EventView>;
  readonly toJson: (event: TcpEvent, wallClockOffsetMs: number, cgroupPathOf: CgroupPathOf) => object;
  readonly metrics: () => ToolMetrics;
  /** The tool's own consumers, first in the pipeline; made before anything
   * is loaded, so that a missing journal fails first. */
  readonly consumers?: (wallClockOffsetMs: number) => Promise<readonly Consumer[]>;
  /** Another consumer replaces the rows (--summary). */
  readonly noRows?: boolean;
  /** On stderr once attached when there is no header (--summary). */
  readonly notice?: string;
}

/** The rows consumer and its header, or none; with --interval, the open
 * sessions' rows beside them. */
function rowsOf(options: CommonOptions, spec: ToolSpec, renderer: RowRenderer<TcpEvent, EventView>, wallClockOffsetMs: number, diagnostics: Diagnostics) {
  const { fleet } = options;
  // With --metrics (or --summary), rows only if --json asks for them.
  if (spec.noRows === true || (fleet.metrics !== null && !options.json)) return { consumer: null, header: null, open: null };
  // Past its bound, a cgroup's path is said to be unknown, and how many were left out is told.
  const cgroupPaths = options.json || fleet.container ? new CgroupPaths(undefined, undefined, (message, fields) => diagnostics.notice(message, fields)) : null;
  const cgroupPathOf = (id: number): string | null => cgroupPaths?.pathOf(id) ?? null;
  const open = (rows: ConstructorParameters<typeof OpenSessionRows>[0]['rows']): OpenSessionRows | null =>
    options.openSessions === null
      ? null
      : new OpenSessionRows({ ...options.openSessions, rows, wallClockOffsetMs, cgroupPathOf, now: () => performance.now() });
  // --top: no rows; the passes' snapshots go to the live view.
  if (options.openSessions?.top === true) return { consumer: null, header: null, open: open(null) };
  if (options.json) {
    // With --interval, a close row says so, as an open row does.
    const toJson = options.openSessions === null ? spec.toJson : (event: TcpEvent, offset: number, paths: CgroupPathOf) => ({ event: 'close', ...spec.toJson(event, offset, paths) });
    return { consumer: new JsonRows(toJson, wallClockOffsetMs, cgroupPathOf), header: null, open: open({ json: true }) };
  }
  const container = fleet.container ? { cgroupPathOf, csv: options.csv } : null;
  const header = !options.header ? null : container !== null ? containerHeader(renderer.header(), options.csv) : renderer.header();
  return { consumer: new TextRows(renderer, container), header, open: open({ renderer, container: container === null ? null : { csv: options.csv } }) };
}

/** runTracer's iterator options: the seed (--existing), the passes (--interval) bound to `open` once attached. */
function iteratorsOf(options: CommonOptions, open: OpenSessionRows | null, diagnostics: Diagnostics) {
  if (!options.existing && options.openSessions === null) return {};
  const option = options.openSessions?.top === true ? '--top' : options.existing ? '--existing' : '--interval';
  const iterators = { seed: options.existing, dump: options.openSessions !== null, option };
  const netnsIno = options.trace.netnsIno;
  return {
    iterators,
    onAttached: (session: TraceSession, libbpf: Libbpf): void => {
      // Once attached, so that no session falls between the seed and the trace.
      if (options.existing) seedAndReport(libbpf, session, netnsIno, diagnostics);
      if (open === null || !session.iterators?.dump) return;
      open.bind(new OpenSessionPasses(libbpf, session.iterators.dump, netnsIno));
      open.sayUnreachable = unreachableReporter(diagnostics, option === '--top' ? 'its sessions are not shown (--top)' : 'its sessions get no open rows (--interval)');
    },
  };
}

/**
 * When nothing needs the events themselves (no rows, no journal, no
 * --count) and something aggregates them: the kernel adds them up in its
 * maps instead of sending them (bpf/aggregate.h), and the aggregations are
 * loaded from those at scrape and at exit. Else the config as it was.
 */
export function inKernel(options: CommonOptions, consumers: readonly Consumer[], metrics: Consumer | null): TraceConfig | null {
  const aggregations = consumers.filter((consumer) => consumer instanceof Aggregation && consumer.aggregate.load !== undefined);
  if (aggregations.length !== consumers.length || aggregations.length === 0 || options.maxRows !== null) return null;
  // --existing and --interval read the sessions' storage with iterators: records and passes, not maps.
  if (options.existing || options.openSessions !== null) return null;
  const summary = aggregations.some((consumer) => consumer !== metrics);
  return { ...options.trace, aggregate: { metrics: metrics !== null, summary, records: false } };
}

/** Runs a tool with parsed options; resolves with the exit code. */
export async function runTool(options: CommonOptions, diagnostics: Diagnostics, spec: ToolSpec, deps?: RunDeps): Promise<number> {
  const wallClockOffsetMs = sampleWallClockOffsetMs();
  const own = (await spec.consumers?.(wallClockOffsetMs)) ?? [];
  const health = options.fleet.metrics === null ? null : new ToolHealth(diagnostics.tool, packageVersion());
  const metrics = health === null ? null : new MetricsAggregation(spec.metrics(), spec.metrics, health);
  const renderer = spec.renderer(await rowLayout(options, wallClockOffsetMs));
  const rows = rowsOf(options, spec, renderer, wallClockOffsetMs, diagnostics);
  // After the passes in the pipeline: a pass's snapshot goes out in the same read.
  const live = rows.open !== null && options.openSessions?.top === true ? await liveViewOnTerminal(rows.open, options.openSessions.intervalMs, diagnostics) : null;
  const consumers = [
    ...own,
    ...(metrics === null ? [] : [metrics]),
    ...(rows.consumer === null ? [] : [rows.consumer]),
    ...(rows.open === null ? [] : [rows.open]),
    ...(live === null ? [] : [live]),
  ];
  const pipeline = new Pipeline(consumers);
  const kernelConfig = inKernel(options, consumers, metrics);
  let server: Awaited<ReturnType<typeof openMetricsEndpoint>> = null;
  let exitCode: number;
  try {
    server = await openMetricsEndpoint(options.fleet.metrics, (format) => metrics!.current().render(format, (exposition) => health!.describe(exposition)), diagnostics);
    const { writeRow, warming, tick, renderEnd, onCounts, onKernelCounters, attached } = pipeline;
    const loop = { header: rows.header, maxRows: options.maxRows, durationMs: options.durationMs };
    // No events to warm the read path up for when the kernel aggregates.
    // On the main screen until the view's first interval comes.
    const notice = live !== null ? 'Tracing... Hit Ctrl-C to end. The view comes after one interval; q also ends it.' : spec.notice;
    const hooks = { writeRow, ...(kernelConfig === null ? { warming } : {}), tick, renderEnd, onCounts, onKernelCounters, attached, ...(notice === undefined ? {} : { notice }) };
    const stop = live === null ? {} : { stop: live.quit };
    exitCode = await runTracer({ config: kernelConfig ?? options.trace, diagnostics, ...loop, ...hooks, ...iteratorsOf(options, rows.open, diagnostics), ...stop }, deps);
  } catch (error) {
    pipeline.close(false);
    await server?.close();
    throw error;
  }
  await server?.close();
  pipeline.close(true);
  return exitCode;
}
