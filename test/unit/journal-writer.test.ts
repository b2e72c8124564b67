// SPDX-License-Identifier: MIT
// Unit tests of JournalWriter's start-up checks, backlog and accounting, on a
// scripted stand-in for the libc calls (the real socket is exercised by
// test/kernel-journal.test.ts).

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { JOURNAL_BACKLOG_MAX, JOURNAL_SOCKET_ENV, JOURNAL_SOCKET_PATH, JournalWriter, journalSocketPath } from '../../src/io/journal.js';
import { PreflightError } from '../../src/errors.js';
import type { UnixDatagramLibc } from '../../src/ffi/unix-dgram.js';

const EAGAIN = 11;

class FakeLibc implements UnixDatagramLibc {
  connectResult = 0;
  /** Results of the next sendTo calls; when empty, every send succeeds. */
  sendResults: number[] = [];
  delivered: Uint8Array[] = [];
  openFds = new Set<number>();
  private nextFd = 10;

  open(): number {
    const fd = this.nextFd++;
    this.openFds.add(fd);
    return fd;
  }
  connect(): number {
    return this.connectResult;
  }
  sendTo(_fd: number, datagram: Uint8Array): number {
    const result = this.sendResults.length > 0 ? this.sendResults.shift()! : datagram.length;
    if (result >= 0) this.delivered.push(datagram);
    return result;
  }
  close(fd: number): void {
    this.openFds.delete(fd);
  }
}

const datagram = (text: string) => new TextEncoder().encode(text);

describe('journalSocketPath', () => {
  it('is the systemd path unless the test variable overrides it', () => {
    assert.equal(JOURNAL_SOCKET_PATH, '/run/systemd/journal/socket');
    assert.equal(journalSocketPath({}), JOURNAL_SOCKET_PATH);
    assert.equal(journalSocketPath({ [JOURNAL_SOCKET_ENV]: '' }), JOURNAL_SOCKET_PATH);
    assert.equal(journalSocketPath({ TCPSTATES_JOURNAL_SOCKET: '/tmp/j.sock' }), '/tmp/j.sock');
  });
});

describe('JournalWriter.open', () => {
  const cases: [number, string, string | undefined][] = [
    [-2, '-Y/--journal: no systemd journal socket at "/x/socket"', 'is systemd-journald running? (systemctl status systemd-journald.socket)'],
    [-111, '-Y/--journal: nothing listens on the journal socket "/x/socket"', 'is systemd-journald running? (systemctl status systemd-journald.socket)'],
    [-13, '-Y/--journal: cannot connect to the journal socket "/x/socket": EACCES', undefined],
    [-36, '-Y/--journal: socket path too long (at most 107 bytes): "/x/socket"', undefined],
  ];
  for (const [errno, message, hint] of cases) {
    it(`explains connect errno ${-errno}, leaving no socket open`, () => {
      const libc = new FakeLibc();
      libc.connectResult = errno;
      assert.throws(
        () => JournalWriter.open('/x/socket', () => {}, libc),
        (error: unknown) => error instanceof PreflightError && error.message === message && error.hint === hint,
      );
      assert.equal(libc.openFds.size, 0);
    });
  }
});

describe('JournalWriter', () => {
  it('sends each datagram and counts it', () => {
    const libc = new FakeLibc();
    const writer = JournalWriter.open('/x', () => {}, libc);
    writer.send(datagram('A=1\n'));
    writer.send(datagram('A=2\n'));
    assert.deepEqual(writer.close(), { sent: 2, notDelivered: 0 });
    assert.equal(libc.delivered.length, 2);
    assert.equal(libc.openFds.size, 0);
  });

  it('keeps what journald cannot take yet and sends it, in order, when it can', async () => {
    const libc = new FakeLibc();
    const writer = JournalWriter.open('/x', () => {}, libc);
    libc.sendResults = [-EAGAIN, -EAGAIN];
    writer.send(datagram('A=1\n'));
    writer.send(datagram('A=2\n')); // A=1 is retried first, and fails again
    assert.equal(writer.pending, 2);
    assert.equal(libc.delivered.length, 0);
    await new Promise((resolve) => setTimeout(resolve, 30)); // the retry timer
    assert.equal(writer.pending, 0);
    assert.deepEqual(libc.delivered.map((d) => new TextDecoder().decode(d)), ['A=1\n', 'A=2\n']);
    assert.deepEqual(writer.close(), { sent: 2, notDelivered: 0 });
  });

  it('counts what is still queued when the exit deadline passes', () => {
    const libc = new FakeLibc();
    const writer = JournalWriter.open('/x', () => {}, libc);
    libc.sendResults = new Array<number>(10_000).fill(-EAGAIN);
    writer.send(datagram('A=1\n'));
    writer.send(datagram('A=2\n'));
    assert.deepEqual(writer.close(5), { sent: 0, notDelivered: 2 });
  });

  it('reports the first failure of a kind once and counts every failed entry', () => {
    const libc = new FakeLibc();
    const problems: [string, Record<string, number>][] = [];
    const writer = JournalWriter.open('/x/socket', (message, fields) => problems.push([message, fields]), libc);
    libc.sendResults = [-111, -111, 4];
    writer.send(datagram('A=1\n'));
    writer.send(datagram('A=2\n'));
    writer.send(datagram('A=3\n'));
    assert.deepEqual(problems, [['journal: cannot send to /x/socket: ECONNREFUSED', { errno: 111 }]]);
    assert.deepEqual(writer.close(), { sent: 1, notDelivered: 2 });
  });

  it('bounds the backlog, counting and reporting what it drops', () => {
    const libc = new FakeLibc();
    const problems: string[] = [];
    const writer = JournalWriter.open('/x', (message) => problems.push(message), libc);
    libc.sendResults = new Array<number>(JOURNAL_BACKLOG_MAX * 3).fill(-EAGAIN);
    for (let i = 0; i < JOURNAL_BACKLOG_MAX + 5; i++) writer.send(datagram('A=1\n'));
    assert.equal(writer.pending, JOURNAL_BACKLOG_MAX);
    assert.deepEqual(problems, [`journal: dropping entries: journald is not keeping up (${JOURNAL_BACKLOG_MAX} waiting)`]);
    libc.sendResults = [];
    assert.deepEqual(writer.close(), { sent: JOURNAL_BACKLOG_MAX, notDelivered: 5 });
  });
});
