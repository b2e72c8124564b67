// SPDX-License-Identifier: MIT
// tcpstates -Y/--journal on the real kernel (as root): a python3 process
// binds a real AF_UNIX datagram socket in place of journald's (through
// TCPSTATES_JOURNAL_SOCKET) and hands back every datagram; each must be the
// bcc journal entry of one row. One client runs with a comm holding a
// newline, which needs the protocol's binary form. And -Y without a journal
// fails at start with a clear message.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TcpstatesJson } from '../../src/format/json.js';
import { adopt } from '../../harness/children.js';
import { JournalReceiver } from '../../harness/journal-receiver.js';
import { clientSession, startServer, untilTraced, type LoopbackServer } from '../../harness/loopback.js';
import { TracerProcess, runTracerToExit } from '../../harness/tracer-process.js';
import { requireRoot } from '../../harness/system.js';

requireRoot();

/** Sets its comm to "jr\nnl" (process.title does prctl(PR_SET_NAME)) and
 * makes one connection. */
const NEWLINE_CLIENT = String.raw`
process.title = 'jr\nnl';
const socket = require('node:net').connect({ host: '127.0.0.1', port: Number(process.argv[1]) });
socket.on('connect', () => socket.end());
socket.on('close', () => process.exit(0));
socket.resume();
`;

/** The entry bcc's journal_fields() makes of a row, as root (no OBJECT_COMM). */
function expectedEntry(row: TcpstatesJson): [string, string][] {
  const ip = row.family === 6 ? 'IPV6' : 'IPV4';
  return [
    ['SYSLOG_IDENTIFIER', 'tcpstates'],
    ['PRIORITY', '5'],
    ['OBJECT_PID', String(row.pid)],
    [`OBJECT_${ip}_SOURCE_ADDRESS`, row.laddr],
    ['OBJECT_TCP_SOURCE_PORT', String(row.lport)],
    [`OBJECT_${ip}_DESTINATION_ADDRESS`, row.raddr],
    ['OBJECT_TCP_DESTINATION_PORT', String(row.rport)],
    ['OBJECT_TCP_OLD_STATE', row.oldstate],
    ['OBJECT_TCP_NEW_STATE', row.newstate],
    ['OBJECT_TCP_SPAN_TIME', String(Math.round(row.duration_ms * 1000))],
    ['MESSAGE', `${row.comm} ${row.laddr} ${row.lport} → ${row.raddr} ${row.rport} ${row.oldstate} → ${row.newstate}`],
  ];
}

describe('tcpstates -Y (kernel)', () => {
  let server4: LoopbackServer;
  let server6: LoopbackServer;
  let receiver: JournalReceiver;
  before(async () => {
    server4 = await startServer('127.0.0.1');
    server6 = await startServer('::1');
    receiver = await JournalReceiver.start();
  });
  after(async () => {
    receiver.stop();
    await Promise.all([server4.close(), server6.close()]);
  });

  it('sends one journal entry per row, with the fields of that row', async () => {
    const tracer = TracerProcess.start(['-Y', '--json', '-D', `${server4.port},${server6.port}`], {
      ...process.env,
      TCPSTATES_JOURNAL_SOCKET: receiver.path,
    });
    try {
      // With -D, the only rows are our client sockets: the first one shows
      // the tracer is attached (those rows are journaled and checked too).
      await untilTraced(server4, () => tracer.stdoutLines.length > 0);
      await clientSession('::1', server6.port, 5);
      const child = adopt(spawn(process.execPath, ['-e', NEWLINE_CLIENT, String(server4.port)], { stdio: 'ignore' }));
      const [childCode] = (await once(child, 'exit')) as [number];
      assert.equal(childCode, 0);
      await tracer.waitForStdout((line) => line.includes('"comm":"jr\\nnl"'), 'the newline client');
      await tracer.waitForStdout((line) => line.includes('"family":6') && line.includes('"newstate":"FIN_WAIT1"'), 'the IPv6 close');
      assert.deepEqual(await tracer.stop('SIGINT'), { code: 0, signal: null });

      const rows = tracer.stdoutLines.map((line) => JSON.parse(line) as TcpstatesJson);
      await receiver.waitForCount(rows.length);
      const entries = receiver.entries();
      assert.equal(entries.length, rows.length, 'one entry per row');
      entries.forEach((entry, index) => assert.deepEqual(entry, expectedEntry(rows[index]!), `entry ${index}`));

      const ipv6 = entries.find((entry) => entry.some(([name]) => name === 'OBJECT_IPV6_SOURCE_ADDRESS'));
      assert.ok(ipv6 !== undefined);
      assert.deepEqual(new Map(ipv6).get('OBJECT_IPV6_DESTINATION_ADDRESS'), '::1');

      // The newline comm: MESSAGE in the binary form (NAME\n + u64 length).
      const newlineIndex = rows.findIndex((row) => row.comm === 'jr\nnl');
      const message = `jr\nnl 127.0.0.1 0 → 127.0.0.1 ${server4.port} CLOSE → SYN_SENT`;
      assert.equal(new Map(entries[newlineIndex]!).get('MESSAGE'), message);
      const binary = Buffer.concat([Buffer.from('MESSAGE\n'), Buffer.alloc(8), Buffer.from(`${message}\n`)]);
      binary.writeBigUInt64LE(BigInt(Buffer.byteLength(message)), 'MESSAGE\n'.length);
      assert.ok(Buffer.from(receiver.datagrams[newlineIndex]!).includes(binary));

      const journalLine = JSON.parse(tracer.stderrLines.at(-1)!) as Record<string, unknown>;
      assert.deepEqual(journalLine, {
        tool: 'tcpstates',
        message: `journal: ${rows.length} entries sent, 0 not delivered`,
        journal_sent: rows.length,
        journal_not_delivered: 0,
      });
    } finally {
      await tracer.stop('SIGKILL').catch(() => {});
    }
  });

  it('fails at start, exit 1, when no journal socket exists', async () => {
    const path = join(receiver.directory, 'missing');
    const result = await runTracerToExit(['-Y'], { ...process.env, TCPSTATES_JOURNAL_SOCKET: path });
    assert.equal(result.code, 1);
    assert.deepEqual(result.stdout, []);
    assert.deepEqual(result.stderr, [
      `tcpstates: -Y/--journal: no systemd journal socket at "${path}"`,
      'tcpstates: is systemd-journald running? (systemctl status systemd-journald.socket)',
    ]);
  });

  it('fails at start, exit 1, when nothing listens on the socket', async () => {
    const path = join(receiver.directory, 'stale');
    const bind = adopt(spawn('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).bind(sys.argv[1])', path]));
    assert.deepEqual(await once(bind, 'exit'), [0, null]);
    const result = await runTracerToExit(['-Y'], { ...process.env, TCPSTATES_JOURNAL_SOCKET: path });
    assert.equal(result.code, 1);
    assert.deepEqual(result.stderr, [
      `tcpstates: -Y/--journal: nothing listens on the journal socket "${path}"`,
      'tcpstates: is systemd-journald running? (systemctl status systemd-journald.socket)',
    ]);
  });
});
