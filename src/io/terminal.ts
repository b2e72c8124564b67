// SPDX-License-Identifier: MIT
// A full-screen terminal for tcplife --top: the alternate screen, a hidden
// cursor, raw keys, redraws in place, resizes, and the restore that puts all
// of it back. The restore is synchronous and idempotent, and also hooked to
// the process's exit and to uncaughtExceptionMonitor: an uncaught
// exception's trace must land on the user's screen, not on the discarded
// alternate one (Node 20 emits 'exit' before printing it; the monitor runs
// earlier still, whatever the version). Writes to a terminal are synchronous
// in Node on Linux, so what is written here has reached the terminal when
// the call returns.


/** The input side: process.stdin, or a test's stand-in. */
export interface KeyInput {
  readonly isTTY?: boolean;
  setRawMode?(raw: boolean): unknown;
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  off(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

/** The output side: process.stdout, or a test's stand-in. */
export interface ScreenOutput {
  readonly columns?: number;
  readonly rows?: number;
  write(text: string): unknown;
  on(event: 'resize', listener: () => void): unknown;
  off(event: 'resize', listener: () => void): unknown;
}

/** The process hooks the restore rides on: `process`, or a test's stand-in. */
export interface ExitHooks {
  on(event: 'exit' | 'uncaughtExceptionMonitor', listener: () => void): unknown;
  off(event: 'exit' | 'uncaughtExceptionMonitor', listener: () => void): unknown;
}

const CSI = '\x1b[';
export const ALTERNATE_SCREEN_ON = `${CSI}?1049h`;
export const ALTERNATE_SCREEN_OFF = `${CSI}?1049l`;
export const CURSOR_HIDDEN = `${CSI}?25l`;
export const CURSOR_SHOWN = `${CSI}?25h`;
const HOME = `${CSI}H`;
const CLEAR_SCREEN = `${CSI}2J`;
const CLEAR_TO_LINE_END = `${CSI}K`;
const CLEAR_BELOW = `${CSI}J`;

/** Used when the terminal does not say its size (80x24, the VT100's). */
/** A terminal's size in character cells. */
export interface ScreenSize {
  readonly columns: number;
  readonly rows: number;
}

const FALLBACK_SIZE: ScreenSize = { columns: 80, rows: 24 };

/**
 * The keys in a chunk read from a raw terminal, one string each. A chunk
 * that starts with ESC is an escape sequence (an arrow, a function key) or
 * ESC itself: none of them is a key here, so it yields nothing.
 */
export function keysIn(chunk: string): string[] {
  if (chunk.startsWith('\x1b')) return [];
  return [...chunk];
}

/** The frame's bytes: home, each line then clear to its end, clear below.
 * Lines are joined with CR LF, right in raw mode with or without OPOST. */
export function frameText(lines: readonly string[]): string {
  return `${HOME}${lines.map((line) => `${line}${CLEAR_TO_LINE_END}`).join('\r\n')}${CLEAR_BELOW}`;
}

export class FullScreen {
  private restored = false;
  private readonly keyListeners: ((key: string) => void)[] = [];
  private readonly onData = (chunk: Buffer | string) => {
    for (const key of keysIn(chunk.toString())) for (const listener of this.keyListeners) listener(key);
  };
  private readonly restoreHook = () => this.restore();
  private readonly resizeListeners: (() => void)[] = [];
  private readonly restoreListeners: (() => void)[] = [];
  private readonly raw: boolean;

  private constructor(
    private readonly input: KeyInput,
    private readonly output: ScreenOutput,
    private readonly hooks: ExitHooks,
  ) {
    this.raw = input.isTTY === true && typeof input.setRawMode === 'function';
  }

  /**
   * Takes over the terminal: hooks the restore first, then the alternate
   * screen, hidden cursor and (when the input is a terminal) raw keys.
   * Without a terminal on input, no keys arrive and Ctrl-C stays a signal.
   */
  static enter(input: KeyInput, output: ScreenOutput, hooks: ExitHooks): FullScreen {
    const screen = new FullScreen(input, output, hooks);
    hooks.on('exit', screen.restoreHook);
    hooks.on('uncaughtExceptionMonitor', screen.restoreHook);
    output.write(`${ALTERNATE_SCREEN_ON}${CURSOR_HIDDEN}${CLEAR_SCREEN}`);
    if (screen.raw) {
      input.setRawMode?.(true);
      input.on('data', screen.onData);
      input.resume();
    }
    return screen;
  }

  size(): ScreenSize {
    const { columns, rows } = this.output;
    if (columns === undefined || rows === undefined || columns <= 0 || rows <= 0) return FALLBACK_SIZE;
    return { columns, rows };
  }

  draw(lines: readonly string[]): void {
    if (!this.restored) this.output.write(frameText(lines));
  }

  onKey(listener: (key: string) => void): void {
    this.keyListeners.push(listener);
  }

  /** The terminal was resized (SIGWINCH; Node updates the size first). */
  onResize(listener: () => void): void {
    this.resizeListeners.push(listener);
    this.output.on('resize', listener);
  }

  /** Called once the terminal is restored, however that came (e.g. to
   * write the stderr lines held while the screen was shown); synchronous. */
  onRestore(listener: () => void): void {
    this.restoreListeners.push(listener);
  }

  /** Cursor shown, alternate screen off, raw mode off, input released;
   * idempotent, and safe from an exit handler (synchronous). */
  restore(): void {
    if (this.restored) return;
    this.restored = true;
    this.hooks.off('exit', this.restoreHook);
    this.hooks.off('uncaughtExceptionMonitor', this.restoreHook);
    for (const listener of this.resizeListeners) this.output.off('resize', listener);
    this.output.write(`${CURSOR_SHOWN}${ALTERNATE_SCREEN_OFF}`);
    if (this.raw) {
      this.input.off('data', this.onData);
      this.input.setRawMode?.(false);
      this.input.pause();
    }
    for (const listener of this.restoreListeners) listener();
  }
}
