// SPDX-License-Identifier: MIT
// The in-kernel aggregates' decoding (pure): per-CPU values summed over CPUs
// and writers, extremes combined, and the metrics and summary loaded from
// them render what the per-event path renders for the same durations.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AGG_SESSION_LAYOUT,
  AGG_SESSION_SIZE,
  AGG_TRANSITION_LAYOUT,
  AGG_TRANSITION_SIZE,
  AGGREGATE_LIMITS,
  SessionAccumulator,
  TransitionAccumulator,
  type Aggregates,
} from '../../src/decode/aggregates.js';
import type { TcpInfo } from '../../src/decode/tcp-info.js';
import { parseTcplifeArgs } from '../../src/cli/tcplife.js';
import { inKernel } from '../../src/cli/tool.js';
import { MetricsAggregation } from '../../src/trace/consumers.js';
import { FixedHistogram, BUCKET_BOUNDS_NS } from '../../src/metrics/exposition.js';
import { TcplifeMetrics, TcpstatesMetrics } from '../../src/metrics/tcp-metrics.js';
import { bucketIndex, TransitionSummary } from '../../src/track/summary.js';

/** A per-CPU value: `cpus` copies of `size` bytes, with `words` (offset -> value per CPU). */
function perCpu(size: number, cpus: number, words: Record<number, readonly bigint[]>): DataView {
  const view = new DataView(new ArrayBuffer(size * cpus));
  for (const [offset, values] of Object.entries(words)) values.forEach((value, cpu) => view.setBigUint64(cpu * size + Number(offset), value, true));
  return view;
}

/** The metrics' bucket of `ns`, as the kernel's duration_bucket() picks it. */
function durationBucket(ns: number): number {
  const index = BUCKET_BOUNDS_NS.findIndex((bound) => ns <= bound);
  return index < 0 ? BUCKET_BOUNDS_NS.length : index;
}

test('a transition cell: counts summed over CPUs and writers, the least and greatest µs over both', () => {
  const L = AGG_TRANSITION_LAYOUT;
  const sum = new TransitionAccumulator();
  sum.add(perCpu(AGG_TRANSITION_SIZE, 2, { [L.by_family]: [3n, 4n], [L.first_seen]: [1n, 0n], [L.sum_ns]: [5n, 2n ** 60n], [L.min_us_plus1]: [0n, 8n], [L.max_us]: [0n, 9n] }), 2);
  sum.add(perCpu(AGG_TRANSITION_SIZE, 2, { [L.by_family + 8]: [1n, 0n], [L.min_us_plus1]: [3n, 0n], [L.max_us]: [2n, 0n] }), 2);
  const totals = sum.totals(1 * AGGREGATE_LIMITS.AGG_STATES + 4, new Map([[7, 2]]))!;
  assert.deepEqual([totals.oldState, totals.newState, totals.byFamily, totals.firstSeen], [1, 4, [7, 1], 1]);
  assert.equal(totals.durations.sumNs, 2n ** 60n + 5n);
  assert.deepEqual([totals.minUs, totals.maxUs], [2, 9]);
  assert.equal(new TransitionAccumulator().totals(0, null), null, 'no transition: no cell');
});

test('a session cell sums over CPUs', () => {
  const L = AGG_SESSION_LAYOUT;
  const sum = new SessionAccumulator();
  sum.add(
    perCpu(AGG_SESSION_SIZE, 3, {
      [L.sessions]: [1n, 2n, 3n],
      [L.sent_bytes]: [10n, 0n, 5n],
      [L.received_bytes]: [0n, 0n, 7n],
      [L.retransmitted_segments]: [0n, 4n, 1n],
      [L.rtt_buckets + 8]: [1n, 0n, 1n],
      [L.rtt_sum_ns]: [3_000n, 0n, 2n ** 60n],
    }),
    3,
  );
  const totals = sum.totals(3);
  assert.deepEqual({ ...totals, durations: null, rtts: null }, { family: 'ipv6', passive: true, sessions: 6, sentBytes: 15, receivedBytes: 7, retransmittedSegments: 5, durations: null, rtts: null });
  assert.equal(totals.rtts.buckets[1], 2);
  assert.equal(totals.rtts.sumNs, 2n ** 60n + 3_000n);
});

// Durations across the buckets, some past 2^53 ns summed (a double sum would round).
const DURATIONS_NS = [1, 9_999, 10_000, 10_001, 999_999_999, 1_000_000_000, 3_599_999_999_999, 3_600_000_000_001, 2 ** 52, 2 ** 52 + 1, 123_456_789_012];

function kernelHistogram(durations: readonly number[]): { buckets: number[]; sumNs: bigint } {
  const buckets = new Array<number>(BUCKET_BOUNDS_NS.length + 1).fill(0);
  for (const ns of durations) buckets[durationBucket(ns)]!++;
  return { buckets, sumNs: durations.reduce((total, ns) => total + BigInt(ns), 0n) };
}

test('FixedHistogram: the kernel\'s counts and whole-ns sum give what the observations give, to the last digit', () => {
  const observed = new FixedHistogram();
  for (const ns of DURATIONS_NS) observed.observeNs(ns);
  const loaded = new FixedHistogram();
  const { buckets, sumNs } = kernelHistogram(DURATIONS_NS);
  loaded.addTotals(buckets, sumNs);
  assert.deepEqual(loaded, observed);
});

test('metrics and summary loaded from aggregates render what the same events render', () => {
  const perEvent = new TcpstatesMetrics();
  const summary = new TransitionSummary();
  for (const deltaNs of [0, ...DURATIONS_NS]) {
    const event = { oldState: 1, newState: 4, family: 10, deltaNs };
    perEvent.add(event);
    summary.add(event);
  }
  const timed = DURATIONS_NS.map((ns) => Math.floor(ns / 1000));
  const summaryBuckets = new Map<number, number>();
  for (const us of timed) summaryBuckets.set(bucketIndex(us), (summaryBuckets.get(bucketIndex(us)) ?? 0) + 1);
  const aggregates: Aggregates = {
    transitions: [
      { oldState: 1, newState: 4, byFamily: [0, DURATIONS_NS.length + 1], firstSeen: 1, durations: kernelHistogram(DURATIONS_NS), minUs: Math.min(...timed), maxUs: Math.max(...timed), summaryBuckets },
    ],
    sessions: [],
    failures: new Map(),
  };
  const loaded = new TcpstatesMetrics();
  loaded.load(aggregates);
  perEvent.counts.events = DURATIONS_NS.length + 1;
  assert.equal(loaded.render('prometheus'), perEvent.render('prometheus'));
  const loadedSummary = new TransitionSummary();
  loadedSummary.load(aggregates);
  assert.deepEqual(loadedSummary.byTransition(), summary.byTransition());
});

test('tcplife metrics loaded from aggregates: sessions, bytes, retransmits, RTTs, failures by errno', () => {
  const tcpInfo = (srttUs: number, totalRetrans: number): TcpInfo => ({ srttUs, totalRetrans, segsIn: 1, segsOut: 1, totalRto: null });
  const perEvent = new TcplifeMetrics();
  const events = [
    { family: 2, flags: 0, txBytes: 100, rxBytes: 5, deltaNs: 2_000_000, oldState: 2, skErr: 111, tcpInfo: tcpInfo(0, 3) },
    { family: 2, flags: 0, txBytes: 0, rxBytes: 0, deltaNs: 3, oldState: 2, skErr: 0, tcpInfo: tcpInfo(0, 0) },
    { family: 10, flags: 1, txBytes: 7, rxBytes: 9, deltaNs: 2 ** 53 - 1, oldState: 9, skErr: 0, tcpInfo: tcpInfo(41, 2) },
  ];
  for (const event of events) perEvent.add(event);
  const cell = (family: 'ipv4' | 'ipv6', passive: boolean, chosen: typeof events) => ({
    family,
    passive,
    sessions: chosen.length,
    sentBytes: chosen.reduce((n, e) => n + e.txBytes, 0),
    receivedBytes: chosen.reduce((n, e) => n + e.rxBytes, 0),
    durations: kernelHistogram(chosen.map((e) => e.deltaNs)),
    retransmittedSegments: chosen.reduce((n, e) => n + e.tcpInfo.totalRetrans, 0),
    // As the kernel: sessions without an RTT sample (srtt 0) left out.
    rtts: kernelHistogram(chosen.filter((e) => e.tcpInfo.srttUs > 0).map((e) => e.tcpInfo.srttUs * 1000)),
  });
  const loaded = new TcplifeMetrics();
  loaded.load({
    transitions: [],
    sessions: [cell('ipv4', false, events.slice(0, 2)), cell('ipv4', true, []), cell('ipv6', false, []), cell('ipv6', true, events.slice(2))],
    failures: new Map([[111, 1], [0, 1]]),
  });
  assert.equal(loaded.render('openmetrics'), perEvent.render('openmetrics'));
});

test('tcplife --metrics aggregates in the kernel only without --existing and --interval (their iterators and rows need the records)', () => {
  const decide = (argv: readonly string[]) => {
    const parsed = parseTcplifeArgs(argv);
    assert.equal(parsed.kind, 'run', argv.join(' '));
    if (parsed.kind !== 'run') return null;
    const metrics = new MetricsAggregation(new TcplifeMetrics(), () => new TcplifeMetrics());
    return inKernel(parsed.options, [metrics], metrics)?.aggregate ?? null;
  };
  assert.deepEqual(decide(['--metrics', '0']), { metrics: true, summary: false, records: false });
  for (const argv of [['--metrics', '0', '--existing'], ['--metrics', '0', '--interval', '1'], ['--metrics', '0', '--count', '3']]) {
    assert.equal(decide(argv), null, argv.join(' '));
  }
});
