// SPDX-License-Identifier: MIT
// The consumers of the trace pipeline (trace/pipeline.ts): rows (text/CSV
// through the compiled row writer, or JSON), the systemd journal, the
// --summary aggregation and the --metrics aggregation.

import type { EventView, TcpEvent } from '../decode/event.js';
import type { RowRenderer } from '../format/columns.js';
import { appendContainerColumns } from '../format/container-columns.js';
import type { CgroupPathOf } from '../format/json.js';
import type { ByteOutput } from '../format/output.js';
import type { Diagnostics } from '../io/diagnostics.js';
import type { JournalWriter } from '../io/journal.js';
import type { KernelCounters } from '../decode/counters.js';
import type { EventCounts } from '../metrics/tcp-metrics.js';
import type { Aggregates } from '../decode/aggregates.js';
import type { ToolHealth } from '../metrics/tool-health.js';
import type { Consumer } from './pipeline.js';
import { jsonText } from '../quote.js';

/** Text or CSV rows, bcc's byte for byte; with --container, NETNS and
 * CGROUP after them. Its own warm-up twin: the tracer drops those rows. */
export class TextRows implements Consumer {
  constructor(
    private readonly renderer: RowRenderer<TcpEvent, EventView>,
    /** --container: the cgroup paths; null without it. */
    private readonly container: { readonly cgroupPathOf: CgroupPathOf; readonly csv: boolean } | null,
  ) {}

  add(event: EventView, out: ByteOutput): void {
    this.renderer.writeLine(out, event);
    const container = this.container;
    if (container !== null) appendContainerColumns(out, event.netnsIno, event.cgroupId, container.cgroupPathOf, container.csv);
  }

  warmUpTwin(): Consumer {
    return this;
  }

  reset(): void {
    this.renderer.reset();
  }
}

/** --json rows: one object per line. */
export class JsonRows implements Consumer {
  constructor(
    private readonly toJson: (event: TcpEvent, wallClockOffsetMs: number, cgroupPathOf: CgroupPathOf) => object,
    private readonly wallClockOffsetMs: number,
    private readonly cgroupPathOf: CgroupPathOf,
  ) {}

  add(event: EventView, out: ByteOutput): void {
    out.text(`${jsonText(this.toJson(event, this.wallClockOffsetMs, this.cgroupPathOf))}\n`);
  }

  warmUpTwin(): Consumer {
    return this;
  }
}

/** -Y: each event as a journal entry. Sits the warm-up out: sending is a
 * system call per event, and nothing of it may reach journald. */
export class JournalEntries implements Consumer {
  constructor(
    private readonly writer: JournalWriter,
    private readonly encode: (event: EventView) => Uint8Array,
    private readonly diagnostics: Diagnostics,
  ) {}

  add(event: EventView): void {
    this.writer.send(this.encode(event));
  }

  warmUpTwin(): null {
    return null;
  }

  /** Gives journald the backlog and, after a clean stop, says the totals. */
  close(ok: boolean): void {
    if (!ok) {
      this.writer.close(0);
      return;
    }
    const stats = this.writer.close();
    this.diagnostics.notice(`journal: ${stats.sent} entries sent, ${stats.notDelivered} not delivered`, {
      journal_sent: stats.sent,
      journal_not_delivered: stats.notDelivered,
    });
  }
}

/** An aggregate of events (the --summary table, the --metrics families),
 * which can also take the kernel's aggregates of the same events instead. */
export interface Aggregate {
  add(event: EventView): void;
  /** Replaces what was added with the kernel's aggregates; omitted: it cannot be fed from the kernel. */
  load?(aggregates: Aggregates): void;
}

/** Adds every event to an aggregate; its warm-up twin adds them to a fresh
 * one of the same class, which is then dropped. `end` renders it at exit.
 * When the kernel aggregates (no events come), it is loaded from the
 * kernel's maps instead, whenever it is looked at (current()). */
export class Aggregation<A extends Aggregate> implements Consumer {
  private readKernel: (() => Aggregates | null) | null = null;

  constructor(
    readonly aggregate: A,
    private readonly fresh: () => A,
    private readonly render?: (aggregate: A) => string,
  ) {}

  add(event: EventView): void {
    this.aggregate.add(event);
  }

  warmUpTwin(): Consumer {
    return new Aggregation(this.fresh(), this.fresh);
  }

  fromKernel(read: () => Aggregates | null): void {
    this.readKernel = read;
  }

  /** The aggregate as of now: reloaded from the kernel's maps if it keeps them. */
  current(): A {
    const aggregates = this.readKernel?.() ?? null;
    if (aggregates !== null) this.aggregate.load?.(aggregates);
    return this.aggregate;
  }

  end(): string {
    return this.render === undefined ? '' : this.render(this.current());
  }
}

/** --metrics: the aggregate, the counts of events read and lost, and the
 * tool's health (its misses) from the kernel's counters. */
export class MetricsAggregation<A extends Aggregate & { readonly counts: EventCounts }> extends Aggregation<A> {
  constructor(
    aggregate: A,
    fresh: () => A,
    private readonly health?: ToolHealth,
  ) {
    super(aggregate, fresh);
  }

  counts(events: number, lost: number): void {
    this.aggregate.counts.events = events;
    this.aggregate.counts.lost = lost;
  }

  kernelCounters(counters: KernelCounters, undecodable: number): void {
    this.health?.update(counters, undecodable);
  }
}
