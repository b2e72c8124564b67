// SPDX-License-Identifier: MIT
// tcpstates on the real kernel: load, attach, real loopback connections,
// and the exact transitions of the test's own sockets.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TIMER_SLACK_MS,
  clientSession,
  refusedConnection,
  onLoopback,
  settle,
  startServer,
  type Ending,
  type LoopbackHost as Host,
} from '../../harness/loopback.js';
import { bySocket, parseCsvRow, parseTextRow, transition, type StateRow } from '../../harness/rows.js';
import { requireRoot } from '../../harness/system.js';
import { TracerProcess } from '../../harness/tracer-process.js';

requireRoot();

/** An echo server of our own (the client waits for its answer, so the hold is all ESTABLISHED). */
const echoServer = (host: Host) => startServer(host, { echo: true });

/** A connection that exchanges a line, is held `holdMs`, then ends by `ending`; resolves with the client's port. */
async function connection(host: Host, port: number, ending: Ending, holdMs = 0): Promise<number> {
  return (await clientSession(host, port, holdMs, 'ping\n', { ending, awaitAnswer: true })).localPort;
}

const CLIENT_FIN = ['CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED', 'ESTABLISHED->FIN_WAIT1', 'FIN_WAIT1->FIN_WAIT2', 'FIN_WAIT2->CLOSE'];
const SERVER_FIN = ['LISTEN->SYN_RECV', 'SYN_RECV->ESTABLISHED', 'ESTABLISHED->CLOSE_WAIT', 'CLOSE_WAIT->LAST_ACK', 'LAST_ACK->CLOSE'];
const CLIENT_RST = ['CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED', 'ESTABLISHED->CLOSE'];
const SERVER_RST = ['LISTEN->SYN_RECV', 'SYN_RECV->ESTABLISHED', 'ESTABLISHED->CLOSE'];
const LISTENER = ['CLOSE->LISTEN', 'LISTEN->CLOSE'];
const HOLD_MS = 120;

/** One connection of each ending to a fresh server; returns the rows of its port. */
async function traceOneConnection(host: Host, ending: Ending, args: string[]) {
  const tracer = await TracerProcess.attach('tcpstates', args);
  // Monotonic, and read before the first transition and after the last:
  // every duration of the run lies within it, however slow the machine.
  const started = performance.now();
  const server = await echoServer(host);
  const port = server.port;
  const clientPort = await connection(host, port, ending, HOLD_MS);
  await server.close();
  await settle();
  const result = await tracer.finish();
  const elapsedMs = performance.now() - started;
  const stderr = result.stderr.join('\n');
  assert.equal(result.code, 0, stderr);
  const wide = args.includes('-w');
  const rows = result.stdout
    .slice(1)
    .map((line) => parseTextRow(line, wide))
    .filter((row) => (row.lport === port || row.rport === port) && row.laddr === host);
  return { rows, port, clientPort, elapsedMs, header: result.stdout[0], stderr };
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
  const tracer = await TracerProcess.attach('tcpstates', []);
  const started = performance.now();
  const port = await refusedConnection('127.0.0.1');
  await settle();
  const result = await tracer.finish();
  const rows = result.stdout.slice(1).map((line) => parseTextRow(line)).filter((row) => row.rport === port && onLoopback(row));
  assertSocketRows(rows, ['CLOSE->SYN_SENT', 'SYN_SENT->CLOSE'], performance.now() - started, 'refused client');
});

test('filters -L, -D, -4 and -6 run in the kernel and select exactly their rows', async () => {
  const server4 = await echoServer('127.0.0.1');
  const server6 = await echoServer('::1');
  const [port4, port6] = [server4.port, server6.port];
  const tracers = await Promise.all([
    TracerProcess.attach('tcpstates', ['-L', `${port4},${port6}`]),
    TracerProcess.attach('tcpstates', ['-D', String(port4)]),
    TracerProcess.attach('tcpstates', ['-4']),
    TracerProcess.attach('tcpstates', ['-6', '-w']),
  ]);
  await connection('127.0.0.1', port4, 'fin');
  await connection('::1', port6, 'fin');
  await server4.close();
  await server6.close();
  await settle();
  const [local, remote, v4, v6] = await Promise.all(tracers.map((t) => t.finish()));
  const ours = (row: StateRow) => ([port4, port6].includes(row.lport) || [port4, port6].includes(row.rport)) && onLoopback(row);

  const localRows = local!.stdout.slice(1).map((l) => parseTextRow(l));
  assert.ok(localRows.every((r) => r.lport === port4 || r.lport === port6), '-L: only rows with those local ports');
  // Server children and listeners of both servers, nothing of the clients.
  assert.deepEqual(
    localRows.filter(onLoopback).map(transition).sort(),
    [...SERVER_FIN, ...SERVER_FIN, 'LISTEN->CLOSE', 'LISTEN->CLOSE'].sort(),
    '-L rows (the listeners were created before the tracer started)',
  );

  const remoteRows = remote!.stdout.slice(1).map((l) => parseTextRow(l));
  assert.ok(remoteRows.every((r) => r.rport === port4));
  assert.deepEqual(remoteRows.filter(onLoopback).map(transition), CLIENT_FIN, '-D: the IPv4 client only');

  const v4Rows = v4!.stdout.slice(1).map((l) => parseTextRow(l)).filter(ours);
  assert.ok(v4Rows.length > 0 && v4Rows.every((r) => r.laddr === '127.0.0.1'), '-4: IPv4 rows only');
  const v6Rows = v6!.stdout.slice(1).map((l) => parseTextRow(l, true));
  assert.ok(v6Rows.length > 0 && v6Rows.every((r) => r.ip === '6'), '-6: IPv6 rows only');
  assert.ok(v6Rows.filter(ours).length >= 10);
});

test('-s -t -T prints CSV rows with wall clock and relative seconds', async () => {
  const tracer = await TracerProcess.attach('tcpstates', ['-stT']);
  const server = await echoServer('127.0.0.1');
  const port = server.port;
  await connection('127.0.0.1', port, 'fin');
  await server.close();
  await settle();
  const result = await tracer.finish();
  assert.equal(result.stdout[0], 'TIME,TIME(s),SKADDR,C-PID,C-COMM,IP,LADDR,LPORT,RADDR,RPORT,OLDSTATE,NEWSTATE,MS');
  const rows = result.stdout.slice(1).map(parseCsvRow);
  assert.ok(rows.length >= 12);
  assert.equal(rows[0]?.seconds, '0.000000', 'seconds count from the first row');
  for (const row of rows) {
    assert.match(row.time ?? '', /^\d\d:\d\d:\d\d$/);
    assert.match(row.seconds ?? '', /^\d+\.\d{6}$/);
    assert.match(row.skaddr, /^[0-9a-f]+$/);
    assert.match(row.msText, /^\d+\.\d{3}$/);
  }
  assert.ok(rows.filter((r) => (r.rport === port || r.lport === port) && onLoopback(r)).every((r) => r.ip === '4'));
  // No colour codes when stdout is not a terminal.
  assert.ok(!tracer.stdout.text.includes('\x1b['));
});

test('rows reach a pipe while the tool runs, not only at exit', async () => {
  const tracer = await TracerProcess.attach('tcpstates', []);
  const server = await echoServer('127.0.0.1');
  const port = server.port;
  const started = performance.now();
  await connection('127.0.0.1', port, 'fin');
  // The property: the rows arrive while the tracer still runs (a tool that
  // block-buffered its pipe would hold these few hundred bytes until exit).
  // How fast is not asserted tightly: on a busy 2-core machine a process can
  // wait seconds for a CPU, so the wait and the bound are generous.
  await tracer.stdout.waitFor((line) => line.includes(` ${port} `) && line.includes('LAST_ACK    -> CLOSE'), 10_000, 'the rows');
  const latencyMs = performance.now() - started;
  const stillRunning = tracer.child.exitCode === null && tracer.child.signalCode === null;
  await server.close();
  const result = await tracer.stop();
  assert.equal(result.code, 0);
  assert.ok(stillRunning, 'the rows came before the tracer exited');
  assert.ok(latencyMs < 10_000, `rows arrived ${latencyMs} ms after the connection`);
});
