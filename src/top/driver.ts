// SPDX-License-Identifier: MIT
// tcplife --top, the loop: every interval, one snapshot from the source,
// drawn full-screen (keys re-sort it at once, a resize redraws it) or, when
// stdout is not a terminal, printed as plain text. The terminal is restored
// however the loop ends (a key, the stop signal, the source's error).

import { colorizerFor, type Colorizer } from '../format/color.js';
import { FullScreen } from '../io/terminal.js';
import type { OpenSessionsSnapshot } from '../open/session.js';
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

export interface TopOptions {
  readonly source: SnapshotSource;
  readonly intervalMs: number;
  /** The full screen; null prints plain text through `writePlain`. */
  readonly screen: TopScreen | null;
  readonly writePlain: (text: string) => void;
  readonly colorizer: Colorizer | null;
  /** Ends the loop (SIGINT, SIGTERM, SIGHUP). */
  readonly stop: AbortSignal;
  /** Wall-clock time as shown in the summary line. */
  readonly clock?: () => string;
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

/** Runs until a quit key or `options.stop`; a source's error ends it and is
 * thrown after the terminal is restored. */
export async function runTop(options: TopOptions): Promise<void> {
  const { screen, source, intervalMs } = options;
  const clock = options.clock ?? localClock;
  // Ended by a quit key or by options.stop.
  const ended = new AbortController();
  const onStop = () => ended.abort();
  options.stop.addEventListener('abort', onStop);
  if (options.stop.aborted) ended.abort();
  let sortKey: SortKey = 'total';
  let frame: Frame | null = null;

  const draw = () => {
    if (frame === null) return;
    const view = { sortKey, intervalNs: frame.intervalNs, clock: frame.clock, colorizer: options.colorizer };
    if (screen === null) options.writePlain(`${renderTop(frame.snapshot, { ...view, size: null }).join('\n')}\n\n`);
    else screen.draw(renderTop(frame.snapshot, { ...view, size: screen.size() }));
  };
  screen?.onKey((key) => {
    if (QUIT_KEYS.has(key)) return ended.abort();
    const chosen = SORT_KEYS[key];
    if (chosen === undefined || chosen === sortKey) return;
    sortKey = chosen;
    draw();
  });
  screen?.onResize(draw);

  try {
    let previousAtNs: bigint | null = null;
    let dueMs = performance.now();
    while (!ended.signal.aborted) {
      const snapshot = await source();
      if (ended.signal.aborted) break;
      const intervalNs: bigint =
        previousAtNs === null || snapshot.atNs <= previousAtNs ? BigInt(intervalMs) * NANOS_PER_MILLI : snapshot.atNs - previousAtNs;
      previousAtNs = snapshot.atNs;
      frame = { snapshot, intervalNs, clock: clock() };
      draw();
      // On a fixed beat; a late pass (a slow source) starts the next at once.
      dueMs = Math.max(dueMs + intervalMs, performance.now());
      await sleep(dueMs - performance.now(), ended.signal);
    }
  } finally {
    options.stop.removeEventListener('abort', onStop);
    screen?.restore();
  }
}

/**
 * runTop on this process's terminal: full-screen when stdout is a terminal
 * (keys when stdin is one too), else plain text on stdout; colour as
 * format/color.ts decides for stdout (NO_COLOR, FORCE_COLOR, TERM=dumb).
 */
export async function runTopOnTerminal(source: SnapshotSource, intervalMs: number, stop: AbortSignal): Promise<void> {
  const tty = process.stdout.isTTY === true;
  const colorizer = await colorizerFor(tty, process.env);
  const screen = tty ? FullScreen.enter(process.stdin, process.stdout, process) : null;
  await runTop({ source, intervalMs, screen, colorizer, stop, writePlain: (text) => process.stdout.write(text) });
}
