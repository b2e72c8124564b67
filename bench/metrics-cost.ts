// SPDX-License-Identifier: MIT
// What --metrics costs per event, and per scrape: the aggregation
// (TcpstatesMetrics.add, TcplifeMetrics.add) run over EventViews of real
// event bytes, as the tracing loop calls it, against the --summary
// aggregation for scale; then the render of a scrape. Pure CPU, no kernel:
//   node dist/bench/metrics-cost.js [events]
// (after npm run build). Run it under flock /tmp/kernel.lock on a shared machine.

import { EVENT_SIZE, EventView } from '../src/decode/event.js';
import { TcplifeMetrics, TcpstatesMetrics } from '../src/metrics/tcp-metrics.js';
import { TransitionSummary } from '../src/track/summary.js';
import { encodeEvent } from '../harness/encode-event.js';

/** The 10 transitions of a loopback connection (bench/loadgen.c), then 2 of a listener. */
const TRANSITIONS: readonly [number, number][] = [
  [7, 2], [2, 1], [10, 3], [3, 1], [1, 4], [1, 8], [8, 9], [4, 5], [5, 7], [9, 7], [7, 10], [10, 7],
];

function ring(count: number, sessions: boolean): DataView {
  const bytes = new Uint8Array(count * EVENT_SIZE);
  for (let i = 0; i < count; i++) {
    const [oldState, newState] = TRANSITIONS[i % TRANSITIONS.length]!;
    const one = encodeEvent({
      deltaNs: i % 7 === 0 ? 0n : BigInt(1000 + ((i * 7919) % 5_000_000)),
      family: i % 5 === 0 ? 10 : 2,
      oldState: sessions ? (i % 20 === 0 ? 2 : 1) : oldState,
      newState: sessions ? 7 : newState,
      skErr: sessions && i % 20 === 0 ? 111 : 0,
      flags: i % 2,
      txBytes: 1000n,
      rxBytes: 2000n,
    });
    bytes.set(new Uint8Array(one.buffer, 0, EVENT_SIZE), i * EVENT_SIZE);
  }
  return new DataView(bytes.buffer);
}

function nsPerEvent(view: DataView, count: number, passes: number, add: (event: EventView) => void): number {
  const cursor = new EventView();
  // Warm up the JIT.
  for (let offset = 0; offset < count * EVENT_SIZE; offset += EVENT_SIZE) add(cursor.at(view, offset));
  const start = process.hrtime.bigint();
  for (let pass = 0; pass < passes; pass++) {
    for (let offset = 0; offset < count * EVENT_SIZE; offset += EVENT_SIZE) add(cursor.at(view, offset));
  }
  return Number(process.hrtime.bigint() - start) / (count * passes);
}

function main(): void {
  const total = Number(process.argv[2] ?? 5_000_000);
  const count = 100_000;
  const passes = Math.max(1, Math.round(total / count));
  const transitions = ring(count, false);
  const sessions = ring(count, true);

  const states = new TcpstatesMetrics();
  const life = new TcplifeMetrics();
  const summary = new TransitionSummary();
  const baseline = nsPerEvent(transitions, count, passes, (event) => void (event.oldState + event.newState));
  const statesNs = nsPerEvent(transitions, count, passes, (event) => states.add(event));
  const lifeNs = nsPerEvent(sessions, count, passes, (event) => life.add(event));
  const summaryNs = nsPerEvent(transitions, count, passes, (event) => summary.add(event));

  const renders = 200;
  let start = process.hrtime.bigint();
  let bytes = 0;
  for (let i = 0; i < renders; i++) bytes = states.render(i % 2 === 0 ? 'prometheus' : 'openmetrics').length;
  const statesRenderUs = Number(process.hrtime.bigint() - start) / renders / 1000;
  start = process.hrtime.bigint();
  let lifeBytes = 0;
  for (let i = 0; i < renders; i++) lifeBytes = life.render('prometheus').length;
  const lifeRenderUs = Number(process.hrtime.bigint() - start) / renders / 1000;

  process.stdout.write(
    `metrics cost, ${count * passes} events per measurement (Node ${process.version})\n` +
      `  reading two fields through the EventView (baseline): ${baseline.toFixed(1)} ns/event\n` +
      `  tcpstates --metrics aggregation:                      ${statesNs.toFixed(1)} ns/event\n` +
      `  tcplife --metrics aggregation:                        ${lifeNs.toFixed(1)} ns/event\n` +
      `  tcpstates --summary aggregation (for scale):          ${summaryNs.toFixed(1)} ns/event\n` +
      `  scrape render: tcpstates ${statesRenderUs.toFixed(0)} us (${bytes} bytes, 12 transitions), ` +
      `tcplife ${lifeRenderUs.toFixed(0)} us (${lifeBytes} bytes)\n`,
  );
}

main();
