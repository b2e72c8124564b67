// SPDX-License-Identifier: MIT
// tcplife --top's driver and terminal control in a real terminal (tmux),
// fed by the synthetic source through the dev harness
// (harness/top-harness.ts): what the screen shows, keys, resize, and that
// every way out (q, Ctrl-C, SIGTERM, an uncaught exception, a failing
// source) gives the shell its terminal back: main screen, cursor shown,
// canonical mode with echo. Needs tmux (a test dependency); no BPF, no lock.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { humanBytes } from '../../src/top/screen.js';
import { adopt } from '../../harness/children.js';
import { waitFor } from '../../harness/system.js';
import { Tmux } from '../../harness/tmux.js';

const HARNESS = fileURLToPath(new URL('../../harness/top-harness.js', import.meta.url));
const INTERVAL_MS = 200;
/** A colour or attribute (SGR) escape sequence. */
const SGR = /\x1b\[[0-9;]*m/;

/** Starts the harness in `tmux`'s shell (Tmux.runCommand). */
function startHarness(tmux: Tmux, args = '', env = ''): void {
  tmux.runCommand(`${env} ${process.execPath} ${HARNESS} --interval ${INTERVAL_MS} ${args}`);
}

/** The session rows on screen: the lines after the column heads, split in cells. */
function rows(lines: readonly string[]): string[][] {
  const head = lines.findIndex((line) => /^ *PID COMM /.test(line));
  return head < 0 ? [] : lines.slice(head + 1).filter((line) => line.trim() !== '').map((line) => line.trim().split(/ +/));
}

function firstComm(lines: readonly string[]): string | undefined {
  return rows(lines)[0]?.[1];
}

/** The harness is drawing (its screen, not the shell's). */
function drawing(lines: readonly string[]): boolean {
  return rows(lines).length > 0 && lines.some((line) => line.includes('sessions:') || / open \d+ \+/.test(line));
}

async function openTerminal(columns: number, rows: number): Promise<Tmux> {
  const tmux = await Tmux.open(columns, rows);
  after(() => tmux.close());
  return tmux;
}

describe('tcplife --top in tmux (synthetic sessions)', () => {
  it('shows the known sessions, updates their bytes, re-sorts on t/r/a/b, redraws on resize, quits on q', async () => {
    const tmux = await openTerminal(120, 30);
    startHarness(tmux, '--idle 40');
    let screen = await tmux.waitForScreen('the first frame', drawing);
    assert.equal(tmux.format('#{alternate_on}'), '1');
    assert.equal(tmux.format('#{cursor_flag}'), '0');
    assert.match(screen[0] ?? '', /sessions: 44 open, /);
    assert.match(screen[1] ?? '', /^rows 1-27 of 44; sort: TX\+RX\/s; keys: t TX\/s/);
    assert.match(screen[2] ?? '', /^ +PID COMM +LOCAL +REMOTE +STATE +AGE TX\/s RX\/s +TX +RX$/);
    assert.equal(screen.length, 30);
    const redis = (lines: string[]) => rows(lines).find((row) => row[1] === 'redis-server');
    assert.deepEqual(redis(screen)?.slice(0, 5), ['4242', 'redis-server', '127.0.0.1:6379', '127.0.0.1:50000', 'ESTABLISHED']);
    const txTotal = redis(screen)?.[8];
    screen = await tmux.waitForScreen('the bytes to move', (lines) => redis(lines)?.[8] !== undefined && redis(lines)?.[8] !== txTotal);
    assert.equal(redis(screen)?.[6], humanBytes((300_000 * 1000) / INTERVAL_MS), 'TX/s');

    const sortedBy = async (key: string, comm: string, label: string) => {
      tmux.sendKeys(key);
      await tmux.waitForScreen(`${comm} first after "${key}"`, (lines) => firstComm(lines) === comm && lines[1]?.includes(`sort: ${label};`) === true);
    };
    await sortedBy('t', 'redis-server', 'TX/s');
    await sortedBy('r', 'psql', 'RX/s');
    await sortedBy('a', 'sshd', 'AGE');
    await sortedBy('b', 'psql', 'TX+RX/s');

    tmux.resize(60, 12);
    screen = await tmux.waitForScreen('the 60x12 redraw', (lines) => lines[2]?.includes('REMOTE') === true && !lines[2].includes('LOCAL'));
    assert.ok(screen.every((line) => line.length <= 60), screen.join('\n'));
    assert.match(screen[1] ?? '', /^rows 1-9 of 44;/);

    tmux.sendKeys('q');
    screen = await tmux.assertRestored(0);
    assert.ok(screen.includes('top harness: stopped'), screen.join('\n'));
  });

  it('fits a 60-column terminal from the start', async () => {
    const tmux = await openTerminal(60, 20);
    startHarness(tmux);
    const screen = await tmux.waitForScreen('the first frame', drawing);
    assert.match(screen[0] ?? '', /^\d\d:\d\d:\d\d open 4 \+\d -\d lost 0 TX \S+\/s RX \S+\/s$/);
    assert.match(screen[2] ?? '', /^ PID COMM +REMOTE +(AGE )?TX\/s RX\/s +TX +RX$/);
    assert.ok(screen.every((line) => line.length <= 60));
    assert.deepEqual(rows(screen).map((row) => row[1]).sort(), ['curl', 'psql', 'redis-server', 'sshd']);
    assert.match(tmux.screenWithEscapes(), SGR, 'coloured on a terminal');
    tmux.sendKeys('q');
    await tmux.assertRestored(0);
  });

  it('Ctrl-C quits and restores; NO_COLOR: no colour', async () => {
    const tmux = await openTerminal(100, 24);
    startHarness(tmux, '', 'NO_COLOR=1');
    await tmux.waitForScreen('the first frame', drawing);
    assert.doesNotMatch(tmux.screenWithEscapes(), SGR);
    tmux.sendKeys('C-c');
    const screen = await tmux.assertRestored(0);
    assert.ok(screen.includes('top harness: stopped'), screen.join('\n'));
  });

  it('SIGTERM stops it and restores', async () => {
    const tmux = await openTerminal(100, 24);
    startHarness(tmux);
    await tmux.waitForScreen('the first frame', drawing);
    const [pid, ...others] = tmux.shellChildren();
    assert.ok(pid !== undefined && others.length === 0, 'the harness is the shell\'s one child');
    process.kill(pid, 'SIGTERM');
    const screen = await tmux.assertRestored(0);
    assert.ok(screen.includes('top harness: stopped'), screen.join('\n'));
  });

  it('an uncaught exception restores first, so its trace shows on the main screen', async () => {
    const tmux = await openTerminal(100, 24);
    startHarness(tmux, '--crash-after 3');
    const screen = await tmux.assertRestored(1);
    assert.ok(screen.some((line) => line.includes('Error: harness crash')), screen.join('\n'));
  });

  it('a failing source ends it with its error on the main screen, restored', async () => {
    const tmux = await openTerminal(100, 24);
    startHarness(tmux, '--fail-after 3');
    const screen = await tmux.assertRestored(1);
    assert.ok(screen.includes('top harness: harness source failed'), screen.join('\n'));
  });
});

describe('tcplife --top without a terminal', () => {
  it('prints the plain table each interval: no escapes, every session, stops on SIGTERM', async () => {
    const child = adopt(spawn(process.execPath, [HARNESS, '--interval', '50', '--idle', '30'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    await waitFor('three tables', () => out.split('\n\n').length > 3);
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(!out.includes('\x1b'), 'no escape sequences');
    const tables = out.split('\n\n').filter((table) => table !== '');
    for (const table of tables) {
      const lines = table.split('\n');
      assert.match(lines[0] ?? '', /^\d\d:\d\d:\d\d {2}sessions: 34 open, /);
      assert.match(lines[1] ?? '', /^ +PID COMM +LOCAL +REMOTE +STATE +AGE TX\/s RX\/s +TX +RX$/);
      assert.equal(lines.length, 2 + 34);
    }
    assert.match(tables[1] ?? '', /\n 5151 psql +\[::1\]:41000 +\[::1\]:5432 +ESTABLISHED /);
  });
});
