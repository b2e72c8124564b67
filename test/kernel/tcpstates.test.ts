// SPDX-License-Identifier: MIT
// tcpstates on the real kernel: load, attach, real loopback connections,
// and the exact transitions of the test's own sockets.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  closeServer,
  connection,
  refusedConnection,
  settle,
  startServer,
  startTool,
  type Ending,
  type Host,
} from './harness.js';
import { bySocket, parseCsvRow, parseTextRow, transition, type StateRow } from './rows.js';
import { TIMER_SLACK_MS } from '../support/loopback.js';

const CLIENT_FIN = ['CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED', 'ESTABLISHED->FIN_WAIT1', 'FIN_WAIT1->FIN_WAIT2', 'FIN_WAIT2->CLOSE'];
const SERVER_FIN = ['LISTEN->SYN_RECV', 'SYN_RECV->ESTABLISHED', 'ESTABLISHED->CLOSE_WAIT', 'CLOSE_WAIT->LAST_ACK', 'LAST_ACK->CLOSE'];
const CLIENT_RST = ['CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED', 'ESTABLISHED->CLOSE'];
const SERVER_RST = ['LISTEN->SYN_RECV', 'SYN_RECV->ESTABLISHED', 'ESTABLISHED->CLOSE'];
const LISTENER = ['CLOSE->LISTEN', 'LISTEN->CLOSE'];
const HOLD_MS = 120;

/** One connection of each ending to a fresh server; returns the rows of its port. */
async function traceOneConnection(host: Host, ending: Ending, args: string[]) {
  const tracer = await startTool('tcpstates', args);
  const started = Date.now();
  const { server, port } = await startServer(host);
  const clientPort = await connection(host, port, ending, HOLD_MS);
  await closeServer(server);
  await settle();
  const result = await tracer.stop();
  const elapsedMs = Date.now() - started;
  assert.equal(result.code, 0, result.stderr);
  const wide = args.includes('-w');
  const rows = result.lines.slice(1).map((line) => parseTextRow(line, wide)).filter((row) => row.lport === port || row.rport === port);
  return { rows, port, clientPort, elapsedMs, header: result.lines[0], stderr: result.stderr };
}

function assertSocketRows(rows: StateRow[], expected: string[], elapsedMs: number, what: string): void {
  assert.deepEqual(rows.map(transition), expected, what);
  assert.equal(rows[0]?.msText, '0.000', `${what}: the first transition seen has no duration`);
  for (const row of rows.slice(1)) {
    assert.ok(row.ms >= 0 && row.ms < elapsedMs, `${what}: ${transition(row)} took ${row.ms} ms, within the ${elapsedMs} ms run`);
  }
}

for (const host of ['127.0.0.1', '::1'] as const) {
  const wide = host === '::1';
  const args = wide ? ['-w'] : [];

  test(`${host}: a FIN close shows every transition of client, server child and listener`, async () => {
    const { rows, port, clientPort, elapsedMs, stderr } = await traceOneConnection(host, 'fin', args);
    const sockets = [...bySocket(rows).values()];
    const client = sockets.find((s) => s.some((r) => r.lport === clientPort && r.rport === port));
    const child = sockets.find((s) => s.some((r) => r.lport === port && r.rport === clientPort));
    const listener = sockets.find((s) => s.every((r) => r.lport === port && r.rport === 0));
    assert.ok(client && child && listener, `all three sockets seen: ${JSON.stringify(rows)}`);
    assertSocketRows(client, CLIENT_FIN, elapsedMs, 'client');
    assertSocketRows(child, SERVER_FIN, elapsedMs, 'server child');
    assertSocketRows(listener, LISTENER, elapsedMs, 'listener');
    assert.equal(sockets.length, 3, 'no other socket uses the port');

    // Ports and addresses as the tracepoint has them: the client's local port
    // is not chosen yet at SYN_SENT.
    assert.deepEqual(client.map((r) => r.lport), [0, clientPort, clientPort, clientPort, clientPort]);
    for (const row of [...client, ...child]) {
      assert.equal(row.laddr, host);
      assert.equal(row.raddr, host);
      if (wide) assert.equal(row.ip, '6');
    }
    // connect() and close() run in the test process itself.
    assert.equal(client[0]?.pid, process.pid);
    assert.equal(client[0]?.comm, 'node');
    // The connection was held HOLD_MS in ESTABLISHED before the client closed.
    const established = client.find((r) => r.oldstate === 'ESTABLISHED');
    assert.ok(established && established.ms >= HOLD_MS - TIMER_SLACK_MS, `ESTABLISHED lasted ${established?.ms} ms, held ${HOLD_MS}`);
    assert.match(stderr, /^tcpstates: \d+ events read, 0 lost$/m);
  });

  test(`${host}: an RST abort closes both ends from ESTABLISHED`, async () => {
    const { rows, port, clientPort, elapsedMs } = await traceOneConnection(host, 'rst', args);
    const sockets = [...bySocket(rows).values()];
    const client = sockets.find((s) => s.some((r) => r.lport === clientPort && r.rport === port));
    const child = sockets.find((s) => s.some((r) => r.lport === port && r.rport === clientPort));
    assert.ok(client && child, JSON.stringify(rows));
    assertSocketRows(client, CLIENT_RST, elapsedMs, 'client');
    assertSocketRows(child, SERVER_RST, elapsedMs, 'server child');
  });
}

test('a refused connect goes SYN_SENT -> CLOSE', async () => {
  const tracer = await startTool('tcpstates', []);
  const started = Date.now();
  const port = await refusedConnection('127.0.0.1');
  await settle();
  const result = await tracer.stop();
  const rows = result.lines.slice(1).map((line) => parseTextRow(line)).filter((row) => row.rport === port);
  assertSocketRows(rows, ['CLOSE->SYN_SENT', 'SYN_SENT->CLOSE'], Date.now() - started, 'refused client');
});

test('filters -L, -D, -4 and -6 run in the kernel and select exactly their rows', async () => {
  const { server: server4, port: port4 } = await startServer('127.0.0.1');
  const { server: server6, port: port6 } = await startServer('::1');
  const tracers = await Promise.all([
    startTool('tcpstates', ['-L', `${port4},${port6}`]),
    startTool('tcpstates', ['-D', String(port4)]),
    startTool('tcpstates', ['-4']),
    startTool('tcpstates', ['-6', '-w']),
  ]);
  await connection('127.0.0.1', port4, 'fin');
  await connection('::1', port6, 'fin');
  await closeServer(server4);
  await closeServer(server6);
  await settle();
  const [local, remote, v4, v6] = await Promise.all(tracers.map((t) => t.stop()));
  const ours = (row: StateRow) => [port4, port6].includes(row.lport) || [port4, port6].includes(row.rport);

  const localRows = local!.lines.slice(1).map((l) => parseTextRow(l));
  assert.ok(localRows.every((r) => r.lport === port4 || r.lport === port6), '-L: only rows with those local ports');
  // Server children and listeners of both servers, nothing of the clients.
  assert.deepEqual(
    localRows.map(transition).sort(),
    [...SERVER_FIN, ...SERVER_FIN, 'LISTEN->CLOSE', 'LISTEN->CLOSE'].sort(),
    '-L rows (the listeners were created before the tracer started)',
  );

  const remoteRows = remote!.lines.slice(1).map((l) => parseTextRow(l));
  assert.ok(remoteRows.every((r) => r.rport === port4));
  assert.deepEqual(remoteRows.map(transition), CLIENT_FIN, '-D: the IPv4 client only');

  const v4Rows = v4!.lines.slice(1).map((l) => parseTextRow(l)).filter(ours);
  assert.ok(v4Rows.length > 0 && v4Rows.every((r) => r.laddr === '127.0.0.1'), '-4: IPv4 rows only');
  const v6Rows = v6!.lines.slice(1).map((l) => parseTextRow(l, true));
  assert.ok(v6Rows.length > 0 && v6Rows.every((r) => r.ip === '6'), '-6: IPv6 rows only');
  assert.ok(v6Rows.filter(ours).length >= 10);
});

test('-s -t -T prints CSV rows with wall clock and relative seconds', async () => {
  const tracer = await startTool('tcpstates', ['-stT']);
  const { server, port } = await startServer('127.0.0.1');
  await connection('127.0.0.1', port, 'fin');
  await closeServer(server);
  await settle();
  const result = await tracer.stop();
  assert.equal(result.lines[0], 'TIME,TIME(s),SKADDR,C-PID,C-COMM,IP,LADDR,LPORT,RADDR,RPORT,OLDSTATE,NEWSTATE,MS');
  const rows = result.lines.slice(1).map(parseCsvRow);
  assert.ok(rows.length >= 12);
  assert.equal(rows[0]?.seconds, '0.000000', 'seconds count from the first row');
  for (const row of rows) {
    assert.match(row.time ?? '', /^\d\d:\d\d:\d\d$/);
    assert.match(row.seconds ?? '', /^\d+\.\d{6}$/);
    assert.match(row.skaddr, /^[0-9a-f]+$/);
    assert.match(row.msText, /^\d+\.\d{3}$/);
  }
  assert.ok(rows.filter((r) => r.rport === port || r.lport === port).every((r) => r.ip === '4'));
  // No colour codes when stdout is not a terminal.
  assert.ok(!result.stdout.includes('\x1b['));
});

test('rows reach a pipe while the tool runs, not only at exit', async () => {
  const tracer = await startTool('tcpstates', []);
  const { server, port } = await startServer('127.0.0.1');
  const started = Date.now();
  await connection('127.0.0.1', port, 'fin');
  await tracer.waitFor((lines) => lines.some((line) => line.includes(` ${port} `) && line.includes('LAST_ACK    -> CLOSE')), 2000, 'the rows');
  const latencyMs = Date.now() - started;
  await closeServer(server);
  const result = await tracer.stop();
  assert.equal(result.code, 0);
  assert.ok(latencyMs < 1000, `rows arrived ${latencyMs} ms after the connection`);
});
