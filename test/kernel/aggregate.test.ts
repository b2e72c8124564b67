// SPDX-License-Identifier: MIT
// In-kernel aggregation (bpf/aggregate.h) gives exactly what the per-event
// path gives. One program both emits its records and adds them up in its
// maps, over a load in a namespace of the test's own: the records go
// through the per-event path (TcpstatesMetrics, TransitionSummary,
// TcplifeMetrics, fed as the tools feed them), the maps are read as the
// tools read them at scrape and at exit, and every series and every
// summary line must be the same, durations and their sums included (the
// same ns from the same runs). Then the tools themselves: --metrics alone
// (no records) beside --metrics --json (records) and --summary beside
// --summary --count (records) on the same load count the same.

import { strict as assert } from 'node:assert';
import { test, type TestContext } from 'node:test';
import type { SizedTraceConfig, AggregateConfig, TraceMode } from '../../src/bpf/config.js';
import { openTrace, type TraceSession } from '../../src/bpf/loader.js';
import type { Aggregates } from '../../src/decode/aggregates.js';
import { EVENT_SIZE, EventView, TRANSITION_EVENT_SIZE } from '../../src/decode/event.js';
import { bindLibbpf } from '../../src/ffi/libbpf.js';
import { ByteOutput } from '../../src/format/output.js';
import { renderStateHistograms, renderSummaryTable, stateHistogramJson, transitionSummaryJson } from '../../src/format/summary.js';
import { TcplifeMetrics, TcpstatesMetrics } from '../../src/metrics/tcp-metrics.js';
import { EventBatch } from '../../src/reader/batch.js';
import { renderBatch, type RowWriter } from '../../src/reader/render.js';
import { TransitionSummary } from '../../src/track/summary.js';
import { SUMMARY_NOTICE } from '../../src/cli/tcpstates.js';
import { createNetns, dropSyns, type TestNetns } from '../../harness/namespaces.js';
import { runLoad } from '../../harness/peers.js';
import { jsonRows } from '../../harness/rows.js';
import { PROMPTLY_MS, requireRoot, sleep } from '../../harness/system.js';
import { TracerProcess } from '../../harness/tracer-process.js';

requireRoot();

/** Sessions held 0 to 300 ms (durations across many buckets), both
 * families, refused and timed-out connects, a reset. */
const LOAD = [
  ...['0', '1', '5', '30', '300'].flatMap((holdMs) => ['sessions', '4', holdMs, '1500', '127.0.0.1']),
  ...['sessions', '3', '2', '70000', '::1'],
  'refused',
  'refused',
  'reset',
  'timeout',
  '9',
];

async function runTestLoad(netns: TestNetns): Promise<void> {
  dropSyns(netns, 9);
  await runLoad(LOAD, { netns });
}

function traceConfig(mode: TraceMode, netns: TestNetns, aggregate: AggregateConfig): SizedTraceConfig {
  return { mode, localPorts: null, remotePorts: null, family: 0, pids: null, netnsIno: netns.ino, cgroup: null, bufferPages: 256, aggregate };
}

/** Detaches, then reads every record left in the rings through `writeRow`; returns how many. */
function drain(session: TraceSession, recordSize: number, writeRow: RowWriter): number {
  session.detach();
  const sink = new EventBatch(recordSize);
  const out = new ByteOutput(1 << 16);
  const cursor = new EventView();
  let events = 0;
  do {
    out.clear();
    renderBatch(session.reader, sink, out, cursor, writeRow, Number.MAX_SAFE_INTEGER, 256 << 10);
    events += sink.count;
  } while (session.reader.truncated);
  assert.equal(sink.lostInRings, 0, 'no record lost');
  return events;
}

/**
 * One program that both emits and aggregates, over the test load in a
 * namespace of its own: every record through `writeRow`, then the maps.
 * Nothing may be lost on either path.
 */
async function traceBothPaths(
  t: TestContext,
  mode: TraceMode,
  aggregate: AggregateConfig,
  writeRow: RowWriter,
): Promise<{ events: number; aggregated: number; aggregates: Aggregates }> {
  const netns = createNetns(`agg${mode[0]}`);
  t.after(netns.remove);
  const session = openTrace(bindLibbpf(), traceConfig(mode, netns, aggregate));
  t.after(() => session.close());
  await runTestLoad(netns);
  const events = drain(session, mode === 'sessions' ? EVENT_SIZE : TRANSITION_EVENT_SIZE, writeRow);
  const counters = session.readCounters();
  assert.equal(counters.outputFailed, 0);
  assert.equal(counters.aggregateFailed, 0);
  const aggregates = session.readAggregates!();
  assert.ok(aggregates !== null);
  return { events, aggregated: counters.aggregated, aggregates };
}

test('tcpstates: the maps give every --metrics series and every --summary line the records give', { timeout: 60_000 }, async (t) => {
  const perEvent = new TcpstatesMetrics();
  const perEventSummary = new TransitionSummary();
  const { events, aggregated, aggregates } = await traceBothPaths(t, 'transitions', { metrics: true, summary: true, records: true }, (_out, event) => {
    perEvent.add(event);
    perEventSummary.add(event);
  });
  // 23 connections of 10 transitions and 6 listeners of 2; the reset: 6 and its listener's 2;
  // 2 refused and 1 timed-out connect of 2.
  assert.equal(events, 23 * 10 + 6 * 2 + 8 + 3 * 2);
  assert.equal(aggregated, events);

  const inKernel = new TcpstatesMetrics();
  inKernel.load(aggregates);
  perEvent.counts.events = events;
  assert.equal(inKernel.counts.events, events);
  for (const format of ['prometheus', 'openmetrics'] as const) assert.equal(inKernel.render(format), perEvent.render(format), format);
  // Not vacuous: timed transitions in several buckets, with sums.
  const rendered = inKernel.render('prometheus');
  assert.match(rendered, /tcpstates_state_duration_seconds_bucket\{old_state="established",new_state="fin_wait1",le="0\.5"\} 23\n/);
  assert.match(rendered, /tcpstates_state_duration_seconds_sum\{old_state="established",new_state="fin_wait1"\} 1\.\d+\n/);
  assert.match(rendered, /tcpstates_transitions_total\{old_state="syn_sent",new_state="close",family="ipv4"\} 3\n/);
  assert.match(rendered, /family="ipv6"\} 3\n/);

  const inKernelSummary = new TransitionSummary();
  inKernelSummary.load(aggregates);
  assert.equal(inKernelSummary.count, perEventSummary.count);
  assert.deepEqual(inKernelSummary.byTransition(), perEventSummary.byTransition());
  assert.deepEqual(inKernelSummary.byOldState(), perEventSummary.byOldState());
  assert.equal(renderSummaryTable(inKernelSummary.byTransition()), renderSummaryTable(perEventSummary.byTransition()));
  assert.equal(renderStateHistograms(inKernelSummary.byOldState()), renderStateHistograms(perEventSummary.byOldState()));
  assert.deepEqual(inKernelSummary.byTransition().map(transitionSummaryJson), perEventSummary.byTransition().map(transitionSummaryJson));
  assert.deepEqual(inKernelSummary.byOldState().map(stateHistogramJson), perEventSummary.byOldState().map(stateHistogramJson));
  const established = perEventSummary.byTransition().find((stats) => stats.oldState === 1 && stats.newState === 4);
  assert.ok(established !== undefined && established.durations.count === 23 && (established.durations.max ?? 0) >= 300_000);
});

test('tcplife: the maps give every --metrics series the records give', { timeout: 60_000 }, async (t) => {
  const perEvent = new TcplifeMetrics();
  const { events, aggregated, aggregates } = await traceBothPaths(t, 'sessions', { metrics: true, summary: false, records: true }, (_out, event) =>
    perEvent.add(event),
  );
  // 24 connections (the reset's too) of 2 sessions, 3 failed connects.
  assert.equal(events, 24 * 2 + 3);
  assert.equal(aggregated, events);

  const inKernel = new TcplifeMetrics();
  inKernel.load(aggregates);
  for (const format of ['prometheus', 'openmetrics'] as const) assert.equal(inKernel.render(format), perEvent.render(format), format);
  const rendered = inKernel.render('prometheus');
  assert.match(rendered, /tcplife_connect_failures_total\{reason="econnrefused"\} 2\n/);
  assert.match(rendered, /tcplife_connect_failures_total\{reason="etimedout"\} 1\n/);
  assert.match(rendered, /tcplife_received_bytes_total\{family="ipv6",role="server"\} 2100\d\d\n/);
  assert.match(rendered, /tcplife_session_duration_seconds_count\{family="ipv4",role="server"\} 21\n/);
});

/** The scrape's samples whose value does not depend on when the program ran:
 * counts, bytes, failures and histogram counts (not buckets nor sums: two
 * programs time one transition a few ns apart), and the tool's health but
 * its own process's (process_*: each tool's CPU, memory, fds) and its
 * endpoint's (*_metrics_*: how often this test scraped it). */
function timeFreeSamples(body: string): string[] {
  return body
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('process_') && !/_bucket\{|_sum\{|_events_total |^\w+?_metrics_/.test(line))
    .sort();
}

async function scrape(tool: TracerProcess): Promise<string> {
  return (await fetch(`http://127.0.0.1:${tool.metricsPort}/metrics`)).text();
}

/** Scrapes `tool` until its body matches `pattern`: a per-event tool counts
 * the load's last records at its next read of the rings, which a busy
 * machine can delay for longer than any fixed pause. */
async function scrapeUntil(tool: TracerProcess, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + PROMPTLY_MS;
  for (let body = await scrape(tool); !pattern.test(body); body = await scrape(tool)) {
    if (Date.now() > deadline) assert.fail(`no ${pattern} within ${PROMPTLY_MS} ms: ${body}`);
    await sleep(20);
  }
}

test('the tools: --metrics alone (aggregated in the kernel) counts what --metrics --json counts, and says nothing was lost', { timeout: 90_000 }, async (t) => {
  const netns = createNetns('aggc');
  t.after(netns.remove);
  const tools: TracerProcess[] = [];
  t.after(async () => {
    for (const tool of tools) await tool.stop();
  });
  const start = async (tool: 'tcpstates' | 'tcplife', args: string[]): Promise<TracerProcess> => {
    const started = await TracerProcess.attach(tool, ['--metrics', '0', '-N', netns.path, ...args]);
    tools.push(started);
    return started;
  };
  const states = await start('tcpstates', []);
  const statesRows = await start('tcpstates', ['--json']);
  const life = await start('tcplife', []);
  const lifeRows = await start('tcplife', ['--json']);
  await runTestLoad(netns);
  await scrapeUntil(statesRows, /\ntcpstates_events_total 256\n/);
  await scrapeUntil(lifeRows, /\ntcplife_events_total 51\n/);

  const [statesBody, statesRowsBody, lifeBody, lifeRowsBody] = await Promise.all([states, statesRows, life, lifeRows].map(scrape));
  assert.deepEqual(timeFreeSamples(statesBody!), timeFreeSamples(statesRowsBody!));
  assert.deepEqual(timeFreeSamples(lifeBody!), timeFreeSamples(lifeRowsBody!));
  assert.match(statesBody!, /\ntcpstates_events_total 256\n/);
  assert.match(lifeBody!, /tcplife_sessions_total\{family="ipv4",role="client"\} 24\n/);

  for (const tool of tools.splice(0)) assert.equal((await tool.stop()).code, 0);
  assert.equal(jsonRows(statesRows.stdoutLines).length, 256);
  assert.deepEqual(states.stdoutLines.filter((line) => line !== ''), []);
  assert.equal(states.stderrLines.at(-1), 'tcpstates: 256 events read, 0 lost');
  assert.equal(life.stderrLines.at(-1), 'tcplife: 51 events read, 0 lost');
});

test('the tools: --summary (aggregated in the kernel) counts what --summary --count (records) counts', { timeout: 90_000 }, async (t) => {
  const netns = createNetns('aggs');
  t.after(netns.remove);
  const tools: TracerProcess[] = [];
  t.after(async () => {
    for (const tool of tools) await tool.stop();
  });
  for (const args of [[], ['--count', '1000000']]) {
    const tool = TracerProcess.start(['--summary', '--histogram', '--json', '-N', netns.path, ...args]);
    tools.push(tool);
    await tool.waitForStderr((line) => line.includes(SUMMARY_NOTICE), 'the start notice');
  }
  await runTestLoad(netns);
  await sleep(200);
  const [inKernel, perEvent] = tools.splice(0);
  for (const tool of [inKernel!, perEvent!]) assert.equal((await tool.stop()).code, 0);
  const counts = (tool: TracerProcess): unknown[] =>
    jsonRows(tool.stdoutLines).map((row) =>
      row['type'] === 'transition' ? [row['oldstate'], row['newstate'], row['count'], row['first_seen']] : [row['state'], (row['buckets'] as { count: number }[]).reduce((n, b) => n + b.count, 0)],
    );
  assert.deepEqual(counts(inKernel!), counts(perEvent!));
  assert.equal(counts(inKernel!).length > 10, true);
  assert.equal((JSON.parse(inKernel!.stderrLines.at(-1)!) as { message: string }).message, '256 events read, 0 lost');
});
