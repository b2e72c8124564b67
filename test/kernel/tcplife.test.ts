// SPDX-License-Identifier: MIT
// tcplife on the real kernel (root): a server process and a client process of
// our own exchange known byte counts over loopback and close by FIN or RST;
// each side must get exactly one row naming its own process, its bytes and
// a lifespan covering the time the connection was held. The tracer always
// runs with tracefs and debugfs unmounted (a private mount namespace).

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { runPeers, runRstClient, startListener, type CloseHow, type Closer, type Family, type PeerPlan, type PeerRun } from '../../harness/peers.js';
import { parseLifeCsvRow as parseCsvRow, type LifeRow as CsvRow } from '../../harness/rows.js';
import { PROMPTLY_MS, bpfObjectsOf, requireRoot, withoutTracefsWrapper } from '../../harness/system.js';
import { TracerProcess as Tracer } from '../../harness/tracer-process.js';
import { DATA_READY_TRACEPOINT, DATA_READY_TRACEPOINT_TYPE, kernelBtfHasName } from '../../src/bpf/preflight.js';
import { bindLibbpf } from '../../src/ffi/libbpf.js';
import { TIMER_SLACK_MS } from '../../harness/loopback.js';

requireRoot();

/** bin/tcplife, attached, in a private mount namespace with tracefs and debugfs unmounted. */
const startTcplife = (args: readonly string[]) => Tracer.attach('tcplife', args, { wrapper: withoutTracefsWrapper() });

// Sizes away from multiples of 1024: the kernel counts the SYN, the FIN and
// the protocol's two sync bytes too (at most 3 bytes more), which must not
// move the KB columns.
const REQUEST_BYTES = 3000; // client -> server: 2 KB
const RESPONSE_BYTES = 100_000; // server -> client: 97 KB
const HOLD_MS = 150;
// A wait for rows, not a bound: generous for a busy machine, and no slower when they come.
const ROW_WAIT_MS = PROMPTLY_MS;

const LOOPBACK: Record<Family, string> = { 4: '127.0.0.1', 6: '::1' };

function plan(family: Family, closer: Closer, how: CloseHow, connections = 1): PeerPlan {
  return { family, requestBytes: REQUEST_BYTES, responseBytes: RESPONSE_BYTES, closer, how, holdMs: HOLD_MS, connections };
}

function csvRows(tracer: Tracer): CsvRow[] {
  return tracer.stdout.lines.map(parseCsvRow).filter((row) => row !== null);
}

function clientRowsOf(rows: readonly CsvRow[], run: PeerRun, localPort: number): CsvRow[] {
  return rows.filter((row) => row.localPort === localPort && row.remotePort === run.serverPort);
}

function serverRowsOf(rows: readonly CsvRow[], run: PeerRun, clientPort: number): CsvRow[] {
  return rows.filter((row) => row.localPort === run.serverPort && row.remotePort === clientPort);
}

/** Waits until the tracer has printed both rows of every connection of `run`. */
async function waitForRows(tracer: Tracer, run: PeerRun): Promise<void> {
  const complete = () =>
    run.connections.every(
      ({ localPort }) =>
        clientRowsOf(csvRows(tracer), run, localPort).length > 0 && serverRowsOf(csvRows(tracer), run, localPort).length > 0,
    );
  const deadline = Date.now() + ROW_WAIT_MS;
  while (!complete() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}

async function stopCleanly(tracer: Tracer): Promise<void> {
  const exit = await tracer.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, `tracer stderr: ${tracer.stderr.lines.join('\n')}`);
  const summary = tracer.stderr.lines.at(-1) ?? '';
  assert.match(summary, /^tcplife: \d+ events read, 0 lost$/);
}

interface Expectation {
  readonly family: Family;
  readonly run: PeerRun;
  readonly elapsedMs: number;
  readonly label: string;
}

/** Both rows of every connection: owner, addresses, bytes and lifespan. */
function assertSessionRows(rows: readonly CsvRow[], { family, run, elapsedMs, label }: Expectation): void {
  const address = LOOPBACK[family];
  for (const { localPort } of run.connections) {
    const client = clientRowsOf(rows, run, localPort);
    const server = serverRowsOf(rows, run, localPort);
    assert.equal(client.length, 1, `${label}: one client row for port ${localPort}, got ${JSON.stringify(client)}`);
    assert.equal(server.length, 1, `${label}: one server row for port ${localPort}, got ${JSON.stringify(server)}`);
    const sides = [
      { row: client[0]!, pid: run.clientPid, comm: run.clientTitle, txKib: 2, rxKib: 97, side: 'client' },
      { row: server[0]!, pid: run.serverPid, comm: run.serverTitle, txKib: 97, rxKib: 2, side: 'server' },
    ];
    for (const { row, pid, comm, txKib, rxKib, side } of sides) {
      const where = `${label}, ${side} row ${JSON.stringify(row)}`;
      assert.equal(row.pid, pid, `${where}: owner PID`);
      assert.equal(row.comm, comm, `${where}: owner COMM`);
      assert.equal(row.ip, family, where);
      assert.equal(row.localAddress, address, where);
      assert.equal(row.remoteAddress, address, where);
      assert.equal(row.txKib, txKib, `${where}: TX_KB`);
      assert.equal(row.rxKib, rxKib, `${where}: RX_KB`);
      // The session includes the handshake and the hold; it cannot outlast
      // the peers' run.
      assert.ok(row.ms >= HOLD_MS - TIMER_SLACK_MS, `${where}: lifespan ${row.ms} ms shorter than the ${HOLD_MS} ms hold`);
      assert.ok(row.ms <= elapsedMs + 1, `${where}: lifespan ${row.ms} ms longer than the run (${elapsedMs} ms)`);
    }
  }
}

async function timedPeers(peerPlan: PeerPlan, afterListening?: (server: { pid: number; port: number }) => Promise<void>) {
  const startedMs = Date.now();
  const run = await runPeers(peerPlan, afterListening ? { afterListening } : {});
  return { run, elapsedMs: Date.now() - startedMs };
}

test('one row per side with the real owner, bytes and lifespan: IPv4/IPv6 x FIN/RST x client/server closes', async () => {
  const tracer = await startTcplife(['-s']);
  try {
    const expectations: Expectation[] = [];
    for (const family of [4, 6] as const) {
      for (const how of ['fin', 'rst'] as const) {
        for (const closer of ['client', 'server'] as const) {
          const { run, elapsedMs } = await timedPeers(plan(family, closer, how));
          expectations.push({ family, run, elapsedMs, label: `IPv${family} ${how} by ${closer}` });
        }
      }
    }
    for (const { run } of expectations) await waitForRows(tracer, run);
    const rows = csvRows(tracer);
    for (const expectation of expectations) assertSessionRows(rows, expectation);
    // The listening sockets are not sessions: no row has a server port on
    // the left and a zero remote port.
    for (const { run } of expectations) {
      assert.deepEqual(rows.filter((row) => row.localPort === run.serverPort && row.remotePort === 0), []);
    }
  } finally {
    await stopCleanly(tracer);
  }
});

test('a listener that predates tracing: the server rows are owned by the process that accept()s', async () => {
  for (const family of [4, 6] as const) {
    let tracer: Tracer | undefined;
    try {
      // The client's RST closes the server's socket in softirq, on loopback
      // in the client's context: only accept() names the server here.
      const { run, elapsedMs } = await timedPeers(plan(family, 'client', 'rst', 2), async () => {
        tracer = await startTcplife(['-s']);
      });
      await waitForRows(tracer!, run);
      assertSessionRows(csvRows(tracer!), { family, run, elapsedMs, label: `IPv${family} listener before tracing` });
    } finally {
      if (tracer) await stopCleanly(tracer);
    }
  }
});

test('sessions never accepted belong to the listener: from its listen(), or from an accept() when it predates tracing', async () => {
  const tracer = await startTcplife(['-s']);
  try {
    const cases: { label: string; family: Family; listener: { pid: number; title: string; port: number }; clientPort: number; client: { pid: number; title: string } }[] = [];
    for (const family of [4, 6] as const) {
      // listen() seen: its process provisionally owns every child.
      const fresh = await startListener(family);
      try {
        const client = await runRstClient(family, fresh.port, REQUEST_BYTES, 50);
        cases.push({ label: `IPv${family} listen() seen`, family, listener: fresh, clientPort: client.localPort, client });
      } finally {
        await fresh.close();
      }
    }
    // A listener that predates this tracer: the first accept() on it teaches
    // who serves the port, and a later connection reset before any accept()
    // is attributed to that process.
    const late: Tracer[] = [];
    try {
      for (const family of [4, 6] as const) {
        const listener = await startListener(family);
        try {
          const second = await startTcplife(['-s']);
          late.push(second);
          const accepted = listener.acceptOne();
          const first = await runRstClient(family, listener.port, REQUEST_BYTES, 50);
          await accepted;
          const client = await runRstClient(family, listener.port, REQUEST_BYTES, 50);
          cases.push({ label: `IPv${family} accepted before`, family, listener, clientPort: first.localPort, client: first });
          cases.push({ label: `IPv${family} learnt from accept()`, family, listener, clientPort: client.localPort, client });
        } finally {
          await listener.close();
        }
      }
      for (const { label, family, listener, clientPort, client } of cases) {
        const source = label.includes('listen()') ? tracer : late[family === 4 ? 0 : 1]!;
        const wait = (match: (row: CsvRow) => boolean, what: string) =>
          source.stdout.waitFor((line) => { const row = parseCsvRow(line); return row !== null && match(row); }, ROW_WAIT_MS, `${label}: ${what}`);
        const serverRow = parseCsvRow(await wait((row) => row.localPort === listener.port && row.remotePort === clientPort, 'server row'))!;
        const clientRow = parseCsvRow(await wait((row) => row.localPort === clientPort && row.remotePort === listener.port, 'client row'))!;
        assert.deepEqual([serverRow.pid, serverRow.comm, serverRow.txKib, serverRow.rxKib], [listener.pid, listener.title, 0, 2], label);
        assert.deepEqual([clientRow.pid, clientRow.comm, clientRow.txKib, clientRow.rxKib], [client.pid, client.title, 2, 0], label);
      }
    } finally {
      for (const tracer of late) await stopCleanly(tracer);
    }
  } finally {
    await stopCleanly(tracer);
  }
});

test('-p (owner PID, applied at CLOSE), -L, -D and -4 filter in the kernel', async () => {
  const tracers: Record<string, Tracer> = {};
  try {
    // IPv6, closed by the client's RST: the server's CLOSE runs in the
    // client's context, so -p on the server PID passes only by owner.
    const { run } = await timedPeers(plan(6, 'client', 'rst', 2), async (server) => {
      const [byPid, byLocalPort, byRemotePort, ipv4Only, unfiltered] = await Promise.all([
        startTcplife(['-s', '-p', `${server.pid},1`]),
        startTcplife(['-s', '-L', String(server.port)]),
        startTcplife(['-s', '-D', `1,${server.port}`]),
        startTcplife(['-s', '-4']),
        startTcplife(['-s']),
      ]);
      Object.assign(tracers, { byPid, byLocalPort, byRemotePort, ipv4Only, unfiltered });
    });
    // Every filtered tracer ran as long as the unfiltered one. Once that has
    // all rows, stop them all: a tracer reads what is left in its rings
    // before it exits (robust-signals checks it), so their output is then
    // complete. (Not a pause: a busy machine can keep a tracer off the CPU
    // for longer than its 10 ms read interval.)
    await waitForRows(tracers.unfiltered!, run);
    for (const tracer of Object.values(tracers)) await tracer.stop();
    const ours = (tracer: Tracer) => {
      const rows = csvRows(tracer);
      return run.connections.flatMap(({ localPort }) => [
        ...clientRowsOf(rows, run, localPort).map(() => 'client'),
        ...serverRowsOf(rows, run, localPort).map(() => 'server'),
      ]);
    };
    assert.deepEqual(ours(tracers.unfiltered!), ['client', 'server', 'client', 'server']);
    assert.deepEqual(ours(tracers.byPid!), ['server', 'server']);
    assert.ok(csvRows(tracers.byPid!).every((row) => row.pid === run.serverPid || row.pid === 1), 'only the listed PIDs pass -p');
    assert.deepEqual(ours(tracers.byLocalPort!), ['server', 'server']);
    assert.ok(csvRows(tracers.byLocalPort!).every((row) => row.localPort === run.serverPort));
    assert.deepEqual(ours(tracers.byRemotePort!), ['client', 'client']);
    assert.ok(csvRows(tracers.byRemotePort!).every((row) => row.remotePort === run.serverPort || row.remotePort === 1));
    assert.deepEqual(ours(tracers.ipv4Only!), []);
    assert.ok(csvRows(tracers.ipv4Only!).every((row) => row.ip === 4));
  } finally {
    for (const tracer of Object.values(tracers)) await stopCleanly(tracer);
  }
});

test('default, -w and -t layouts on the real kernel: exact header, bcc-shaped rows', async () => {
  const tracers: Record<string, Tracer> = {};
  try {
    const [text, wide, timestamped] = await Promise.all([startTcplife([]), startTcplife(['-w']), startTcplife(['-t'])]);
    Object.assign(tracers, { text, wide, timestamped });
    const { run } = await timedPeers(plan(6, 'server', 'fin'));
    const localPort = run.connections[0]!.localPort;
    const rowFor = (tracer: Tracer, pid: number) =>
      tracer.stdout.waitFor((line) => line.startsWith(`${pid} `) && line.includes(` ${localPort} `), ROW_WAIT_MS, `row of ${pid}`);
    const rowForTimestamped = (pid: number) =>
      tracers.timestamped!.stdout.waitFor((line) => line.includes(` ${pid} `) && line.includes(` ${localPort} `), ROW_WAIT_MS, `row of ${pid}`);

    assert.equal(text.stdout.lines[0], 'PID   COMM       LADDR           LPORT RADDR           RPORT TX_KB RX_KB MS');
    const textClient = await rowFor(text, run.clientPid);
    const port = (value: number) => String(value).padEnd(5);
    const textPrefix = `${port(run.clientPid)} ${run.clientTitle.padEnd(10)} ${'::1'.padEnd(15)} ${port(localPort)} ${'::1'.padEnd(15)} ${port(run.serverPort)}     2    97 `;
    assert.equal(textClient.slice(0, textPrefix.length), textPrefix);
    assert.match(textClient.slice(textPrefix.length), /^\d+\.\d\d$/);

    assert.equal(
      wide.stdout.lines[0],
      'PID   COMM             IP LADDR                                   LPORT RADDR                                   RPORT  TX_KB  RX_KB MS',
    );
    const wideServer = await rowFor(wide, run.serverPid);
    const widePrefix = `${port(run.serverPid)} ${run.serverTitle.padEnd(16)} 6  ${'::1'.padEnd(39)} ${port(run.serverPort)} ${'::1'.padEnd(39)} ${port(localPort)}     97      2 `;
    assert.equal(wideServer.slice(0, widePrefix.length), widePrefix);
    assert.match(wideServer.slice(widePrefix.length), /^\d+\.\d\d$/);

    assert.equal(timestamped.stdout.lines[0], 'TIME(s)   PID   COMM       LADDR           LPORT RADDR           RPORT TX_KB RX_KB MS');
    assert.match(await rowForTimestamped(run.serverPid), /^\d+\.\d{6} {1,}\d+ +tlsrv/);
  } finally {
    for (const tracer of Object.values(tracers)) await stopCleanly(tracer);
  }
});

/** The BPF links a process holds, from its fds' fdinfo. */
function linksHeldBy(pid: number): number[] {
  return bpfObjectsOf(pid).links.map((link) => link.id);
}

/** The tracepoint of a live link, or null once it is gone. */
function linkTracepoint(id: number): string | null {
  try {
    const link = JSON.parse(execFileSync('bpftool', ['-j', 'link', 'show', 'id', String(id)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { tp_name?: string };
    return link.tp_name ?? '';
  } catch {
    return null;
  }
}

test('the tracepoint probe that decides on sk_data_ready agrees with the kernel BTF, and says no to a made-up name', () => {
  const libbpf = bindLibbpf();
  assert.equal(libbpf.rawTracepointExists('inet_sock_set_state'), true);
  assert.equal(libbpf.rawTracepointExists(DATA_READY_TRACEPOINT), kernelBtfHasName(DATA_READY_TRACEPOINT_TYPE));
  assert.equal(libbpf.rawTracepointExists('tcpstates_no_such_tracepoint'), false);
});

test('SIGTERM ends tcplife cleanly and detaches all of its programs', async () => {
  const tracer = await startTcplife([]);
  let links: number[] = [];
  try {
    links = linksHeldBy(tracer.pid);
    // sk_data_ready (a listener's waiters) where the kernel has it.
    const dataReady = kernelBtfHasName(DATA_READY_TRACEPOINT_TYPE) ? ['sk_data_ready'] : [];
    assert.deepEqual(links.map(linkTracepoint).sort(), ['inet_sock_set_state', 'inet_sock_set_state', ...dataReady, 'sock_recv_length', 'sock_send_length']);
  } finally {
    const exit = await tracer.stop('SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null });
  }
  assert.deepEqual(links.map(linkTracepoint), links.map(() => null));
});
