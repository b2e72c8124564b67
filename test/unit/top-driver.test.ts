// SPDX-License-Identifier: MIT
// Unit tests of tcplife --top's loop (src/top/driver.ts) with a recording
// screen, and of the terminal control (src/io/terminal.ts) with stand-in
// streams: keys re-sort and quit, resizes redraw, plain text when there is
// no terminal, and the restore on every way out.

import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import { after, describe, it } from 'node:test';
import {
  ALTERNATE_SCREEN_OFF,
  ALTERNATE_SCREEN_ON,
  CURSOR_HIDDEN,
  CURSOR_SHOWN,
  FullScreen,
  frameText,
  keysIn,
} from '../../src/io/terminal.js';
import { runTop, TopDisplay, type TopScreen } from '../../src/top/driver.js';
import type { ScreenSize } from '../../src/top/screen.js';
import { LiveView } from '../../src/top/live-view.js';
import { ByteOutput } from '../../src/format/output.js';
import type { OpenSessionsSnapshot } from '../../src/decode/open-session.js';
import { fakeSnapshot, fakeSource } from '../../harness/fake-sessions.js';

class RecordingScreen implements TopScreen {
  readonly frames: (readonly string[])[] = [];
  restores = 0;
  current: ScreenSize = { columns: 120, rows: 30 };
  private keyListener: ((key: string) => void) | null = null;
  private resizeListener: (() => void) | null = null;
  private waiters: (() => void)[] = [];

  size(): ScreenSize {
    return this.current;
  }
  draw(lines: readonly string[]): void {
    this.frames.push(lines);
    for (const waiter of this.waiters.splice(0)) waiter();
  }
  onKey(listener: (key: string) => void): void {
    this.keyListener = listener;
  }
  onResize(listener: () => void): void {
    this.resizeListener = listener;
  }
  restore(): void {
    this.restores++;
  }
  press(key: string): void {
    this.keyListener?.(key);
  }
  resize(size: ScreenSize): void {
    this.current = size;
    this.resizeListener?.();
  }
  /** Resolves when `count` frames have been drawn. */
  async frameCount(count: number): Promise<void> {
    while (this.frames.length < count) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  firstComm(frame = this.frames.length - 1): string | undefined {
    return this.frames[frame]?.[3]?.split(/ +/).filter(Boolean)[1];
  }
}

function options(screen: TopScreen | null, overrides: Partial<Parameters<typeof runTop>[0]> = {}) {
  return {
    source: fakeSource(20),
    intervalMs: 20,
    screen,
    writePlain: () => undefined,
    colorizer: null,
    stop: new AbortController().signal,
    clock: () => '12:00:00',
    ...overrides,
  };
}

describe('top driver', () => {
  it('redraws every interval, re-sorts on t/r/a/b at once, quits on q, restores', async () => {
    const screen = new RecordingScreen();
    const running = runTop(options(screen, { intervalMs: 10_000 }));
    // A failed assertion must not leave the loop running.
    after(() => screen.press('q'));
    await screen.frameCount(1);
    assert.equal(screen.firstComm(), 'psql'); // first snapshot: nothing moved yet, so by total bytes
    screen.press('a');
    assert.equal(screen.frames.length, 2, 'a key redraws at once, before the next interval');
    assert.equal(screen.firstComm(), 'sshd');
    screen.press('x'); // not a key of ours: no redraw
    screen.press('a'); // the sort already chosen: no redraw
    assert.equal(screen.frames.length, 2);
    screen.resize({ columns: 60, rows: 10 });
    assert.equal(screen.frames.length, 3);
    assert.ok(screen.frames[2]?.every((line) => line.length <= 60));
    screen.press('q');
    await running;
    assert.equal(screen.restores, 1);
  });

  it('the rates of the second frame are the interval\'s; Ctrl-C (a byte in raw mode) quits', async () => {
    const screen = new RecordingScreen();
    const running = runTop(options(screen));
    after(() => screen.press('q'));
    await screen.frameCount(2);
    assert.equal(screen.firstComm(1), 'psql');
    screen.press('t');
    assert.equal(screen.firstComm(), 'redis-server');
    screen.press('r');
    assert.equal(screen.firstComm(), 'psql');
    screen.press('\x03');
    await running;
    assert.equal(screen.restores, 1);
  });

  it('the stop signal ends it (SIGTERM, SIGINT, SIGHUP), and restores', async () => {
    const screen = new RecordingScreen();
    const stop = new AbortController();
    const running = runTop(options(screen, { stop: stop.signal }));
    after(() => stop.abort());
    await screen.frameCount(3);
    stop.abort();
    await running;
    assert.equal(screen.restores, 1);
  });

  it('a source that fails ends it with its error, after the restore', async () => {
    const screen = new RecordingScreen();
    let calls = 0;
    const source = fakeSource(20);
    const failing = () => (++calls > 2 ? Promise.reject(new Error('iterator gone')) : source());
    await assert.rejects(runTop(options(screen, { source: failing })), /iterator gone/);
    assert.equal(screen.restores, 1);
    assert.equal(screen.frames.length, 2);
  });

  it('without a terminal: the plain table each interval, blocks separated by a blank line', async () => {
    const stop = new AbortController();
    const blocks: string[] = [];
    await runTop(
      options(null, {
        stop: stop.signal,
        writePlain: (text) => {
          blocks.push(text);
          if (blocks.length === 3) stop.abort();
        },
      }),
    );
    assert.equal(blocks.length, 3);
    for (const block of blocks) {
      assert.match(block, /^12:00:00 {2}sessions: 4 open, /);
      assert.match(block, /\n PID COMM {9}LOCAL {11}REMOTE {10}STATE {10}AGE TX\/s RX\/s {3}TX {3}RX\n/);
      assert.ok(block.endsWith('\n\n'));
      assert.ok(!block.includes('keys'));
    }
    // 20 ms intervals: 50 times the bytes per interval, per second.
    assert.match(blocks[1] ?? '', /RX\n5151 psql .* {2}97K {2}23M 3.9K {2}20M\n/);
  });
});

class FakeInput extends EventEmitter {
  readonly isTTY = true;
  rawModes: boolean[] = [];
  paused = true;
  setRawMode(raw: boolean): void {
    this.rawModes.push(raw);
  }
  resume(): void {
    this.paused = false;
  }
  pause(): void {
    this.paused = true;
  }
}

class FakeOutput extends EventEmitter {
  columns = 100;
  rows = 40;
  written = '';
  write(text: string): boolean {
    this.written += text;
    return true;
  }
}

describe('terminal control', () => {
  it('enter: alternate screen, hidden cursor, raw keys; restore undoes each once and unhooks', () => {
    const input = new FakeInput();
    const output = new FakeOutput();
    const hooks = new EventEmitter();
    const screen = FullScreen.enter(input, output, hooks);
    assert.ok(output.written.startsWith(`${ALTERNATE_SCREEN_ON}${CURSOR_HIDDEN}`));
    assert.deepEqual(input.rawModes, [true]);
    assert.equal(input.paused, false);
    assert.equal(hooks.listenerCount('exit'), 1);
    assert.equal(hooks.listenerCount('uncaughtExceptionMonitor'), 1);
    const keys: string[] = [];
    screen.onKey((key) => keys.push(key));
    input.emit('data', Buffer.from('tq'));
    input.emit('data', Buffer.from('\x1b[A'));
    assert.deepEqual(keys, ['t', 'q']);
    let resized = 0;
    screen.onResize(() => resized++);
    output.emit('resize');
    assert.equal(resized, 1);
    assert.deepEqual(screen.size(), { columns: 100, rows: 40 });

    output.written = '';
    screen.restore();
    screen.restore();
    assert.equal(output.written, `${CURSOR_SHOWN}${ALTERNATE_SCREEN_OFF}`);
    assert.deepEqual(input.rawModes, [true, false]);
    assert.equal(input.paused, true);
    assert.equal(hooks.listenerCount('exit'), 0);
    assert.equal(hooks.listenerCount('uncaughtExceptionMonitor'), 0);
    assert.equal(input.listenerCount('data'), 0);
    assert.equal(output.listenerCount('resize'), 0);
    screen.draw(['late']);
    assert.equal(output.written, `${CURSOR_SHOWN}${ALTERNATE_SCREEN_OFF}`, 'nothing drawn after the restore');
  });

  it('an uncaught exception or the exit restores, before Node prints the error', () => {
    for (const event of ['uncaughtExceptionMonitor', 'exit']) {
      const input = new FakeInput();
      const output = new FakeOutput();
      const hooks = new EventEmitter();
      FullScreen.enter(input, output, hooks);
      hooks.emit(event);
      assert.ok(output.written.endsWith(`${CURSOR_SHOWN}${ALTERNATE_SCREEN_OFF}`), event);
      assert.deepEqual(input.rawModes, [true, false], event);
    }
  });

  it('input not a terminal: no raw mode, no keys (Ctrl-C stays a signal); unknown size: 80x24', () => {
    const input = Object.assign(new FakeInput(), { isTTY: false });
    const output = Object.assign(new FakeOutput(), { columns: 0 });
    const screen = FullScreen.enter(input, output, new EventEmitter());
    assert.deepEqual(input.rawModes, []);
    assert.equal(input.listenerCount('data'), 0);
    assert.deepEqual(screen.size(), { columns: 80, rows: 24 });
    screen.restore();
    assert.deepEqual(input.rawModes, []);
  });

  it('frames: home, each line cleared to its end, CR LF, cleared below', () => {
    assert.equal(frameText(['a', 'b']), '\x1b[Ha\x1b[K\r\nb\x1b[K\x1b[J');
    assert.deepEqual(keysIn('ab'), ['a', 'b']);
    assert.deepEqual(keysIn('\x1b'), []);
  });
});

describe('top display, fed by a tool (pushed snapshots)', () => {
  it('draws each snapshot as it comes, rates over the time between them; q aborts quit; close restores', async () => {
    const screen = new RecordingScreen();
    const display = new TopDisplay({ screen, writePlain: () => undefined, colorizer: null, intervalMs: 1000, clock: () => '12:00:00' });
    display.show(fakeSnapshot(0, 1000));
    display.show(fakeSnapshot(1, 1000));
    display.show({ ...fakeSnapshot(2, 1000), atNs: fakeSnapshot(1, 1000).atNs + 2_000_000_000n });
    assert.equal(screen.frames.length, 3);
    assert.match(screen.frames[1]?.[0] ?? '', /TX 392K\/s RX 586K\/s$/);
    assert.match(screen.frames[2]?.[0] ?? '', /TX 196K\/s RX 293K\/s$/, 'two seconds since the previous snapshot');
    assert.equal(display.quit.aborted, false);
    screen.press('q');
    assert.equal(display.quit.aborted, true);
    assert.equal(screen.restores, 0, 'the owner closes it');
    display.close();
    assert.equal(screen.restores, 1);
  });
});

describe('live view in the tracer (LiveView, a pipeline consumer)', () => {
  class PushedSource {
    private listener: ((snapshot: OpenSessionsSnapshot) => void) | null = null;
    onSnapshot(listener: (snapshot: OpenSessionsSnapshot) => void): void {
      this.listener = listener;
    }
    push(snapshot: OpenSessionsSnapshot): void {
      this.listener?.(snapshot);
    }
  }

  it('full screen entered at the first snapshot, not before; q aborts quit; close restores', () => {
    const source = new PushedSource();
    const screen = new RecordingScreen();
    let entered = 0;
    const view = new LiveView(source, { intervalMs: 1000, colorizer: null, enterScreen: () => (entered++, screen), clock: () => '12:00:00' });
    assert.equal(entered, 0);
    const out = new ByteOutput();
    assert.equal(view.tick(out), 0);
    source.push(fakeSnapshot(0, 1000));
    source.push(fakeSnapshot(1, 1000));
    assert.equal(entered, 1);
    assert.equal(screen.frames.length, 2);
    assert.equal(view.tick(out), 0);
    assert.equal(out.toString(), '', 'nothing for stdout: the screen has it');
    screen.press('q');
    assert.equal(view.quit.aborted, true);
    view.close();
    assert.equal(screen.restores, 1);
  });

  it('plain text: each snapshot\'s table goes out with the next tick', () => {
    const source = new PushedSource();
    const view = new LiveView(source, { intervalMs: 1000, colorizer: null, enterScreen: null, clock: () => '12:00:00' });
    source.push(fakeSnapshot(0, 1000));
    source.push(fakeSnapshot(1, 1000));
    const out = new ByteOutput();
    view.tick(out);
    const tables = out.toString().split('\n\n');
    assert.deepEqual(tables.map((table) => table.split('\n')[0]), [
      '12:00:00  sessions: 4 open, 0 opened, 0 closed; events lost: 0; TX 0/s RX 0/s',
      '12:00:00  sessions: 4 open, 1 opened, 1 closed; events lost: 0; TX 392K/s RX 586K/s',
      '',
    ]);
    out.clear();
    view.tick(out);
    assert.equal(out.toString(), '');
    view.close();
  });

  it('FullScreen tells its onRestore listeners once, however it was restored', () => {
    const hooks = new EventEmitter();
    const screen = FullScreen.enter(new FakeInput(), new FakeOutput(), hooks);
    let told = 0;
    screen.onRestore(() => told++);
    hooks.emit('exit');
    screen.restore();
    assert.equal(told, 1);
  });
});
