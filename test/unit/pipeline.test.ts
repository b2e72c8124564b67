// SPDX-License-Identifier: MIT
// The trace pipeline (trace/pipeline.ts, trace/consumers.ts): every event
// through each consumer in order, through one row writer; during the
// warm-up the twins take the events (an aggregate of its own, dropped; the
// journal sits out; rows are their own twin) and the live consumers are
// reset after it; a timer-driven consumer's tick rows; counts and the text
// at exit.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { EventView } from '../../src/decode/event.js';
import { ByteOutput } from '../../src/format/output.js';
import { Aggregation, MetricsAggregation } from '../../src/trace/consumers.js';
import { Pipeline, type Consumer } from '../../src/trace/pipeline.js';
import { encodeEvent } from '../../harness/events.js';

class Count {
  added = 0;
  readonly counts = { events: 0, lost: 0 };
  add(): void {
    this.added++;
  }
}

/** A row consumer writing the event's local port; counts its resets. */
class PortRows implements Consumer {
  resets = 0;
  add(event: EventView, out: ByteOutput): void {
    out.text(`${event.localPort}\n`);
  }
  warmUpTwin(): Consumer {
    return this;
  }
  reset(): void {
    this.resets++;
  }
}

/** Sits the warm-up out, as the journal does. */
class Sender implements Consumer {
  sent = 0;
  closed: boolean | null = null;
  add(): void {
    this.sent++;
  }
  warmUpTwin(): null {
    return null;
  }
  close(ok: boolean): void {
    this.closed = ok;
  }
}

/** A timer-driven consumer: one row per tick, while --count allows. */
class Ticker implements Consumer {
  add(): void {}
  warmUpTwin(): Consumer {
    return this;
  }
  tick(out: ByteOutput, maxRows: number): number {
    if (maxRows < 1) return 0;
    out.text('tick\n');
    return 1;
  }
}

function event(localPort: number): EventView {
  return new EventView().at(encodeEvent({ sport: localPort }), 0);
}

test('each event goes through every consumer in order; the warm-up goes to the twins, then the live ones are reset', () => {
  const summary = new Aggregation(new Count(), () => new Count(), (count) => `${count.added} added\n`);
  const metrics = new MetricsAggregation(new Count(), () => new Count());
  const sender = new Sender();
  const rows = new PortRows();
  const pipeline = new Pipeline([sender, summary, metrics, rows]);
  const out = new ByteOutput(64);
  const writeRow = pipeline.writeRow;
  pipeline.warming(true);
  for (let i = 0; i < 5; i++) writeRow(out, event(1000 + i));
  pipeline.warming(false);
  assert.equal(pipeline.writeRow, writeRow, 'one row writer, before and after the warm-up');
  assert.equal(sender.sent, 0, 'the journal sat the warm-up out');
  assert.equal(summary.aggregate.added + metrics.aggregate.added, 0, 'the twins took the warm-up');
  assert.equal(rows.resets, 1);
  out.clear();
  writeRow(out, event(80));
  writeRow(out, event(443));
  assert.equal(out.toString(), '80\n443\n');
  assert.equal(sender.sent, 2);
  assert.equal(summary.aggregate.added, 2);
  pipeline.onCounts(7, 1);
  assert.deepEqual(metrics.aggregate.counts, { events: 7, lost: 1 });
  assert.equal(pipeline.renderEnd(), '2 added\n');
  pipeline.close(true);
  assert.equal(sender.closed, true);
});

test('a timer-driven consumer appends its rows on each tick, within the rows left', () => {
  const pipeline = new Pipeline([new PortRows(), new Ticker(), new Ticker()]);
  const out = new ByteOutput(64);
  assert.equal(pipeline.tick(out, 5, false), 2);
  assert.equal(out.toString(), 'tick\ntick\n');
  out.clear();
  assert.equal(pipeline.tick(out, 1, false), 1, 'the second ticker finds no row left');
  assert.equal(new Pipeline([new PortRows()]).tick(out, 5, false), 0, 'no ticker, no rows');
});
