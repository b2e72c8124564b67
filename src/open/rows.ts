// SPDX-License-Identifier: MIT
// tcplife --interval: the open sessions as a pipeline consumer
// (trace/pipeline.ts). Every interval, on the tracer's read tick, a pass
// over the open sessions (open/pass.ts) gives one OPEN row per session that
// moved bytes (all of them with --all); at the last read, one for every
// session still open, so that a trace's totals add up. The close rows stay
// the rows consumer's. Each pass is also a snapshot for a live view
// (OpenSessionsSource).

import type { EventView, TcpEvent } from '../decode/event.js';
import { TCP_CLOSE } from '../decode/tcp-states.js';
import type { RowRenderer } from '../format/columns.js';
import { appendContainerColumns } from '../format/container-columns.js';
import { openSessionJson, type CgroupPathOf } from '../format/json.js';
import type { ByteOutput } from '../format/output.js';
import type { Consumer } from '../trace/pipeline.js';
import { openSessionEvent, type OpenSessionPasses, type PassSnapshot } from './pass.js';
import type { OpenSessionsSnapshot, OpenSessionsSource } from '../decode/open-session.js';
import { jsonText } from '../quote.js';

export interface OpenSessionRowsOptions {
  readonly intervalMs: number;
  /** --all: every open session each interval, not only those that moved. */
  readonly all: boolean;
  /** Rows: text/CSV through the tool's renderer (with its TYPE column; with
   * --container, `csv` says how its columns go), JSON, or none (a live view). */
  readonly rows: { readonly renderer: RowRenderer<TcpEvent, EventView>; readonly container: { readonly csv: boolean } | null } | { readonly json: true } | null;
  readonly wallClockOffsetMs: number;
  readonly cgroupPathOf: CgroupPathOf;
  /** Milliseconds on a monotonic clock (the tracer's). */
  readonly now: () => number;
}

export class OpenSessionRows implements Consumer, OpenSessionsSource {
  private passes: OpenSessionPasses | null = null;
  private lastPassMs = Number.NaN;
  private closedInInterval = 0;
  private lost = 0;
  private readonly listeners: ((snapshot: OpenSessionsSnapshot) => void)[] = [];
  /** Told each pass's namespaces it could not enter (tool.ts says them on stderr). */
  sayUnreachable: ((unreachable: PassSnapshot['unreachable']) => void) | null = null;

  constructor(private readonly options: OpenSessionRowsOptions) {}

  /** Once loaded and attached (trace/run.ts): where the passes come from. */
  bind(passes: OpenSessionPasses): void {
    this.passes = passes;
    this.lastPassMs = this.options.now();
  }

  onSnapshot(listener: (snapshot: OpenSessionsSnapshot) => void): void {
    this.listeners.push(listener);
  }

  add(event: EventView): void {
    if (event.newState === TCP_CLOSE) this.closedInInterval++;
  }

  /** The warm-up's stand-in: no passes, no rows. */
  warmUpTwin(): Consumer {
    return { add: () => {}, warmUpTwin: () => null };
  }

  counts(_events: number, lost: number): void {
    this.lost = lost;
  }

  tick(out: ByteOutput, maxRows: number, last = false): number {
    const passes = this.passes;
    if (passes === null) return 0;
    const nowMs = this.options.now();
    if (!last && !(nowMs - this.lastPassMs >= this.options.intervalMs)) return 0;
    this.lastPassMs = nowMs;
    // At the end every open session gets its row, moved or not.
    const snapshot = passes.run(!(last || this.options.all) && this.listeners.length === 0, this.closedInInterval, this.lost);
    this.closedInInterval = 0;
    this.sayUnreachable?.(snapshot.unreachable);
    for (const listener of this.listeners) listener(snapshot);
    return this.writeRows(out, snapshot, maxRows, last);
  }

  private writeRows(out: ByteOutput, snapshot: PassSnapshot, maxRows: number, last: boolean): number {
    const rows = this.options.rows;
    if (rows === null) return 0;
    const atNs = Number(snapshot.atNs);
    let written = 0;
    for (const session of snapshot.sessions) {
      if (written >= maxRows) break;
      if (!last && !this.options.all && session.txDeltaBytes === 0 && session.rxDeltaBytes === 0) continue;
      if ('json' in rows) {
        out.text(`${jsonText(openSessionJson(session, atNs, this.options.wallClockOffsetMs, this.options.cgroupPathOf))}\n`);
      } else {
        out.text(`${rows.renderer.row(openSessionEvent(session, atNs))}\n`);
        if (rows.container !== null) appendContainerColumns(out, session.netnsIno, session.cgroupId, this.options.cgroupPathOf, rows.container.csv);
      }
      written++;
    }
    return written;
  }
}
