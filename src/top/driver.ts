// SPDX-License-Identifier: MIT
// tcplife --top, the loop: every interval, one snapshot from the source,
// drawn full-screen (keys re-sort it at once, a resize redraws it) or, when
// stdout is not a terminal, printed as plain text. The terminal is restored
// however the loop ends (a key, the stop signal, the source's error).

import { colorizerFor, type Colorizer } from '../format/color.js';
import { FullScreen } from '../io/terminal.js';
import type { OpenSessionsSnapshot } from '../decode/open-session.js';
import { renderTop, SORT_KEYS, type ScreenSize, type SortKey } from './screen.js';

export type SnapshotSource = () => Promise<OpenSessionsSnapshot>;

/** What the loop needs of a full-screen terminal (io/terminal.ts's FullScreen). */
export interface TopScreen {
  size(): ScreenSize;
  draw(lines: readonly string[]): void;
  onKey(listener: (key: string) => void): void;
  onResize(listener: () => void): void;
  restore(): void;
}

export interface TopOptions extends TopDisplayOptions {
  readonly source: SnapshotSource;
  /** Ends the loop (SIGINT, SIGTERM, SIGHUP). */
  readonly stop: AbortSignal;
}

/** Keys that quit: q, Q, and Ctrl-C (a byte, not a signal, in raw mode). */
const QUIT_KEYS = new Set(['q', 'Q', '\x03']);

const NANOS_PER_MILLI = 1_000_000n;

export function localClock(): string {
  const date = new Date();
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

interface Frame {
  readonly snapshot: OpenSessionsSnapshot;
  readonly intervalNs: bigint;
  readonly clock: string;
}

export interface TopDisplayOptions {
  /** The full screen; null prints plain text through `writePlain`. */
  readonly screen: TopScreen | null;
  readonly writePlain: (text: string) => void;
  readonly colorizer: Colorizer | null;
  /** The interval the first snapshot's rates are taken over (no previous one to measure from). */
  readonly intervalMs: number;
  /** Wall-clock time as shown in the summary line. */
  readonly clock?: () => string;
}

/**
 * What is shown: each snapshot as it comes (pushed by a tool's interval, or
 * pulled by runTop), in the sort the keys chose, redrawn at once on a key or
 * a resize. A quit key aborts `quit`; the owner then calls close().
 */
export class TopDisplay {
  private readonly quitController = new AbortController();
  readonly quit: AbortSignal = this.quitController.signal;
  private sortKey: SortKey = 'total';
  private frame: Frame | null = null;
  private previousAtNs: bigint | null = null;
  private readonly clock: () => string;

  constructor(private readonly options: TopDisplayOptions) {
    this.clock = options.clock ?? localClock;
    options.screen?.onKey((key) => this.key(key));
    options.screen?.onResize(() => this.draw());
  }

  /** Draws `snapshot`; its rates are over the time since the previous one. */
  show(snapshot: OpenSessionsSnapshot): void {
    const previous = this.previousAtNs;
    const intervalNs =
      previous === null || snapshot.atNs <= previous ? BigInt(this.options.intervalMs) * NANOS_PER_MILLI : snapshot.atNs - previous;
    this.previousAtNs = snapshot.atNs;
    this.frame = { snapshot, intervalNs, clock: this.clock() };
    this.draw();
  }

  /** Restores the terminal (idempotent). */
  close(): void {
    this.options.screen?.restore();
  }

  private key(key: string): void {
    if (QUIT_KEYS.has(key)) return this.quitController.abort();
    const chosen = SORT_KEYS[key];
    if (chosen === undefined || chosen === this.sortKey) return;
    this.sortKey = chosen;
    this.draw();
  }

  private draw(): void {
    const { frame, options } = this;
    if (frame === null) return;
    const view = { sortKey: this.sortKey, intervalNs: frame.intervalNs, clock: frame.clock, colorizer: options.colorizer };
    if (options.screen === null) options.writePlain(`${renderTop(frame.snapshot, { ...view, size: null }).join('\n')}\n\n`);
    else options.screen.draw(renderTop(frame.snapshot, { ...view, size: options.screen.size() }));
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** Pulls a snapshot from the source every interval and shows it, until a
 * quit key or `options.stop`; a source's error ends it and is thrown after
 * the terminal is restored. */
export async function runTop(options: TopOptions): Promise<void> {
  const { source, intervalMs } = options;
  const display = new TopDisplay(options);
  // Ended by a quit key or by options.stop.
  const ended = new AbortController();
  const end = () => ended.abort();
  options.stop.addEventListener('abort', end);
  display.quit.addEventListener('abort', end);
  if (options.stop.aborted) ended.abort();
  try {
    let dueMs = performance.now();
    while (!ended.signal.aborted) {
      const snapshot = await source();
      if (ended.signal.aborted) break;
      display.show(snapshot);
      // On a fixed beat; a late pass (a slow source) starts the next at once.
      dueMs = Math.max(dueMs + intervalMs, performance.now());
      await sleep(dueMs - performance.now(), ended.signal);
    }
  } finally {
    options.stop.removeEventListener('abort', end);
    display.close();
  }
}

/**
 * A display on this process's terminal: full-screen when stdout is a
 * terminal (keys when stdin is one too), else plain text on stdout; colour
 * as format/color.ts decides for stdout (NO_COLOR, FORCE_COLOR, TERM=dumb).
 * The full screen is entered here, and restored by the display's close() or
 * by the process's exit, whichever comes first.
 */
export async function terminalDisplayOptions(intervalMs: number): Promise<TopDisplayOptions> {
  const tty = process.stdout.isTTY === true;
  const colorizer = await colorizerFor(tty, process.env);
  const screen = tty ? FullScreen.enter(process.stdin, process.stdout, process) : null;
  return { screen, colorizer, intervalMs, writePlain: (text) => process.stdout.write(text) };
}

/** runTop on this process's terminal (terminalDisplayOptions). */
export async function runTopOnTerminal(source: SnapshotSource, intervalMs: number, stop: AbortSignal): Promise<void> {
  await runTop({ ...(await terminalDisplayOptions(intervalMs)), source, stop });
}
