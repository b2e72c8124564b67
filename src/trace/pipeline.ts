// SPDX-License-Identifier: MIT
// What the tracer does with each event: a pipeline of consumers, each with
// one job (rows, the journal, the summary, the metrics). The tracer sees
// the pipeline only through its hooks (PipelineHooks): one row writer that
// every event goes through, the warm-up switch, a per-read tick, the counts
// and the text at exit.
//
// The warm-up: the tracer runs the read path over synthetic events before
// its first read (trace/warm-up.ts), through this pipeline's writeRow
// itself, because the JIT optimises functions, not code. Meanwhile each
// consumer is replaced by its throwaway twin (warmUpTwin): an object of the
// same class whose effects are dropped, so the same code runs; the row
// consumers are their own twins (the tracer drops the warm-up's rows) and
// reset what the rows remember after it (-t's first row).

import type { TraceSession } from '../bpf/loader.js';
import type { Aggregates } from '../decode/aggregates.js';
import type { KernelCounters } from '../decode/counters.js';
import type { EventView } from '../decode/event.js';
import type { ByteOutput } from '../format/output.js';
import type { RowWriter } from '../reader/render.js';

/** One job done with the events. Only `add` and `warmUpTwin` are required:
 * a non-row consumer (summary, metrics, a live view) appends nothing to
 * `out`; a timer-driven one (open sessions' periodic rows, a live view's
 * redraw) does its periodic work in `tick`. */
export interface Consumer {
  /** One event, in place in the ring (valid during the call only); a row
   * consumer appends its row and newline to `out`. */
  add(event: EventView, out: ByteOutput): void;
  /** What runs in its place during the warm-up: an object of the same class
   * whose effects are thrown away, itself when its only effect is the rows,
   * or null to sit the warm-up out (work too slow to warm up, such as
   * sending to journald). */
  warmUpTwin(): Consumer | null;
  /** After the warm-up: forget what the warm-up's rows left behind. */
  reset?(): void;
  /** Once per read of the rings (every READ_INTERVAL_MS, on a wakeup, and
   * the last read, `last`, after the detach), after its events: may append
   * rows to `out` (at most `maxRows`), which go out with the batch's one
   * write. Returns the rows. */
  tick?(out: ByteOutput, maxRows: number, last: boolean): number;
  /** The events read and lost so far, after each read and counter check. */
  counts?(events: number, lost: number): void;
  /** The kernel's counters and the samples too short to decode, at each
   * counter check (once a second and at exit), as stderr reports them. */
  kernelCounters?(counters: KernelCounters, undecodable: number): void;
  /** At exit, after the last read: text for stdout (a summary table). */
  end?(): string;
  /** After the tracer stopped; `ok`: it stopped cleanly (say the totals). */
  close?(ok: boolean): void;
  /** Once loaded: how to read the kernel's aggregate maps (null when the
   * program aggregates nothing), for a consumer fed from them instead of
   * from events (in-kernel aggregation, bpf/aggregate.h). */
  fromKernel?(read: () => Aggregates | null): void;
}

/** What the tracer calls; a Pipeline provides them, tests may give their own. */
export interface PipelineHooks {
  /** Appends one event's row(s) to `out`. `event` looks at the ring in
   * place: it is only valid during the call. */
  readonly writeRow: RowWriter;
  /** Around the warm-up: on (twins in), then off (the live consumers back,
   * reset). Omitted: no warm-up. */
  readonly warming?: (on: boolean) => void;
  /** See Consumer.tick. */
  readonly tick?: (out: ByteOutput, maxRows: number, last: boolean) => number;
  /** Rendered at exit after the last batch and written to stdout. */
  readonly renderEnd?: () => string;
  /** Told the events read and lost so far (as the final line counts them). */
  readonly onCounts?: (events: number, lost: number) => void;
  /** Told the session once it is loaded and attached. */
  readonly attached?: (session: TraceSession) => void;
  /** See Consumer.kernelCounters. */
  readonly onKernelCounters?: (counters: KernelCounters, undecodable: number) => void;
}

export class Pipeline implements PipelineHooks {
  private active: readonly Consumer[];
  private readonly tickers: readonly Consumer[];

  constructor(private readonly consumers: readonly Consumer[]) {
    this.active = consumers;
    this.tickers = consumers.filter((consumer) => consumer.tick !== undefined);
  }

  /** The one row writer: the same function before, during and after the warm-up. */
  readonly writeRow: RowWriter = (out, event) => {
    const consumers = this.active;
    for (let i = 0; i < consumers.length; i++) (consumers[i] as Consumer).add(event, out);
  };

  readonly warming = (on: boolean): void => {
    if (on) {
      this.active = this.consumers.map((consumer) => consumer.warmUpTwin()).filter((twin): twin is Consumer => twin !== null);
      return;
    }
    this.active = this.consumers;
    for (const consumer of this.consumers) consumer.reset?.();
  };

  readonly tick = (out: ByteOutput, maxRows: number, last: boolean): number => {
    let rows = 0;
    for (const consumer of this.tickers) rows += consumer.tick!(out, maxRows - rows, last);
    return rows;
  };

  readonly onCounts = (events: number, lost: number): void => {
    for (const consumer of this.consumers) consumer.counts?.(events, lost);
  };

  readonly attached = (session: TraceSession): void => {
    const read = (): Aggregates | null => session.readAggregates?.() ?? null;
    for (const consumer of this.consumers) consumer.fromKernel?.(read);
  };

  readonly onKernelCounters = (counters: KernelCounters, undecodable: number): void => {
    for (const consumer of this.consumers) consumer.kernelCounters?.(counters, undecodable);
  };

  readonly renderEnd = (): string => this.consumers.map((consumer) => consumer.end?.() ?? '').join('');

  close(ok: boolean): void {
    for (const consumer of this.consumers) consumer.close?.(ok);
  }
}
