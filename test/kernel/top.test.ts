// SPDX-License-Identifier: MIT
// tcplife --top on the real kernel (root), in a real terminal (tmux): a
// loopback session that predates the tracer and moves bytes steadily
// (harness/fixtures/stream.py: a server and a client, each with its own
// COMM) shows on the screen on each side with its owner, its addresses, its
// state, the lower-bound age marker and growing bytes, on both address
// families; t sorts by TX; q, Ctrl-C and SIGTERM end it with the terminal
// restored and the final line on the main screen; without a terminal, the
// same table as plain text each interval. Needs tmux.

import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { startFixture, type FixturePeer } from '../../harness/peers.js';
import { requireRoot } from '../../harness/system.js';
import { Tmux } from '../../harness/tmux.js';
import { TCPLIFE_BIN, TracerProcess } from '../../harness/tracer-process.js';

requireRoot();

/** 64 KiB every 100 ms: some 640 KiB/s each way, well above anything else on loopback during a test. */
const CHUNK_BYTES = 65_536;
const PERIOD_MS = 100;

interface Stream {
  readonly peer: FixturePeer;
  readonly family: 4 | 6;
  readonly serverPid: number;
  readonly clientPid: number;
  readonly port: number;
  readonly serverComm: string;
  readonly clientComm: string;
}

async function startStream(family: 4 | 6): Promise<Stream> {
  const serverComm = `topsrv${family}-${process.pid % 100_000}`;
  const clientComm = `topcli${family}-${process.pid % 100_000}`;
  const peer = startFixture('stream.py', [family, serverComm, clientComm, CHUNK_BYTES, PERIOD_MS]);
  const record = await peer.record('streaming');
  return { peer, family, serverPid: record.pid, clientPid: record['client_pid'] as number, port: record['port'] as number, serverComm, clientComm };
}

function endpoint(family: 4 | 6, port: string | number): string {
  return family === 6 ? `[::1]:${port}` : `127.0.0.1:${port}`;
}

/** The session rows on a screen: the lines after the column heads, split in cells. */
function rows(lines: readonly string[]): string[][] {
  const head = lines.findIndex((line) => /^ *PID COMM /.test(line));
  return head < 0 ? [] : lines.slice(head + 1).filter((line) => line.trim() !== '').map((line) => line.trim().split(/ +/));
}

function rowOf(lines: readonly string[], pid: number): string[] | undefined {
  return rows(lines).find((row) => row[0] === String(pid));
}

/** Columns at 150 wide: PID COMM LOCAL REMOTE STATE AGE TX/s RX/s TX RX. */
const [PID, COMM, LOCAL, REMOTE, STATE, AGE, TX_RATE, RX_RATE, TX, RX] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] as const;

function parseBytes(text: string | undefined): number {
  const match = /^([\d.]+)([KMGTP]?)$/.exec(text ?? '');
  assert.ok(match, `a byte count: ${text}`);
  return Number(match[1]) * 1024 ** ' KMGTP'.indexOf(match[2] || ' ');
}

describe('tcplife --top (kernel, tmux)', () => {
  const streams: Stream[] = [];
  before(async () => {
    streams.push(await startStream(4), await startStream(6));
  });
  after(async () => {
    for (const stream of streams) await stream.peer.end();
  });

  async function openTerminal(): Promise<Tmux> {
    const tmux = await Tmux.open(150, 40);
    after(() => tmux.close());
    return tmux;
  }

  it('shows sessions older than the trace with their owners and growing bytes, both families; t sorts by TX; q restores', async () => {
    const tmux = await openTerminal();
    tmux.runCommand(`${process.execPath} ${TCPLIFE_BIN} --top`);
    for (const stream of streams) {
      const seen = (lines: string[]) => rowOf(lines, stream.clientPid) !== undefined && rowOf(lines, stream.serverPid) !== undefined;
      let screen = await tmux.waitForScreen(`the IPv${stream.family} stream's two ends`, seen, 15_000);
      assert.equal(tmux.format('#{alternate_on}'), '1');
      assert.match(screen[0] ?? '', /^\d\d:\d\d:\d\d {2}sessions: \d+ open, \d+ opened, \d+ closed; events lost: 0; TX \S+\/s RX \S+\/s$/);
      const client = rowOf(screen, stream.clientPid)!;
      const server = rowOf(screen, stream.serverPid)!;
      assert.equal(client[COMM], stream.clientComm);
      assert.equal(server[COMM], stream.serverComm);
      assert.equal(client[REMOTE], endpoint(stream.family, stream.port));
      assert.equal(server[LOCAL], endpoint(stream.family, stream.port));
      assert.equal(client[LOCAL], server[REMOTE], 'the two ends of one session');
      for (const row of [client, server]) {
        assert.equal(row[STATE], 'ESTABLISHED');
        assert.match(row[AGE] ?? '', /^>\d+s$/, 'opened before the trace: a lower bound');
      }
      assert.ok(parseBytes(client[TX_RATE]) > 0 && parseBytes(server[RX_RATE]) > 0, `moving: ${client.join(' ')} / ${server.join(' ')}`);
      assert.equal(client[RX_RATE], '0');
      const txBefore = parseBytes(client[TX]);
      screen = await tmux.waitForScreen('the client\'s TX to grow', (lines) => parseBytes(rowOf(lines, stream.clientPid)?.[TX] ?? '0') > txBefore, 10_000);
      assert.ok(parseBytes(rowOf(screen, stream.serverPid)?.[RX]) > 0);
    }
    tmux.sendKeys('t');
    await tmux.waitForScreen('sorted by TX/s: a client first', (lines) => lines[1]?.includes('sort: TX/s;') === true && streams.some((stream) => rows(lines)[0]?.[PID] === String(stream.clientPid)));
    tmux.sendKeys('q');
    const screen = await tmux.assertRestored(0);
    assert.ok(screen.some((line) => /^tcplife: \d+ events read, 0 lost$/.test(line)), screen.join('\n'));
  });

  it('Ctrl-C and SIGTERM end it with the terminal restored', async () => {
    for (const end of ['C-c', 'SIGTERM'] as const) {
      const tmux = await openTerminal();
      tmux.runCommand(`${process.execPath} ${TCPLIFE_BIN} --top --interval 0.5`);
      await tmux.waitForScreen('the first frame', (lines) => rowOf(lines, streams[0]!.clientPid) !== undefined, 15_000);
      if (end === 'C-c') tmux.sendKeys('C-c');
      else for (const pid of tmux.shellChildren()) process.kill(pid, 'SIGTERM');
      const screen = await tmux.assertRestored(0);
      assert.ok(screen.some((line) => /^tcplife: \d+ events read, 0 lost$/.test(line)), `${end}:\n${screen.join('\n')}`);
    }
  });

  it('without a terminal: the same table as plain text each interval', async () => {
    const stream = streams[0]!;
    const tracer = await TracerProcess.attach('tcplife', ['--top', '--interval', '0.3']);
    await tracer.waitForStdout((line) => line.trimStart().startsWith(`${stream.clientPid} `), 'the client\'s row');
    const tables = () => tracer.stdout.text.split('\n\n').filter((table) => table.includes('PID COMM'));
    await tracer.waitForStdout(() => tables().length >= 3, 'three tables');
    const finished = await tracer.finish('SIGINT');
    assert.equal(finished.code, 0);
    assert.ok(!finished.stdoutText.includes('\x1b'), 'no escape sequences');
    for (const table of tables()) {
      const lines = table.split('\n');
      assert.match(lines[0] ?? '', /^\d\d:\d\d:\d\d {2}sessions: \d+ open, /);
      assert.match(lines[1] ?? '', /^ *PID COMM +LOCAL +REMOTE +STATE +AGE TX\/s RX\/s +TX +RX$/);
    }
    const client = rowOf(tables().at(-1)!.split('\n'), stream.clientPid);
    assert.deepEqual(client?.slice(0, 5), [String(stream.clientPid), stream.clientComm, client?.[LOCAL], endpoint(4, stream.port), 'ESTABLISHED']);
  });

  it('options about rows are refused beside it, one line, exit 2', async () => {
    const tracer = TracerProcess.start(['--top', '--json'], process.env, { tool: 'tcplife' });
    const finished = tracer.finished(await tracer.exited);
    assert.equal(finished.code, 2);
    assert.ok(finished.stderrText.includes('--top: not with --json'), finished.stderrText);
  });
});
