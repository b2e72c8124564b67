// SPDX-License-Identifier: MIT
// tcplife --top inside the tracer: a pipeline consumer (trace/pipeline.ts)
// that shows each snapshot of the open sessions as the interval's pass
// makes it (decode/open-session.ts OpenSessionsSource). On a terminal it draws
// full-screen, entered at the first snapshot, so that anything said while
// starting (an error, a notice) is on the main screen; otherwise its plain
// text goes out with the tracer's next write (the tracer owns stdout: a
// reader that goes away ends the trace as for rows).

import { colorizerFor, type Colorizer } from '../format/color.js';
import type { ByteOutput } from '../format/output.js';
import type { OpenSessionsSnapshot, OpenSessionsSource } from '../decode/open-session.js';
import type { Diagnostics } from '../io/diagnostics.js';
import { FullScreen } from '../io/terminal.js';
import type { Consumer } from '../trace/pipeline.js';
import { TopDisplay, type TopScreen } from './driver.js';

export interface LiveViewOptions {
  readonly intervalMs: number;
  readonly colorizer: Colorizer | null;
  /** Enters the full screen; null: plain text. */
  readonly enterScreen: (() => TopScreen) | null;
  readonly clock?: () => string;
}

export class LiveView implements Consumer {
  private display: TopDisplay | null = null;
  private plain = '';
  private readonly quitController = new AbortController();
  /** Aborted by a quit key (q, Ctrl-C): the tool stops the trace. */
  readonly quit: AbortSignal = this.quitController.signal;

  constructor(
    source: OpenSessionsSource,
    private readonly options: LiveViewOptions,
  ) {
    source.onSnapshot((snapshot) => this.show(snapshot));
  }

  /** The view needs no event: the snapshots say it all. */
  add(): void {}

  /** Sits the warm-up out (no snapshot comes during it anyway). */
  warmUpTwin(): null {
    return null;
  }

  /** Plain text shown since the last read, for the tracer's write. */
  tick(out: ByteOutput): number {
    if (this.plain !== '') out.text(this.plain);
    this.plain = '';
    return 0;
  }

  /** After the trace: the terminal restored. */
  close(): void {
    this.display?.close();
  }

  private show(snapshot: OpenSessionsSnapshot): void {
    this.display ??= this.open();
    this.display.show(snapshot);
  }

  private open(): TopDisplay {
    const { intervalMs, colorizer, enterScreen, clock } = this.options;
    const screen = enterScreen?.() ?? null;
    const display = new TopDisplay({
      screen,
      colorizer: screen === null ? null : colorizer,
      intervalMs,
      writePlain: (text) => {
        this.plain += text;
      },
      ...(clock === undefined ? {} : { clock }),
    });
    display.quit.addEventListener('abort', () => this.quitController.abort());
    return display;
  }
}

/**
 * The live view on this process's terminal: full-screen when stdout is a
 * terminal (keys when stdin is one too; colour as format/color.ts decides),
 * with stderr's lines held while it is shown and written once it is
 * restored (however that comes); plain text otherwise.
 */
export async function liveViewOnTerminal(source: OpenSessionsSource, intervalMs: number, diagnostics: Diagnostics): Promise<LiveView> {
  const tty = process.stdout.isTTY === true;
  const enterScreen = (): FullScreen => {
    diagnostics.hold();
    const screen = FullScreen.enter(process.stdin, process.stdout, process);
    screen.onRestore(() => diagnostics.release());
    return screen;
  };
  return new LiveView(source, { intervalMs, colorizer: await colorizerFor(tty, process.env), enterScreen: tty ? enterScreen : null });
}
