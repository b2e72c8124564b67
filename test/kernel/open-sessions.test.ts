// SPDX-License-Identifier: MIT
// --existing and --interval through the tools (root, real kernel): sessions
// that predate the tracer, with bytes moved before and after its start and
// closed while it runs, get their rows with the right owner, bytes to the
// byte and start_seen false; a held session gets OPEN rows each interval
// with growing totals and one at exit; sessions in another network
// namespace, a child reset in the accept queue (no fd) and a CLOSE_WAIT
// socket are seeded. Peers: harness/fixtures/endpoint.py (each end counts what
// it sent and received).
//
// The byte rule (the kernel's, as tcp_info's): tx_bytes is bytes_acked,
// which also counts the SYN of the end that connected (acked by the
// SYN-ACK) and the end's FIN once acked; rx_bytes is bytes_received, which
// counts the peer's FIN if it arrives while the socket is whole. An end that
// close()s before the peer's FIN becomes a FIN_WAIT2 timewait socket as soon
// as its own FIN is acked, unless that ACK brings the peer's FIN (a race), so
// the client here shuts down, waits for the server's FIN, then closes.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { FixturePeer, FIXTURES } from '../../harness/peers.js';
import { createNetns, type TestNetns } from '../../harness/namespaces.js';
import { TracerProcess } from '../../harness/tracer-process.js';
import { requireRoot, sleep } from '../../harness/system.js';

requireRoot();

interface Done {
  sent: number;
  received: number;
}

/** endpoint.py, optionally inside a network namespace. */
function endpoint(args: (string | number)[], netns?: TestNetns): FixturePeer {
  const argv = ['python3', `${FIXTURES}endpoint.py`, ...args.map(String)];
  const command = netns === undefined ? argv : ['ip', 'netns', 'exec', netns.name, ...argv];
  return new FixturePeer(spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] }));
}

const doneCount = new Map<FixturePeer, number>();

/** Sends a command and waits for its "done". */
async function run(peer: FixturePeer, command: string): Promise<Done> {
  const seen = doneCount.get(peer) ?? 0;
  doneCount.set(peer, seen + 1);
  peer.send(command);
  await peer.waitFor(() => peer.lines.filter((line) => line.includes('"event": "done"')).length > seen, `${command} done`);
  return JSON.parse(peer.lines.filter((line) => line.includes('"event": "done"'))[seen]!) as Done;
}

/** A connected pair (server and client processes) on `host`. */
async function pair(host: string, tag: string, netns?: TestNetns) {
  const server = endpoint(['listen', host, `${tag}srv`], netns);
  const { port } = (await server.record('listening')) as unknown as { port: number };
  const client = endpoint(['connect', host, port, `${tag}cli`], netns);
  const { localPort } = (await client.record('connected')) as unknown as { localPort: number };
  await run(server, 'accept');
  return { server, client, port, clientPort: localPort };
}

async function move(from: FixturePeer, to: FixturePeer, bytes: number): Promise<void> {
  await run(from, `send ${bytes}`);
  await run(to, `recv ${bytes}`);
}

type Row = Record<string, unknown>;

function jsonRows(tracer: TracerProcess): Row[] {
  return tracer.stdoutLines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Row);
}

async function rowWhere(tracer: TracerProcess, what: string, match: (row: Row) => boolean): Promise<Row> {
  const line = await tracer.waitForStdout((text) => text.startsWith('{') && match(JSON.parse(text) as Row), what);
  return JSON.parse(line) as Row;
}

async function stopCleanly(tracer: TracerProcess, tool = 'tcplife'): Promise<void> {
  const exit = await tracer.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, tracer.stderr.text);
  assert.match(tracer.stderrLines.at(-1) ?? '', new RegExp(`^(${tool}: |\\{"tool":"${tool}","message":")\\d+ events read, 0 lost`), tracer.stderr.text);
}

const ends = (row: Row) => `${row.lport}->${row.rport}`;

for (const [family, host] of [
  [4, '127.0.0.1'],
  [6, '::1'],
] as const) {
  test(`IPv${family}: a session open before tcplife --existing, bytes moved before and after, closed while it runs: owner, exact bytes, start_seen false`, async () => {
    const { server, client, port, clientPort } = await pair(host, `ex${family}`);
    let tracer: TracerProcess | null = null;
    try {
      await move(client, server, 1000);
      await move(server, client, 300);
      tracer = await TracerProcess.attach('tcplife', ['--existing', '--json']);
      await move(client, server, 500);
      await move(server, client, 70);
      await run(client, 'shutdown');
      const serverDone = await run(server, 'close');
      const clientDone = await run(client, 'close');
      const clientRow = await rowWhere(tracer, 'the client row', (row) => ends(row) === `${clientPort}->${port}`);
      const serverRow = await rowWhere(tracer, 'the server row', (row) => ends(row) === `${port}->${clientPort}`);
      assert.deepEqual([clientRow.pid, clientRow.comm, clientRow.family, clientRow.start_seen], [client.pid, `ex${family}cli`, family, false]);
      assert.deepEqual([serverRow.pid, serverRow.comm, serverRow.start_seen], [server.pid, `ex${family}srv`, false]);
      // The client connected (its SYN) and shut down first (its FIN acked, the server's FIN received).
      assert.deepEqual([clientRow.tx_bytes, clientRow.rx_bytes], [clientDone.sent + 2, clientDone.received + 1]);
      assert.deepEqual([serverRow.tx_bytes, serverRow.rx_bytes], [serverDone.sent + 1, serverDone.received + 1]);
      assert.deepEqual([clientDone.sent, serverDone.received], [1500, 1500]);
      assert.ok((clientRow.duration_ms as number) > 0 && (clientRow.srtt_us as number) > 0, JSON.stringify(clientRow));
      assert.equal(clientRow.event, undefined, 'no "event" without --interval');
    } finally {
      await server.end();
      await client.end();
      if (tracer !== null) await stopCleanly(tracer);
    }
  });
}

test('tcplife --existing --interval: a held session gets OPEN rows each interval it moves, growing totals, and one at exit; the close rows say "close"', async () => {
  const held = await pair('127.0.0.1', 'iv');
  const closing = await pair('127.0.0.1', 'ic');
  let tracer: TracerProcess | null = null;
  try {
    await move(held.client, held.server, 100);
    tracer = await TracerProcess.attach('tcplife', ['--existing', '--interval', '0.3', '--json']);
    const heldClient = (row: Row) => row.event === 'open' && ends(row) === `${held.clientPort}->${held.port}`;
    const txOf = async (at: number) => (await rowWhere(tracer!, `open row with tx ${at}`, (row) => heldClient(row) && row.tx_bytes === at)) as Row;
    await move(held.client, held.server, 1000);
    const first = await txOf(1101);
    await move(held.client, held.server, 2000);
    const second = await txOf(3101);
    assert.deepEqual([first.tx_interval_bytes, second.tx_interval_bytes], [1000, 2000], 'moved since the previous pass');
    assert.deepEqual([first.pid, first.comm, first.state, first.start_seen], [held.client.pid, 'ivcli', 'ESTABLISHED', false]);
    assert.ok((second.duration_ms as number) > (first.duration_ms as number));
    // Idle for two intervals: no rows for it.
    const before = jsonRows(tracer).filter(heldClient).length;
    await sleep(800);
    assert.equal(jsonRows(tracer).filter(heldClient).length, before, 'no OPEN row for an interval without bytes');
    await run(closing.client, 'close');
    await run(closing.server, 'close');
    const close = await rowWhere(tracer, 'a close row', (row) => ends(row) === `${closing.clientPort}->${closing.port}`);
    assert.equal(close.event, 'close');
    await stopCleanly(tracer);
    const last = jsonRows(tracer).filter(heldClient).at(-1)!;
    assert.deepEqual([last.tx_bytes, last.tx_interval_bytes], [3101, 0], 'the row at exit, for a session still open');
    tracer = null;
  } finally {
    for (const peer of [held.server, held.client, closing.server, closing.client]) await peer.end();
    if (tracer !== null) await stopCleanly(tracer);
  }
});

test('text rows with --existing --interval: a TYPE column, and the lower-bound marker on MS', async () => {
  const held = await pair('127.0.0.1', 'tx');
  let tracer: TracerProcess | null = null;
  try {
    tracer = await TracerProcess.attach('tcplife', ['--existing', '--interval', '0.3']);
    assert.ok(tracer.stdoutLines[0]!.startsWith('TYPE  PID   COMM       LADDR'), tracer.stdoutLines[0]);
    await move(held.client, held.server, 5000);
    // The client's row (the server's shows the client's port too, as RPORT).
    const open = await tracer.waitForStdout((line) => line.startsWith(`OPEN  ${held.client.pid} `), 'the client\'s OPEN row');
    assert.match(open, new RegExp(`^OPEN  ${held.client.pid} +txcli +127\\.0\\.0\\.1 +${held.clientPort} +127\\.0\\.0\\.1 +${held.port} +4 +0 >\\d+\\.\\d\\d$`));
    await run(held.client, 'close');
    await run(held.server, 'close');
    const close = await tracer.waitForStdout((line) => line.startsWith(`CLOSE ${held.client.pid} `), 'the client\'s CLOSE row');
    assert.match(close, />\d+\.\d\d$/);
  } finally {
    await held.server.end();
    await held.client.end();
    if (tracer !== null) await stopCleanly(tracer);
  }
});

test('seeded: a session in another network namespace, a child reset in the accept queue (no fd), a CLOSE_WAIT socket', async () => {
  const netns = createNetns('exns');
  const inNs = await pair('127.0.0.1', 'ns', netns);
  const waiting = endpoint(['listen', '127.0.0.1', 'aqsrv']); // never accepts
  const { port: queuePort } = (await waiting.record('listening')) as unknown as { port: number };
  const queued = endpoint(['connect', '127.0.0.1', queuePort, 'aqcli']);
  const { localPort: queuedPort } = (await queued.record('connected')) as unknown as { localPort: number };
  const halfClosed = await pair('127.0.0.1', 'cw');
  let tracer: TracerProcess | null = null;
  try {
    await move(inNs.client, inNs.server, 700);
    await run(queued, 'send 100');
    await move(halfClosed.client, halfClosed.server, 50);
    await run(halfClosed.client, 'close'); // the server's end is now in CLOSE_WAIT
    await sleep(100);
    tracer = await TracerProcess.attach('tcplife', ['--existing', '--json']);
    await run(inNs.client, 'close');
    await run(inNs.server, 'close');
    const nsRow = await rowWhere(tracer, 'the namespace session', (row) => ends(row) === `${inNs.clientPort}->${inNs.port}`);
    assert.deepEqual([nsRow.netns, nsRow.pid, nsRow.comm, nsRow.start_seen, nsRow.tx_bytes], [netns.ino, inNs.client.pid, 'nscli', false, 702]);

    await run(queued, 'reset');
    const child = await rowWhere(tracer, 'the reset child', (row) => ends(row) === `${queuePort}->${queuedPort}`);
    assert.deepEqual([child.pid, child.comm, child.start_seen, child.rx_bytes, child.error], [waiting.pid, 'aqsrv', false, 100, 'ECONNRESET']);

    await run(halfClosed.server, 'close');
    const closeWait = await rowWhere(tracer, 'the CLOSE_WAIT end', (row) => ends(row) === `${halfClosed.port}->${halfClosed.clientPort}`);
    assert.deepEqual([closeWait.pid, closeWait.comm, closeWait.start_seen, closeWait.rx_bytes], [halfClosed.server.pid, 'cwsrv', false, 51]);
  } finally {
    for (const peer of [inNs.server, inNs.client, waiting, queued, halfClosed.server, halfClosed.client]) await peer.end();
    if (tracer !== null) await stopCleanly(tracer);
    netns.remove();
  }
});

test('tcpstates --existing: the first transition of a socket open at start shows the time since it was found, marked, never a bare 0.000', async () => {
  const held = await pair('127.0.0.1', 'ts');
  let json: TracerProcess | null = null;
  let text: TracerProcess | null = null;
  try {
    json = await TracerProcess.attach('tcpstates', ['--existing', '--json']);
    text = await TracerProcess.attach('tcpstates', ['--existing']);
    await sleep(200);
    await run(held.client, 'close');
    const first = await rowWhere(json, 'the first transition', (row) => row.lport === held.clientPort && row.newstate === 'FIN_WAIT1');
    assert.deepEqual([first.oldstate, first.start_seen], ['ESTABLISHED', false]);
    assert.ok((first.duration_ms as number) >= 100, JSON.stringify(first));
    const line = await text.waitForStdout((row) => row.includes(` ${held.clientPort} `) && row.includes('FIN_WAIT1'), 'the text row');
    assert.match(line, /ESTABLISHED -> FIN_WAIT1 +>\d+\.\d{3}$/);
    const next = await rowWhere(json, 'the next transition', (row) => row.lport === held.clientPort && row.newstate === 'FIN_WAIT2');
    assert.equal(next.start_seen, true, 'later transitions are timed as usual');
  } finally {
    await held.server.end();
    await held.client.end();
    if (json !== null) await stopCleanly(json, 'tcpstates');
    if (text !== null) await stopCleanly(text, 'tcpstates');
  }
});

test('--all needs --interval; a bad --interval is one line, exit 2', async () => {
  for (const [args, message] of [
    [['--all'], 'tcplife: --all: only with --interval'],
    [['--interval', '0'], 'tcplife: --interval: invalid interval "0": not a positive number'],
  ] as const) {
    const tracer = TracerProcess.start(args, process.env, { tool: 'tcplife' });
    const exit = await tracer.exited;
    assert.deepEqual([exit.code, tracer.stderrLines], [2, [message]]);
  }
});
