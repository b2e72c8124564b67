// SPDX-License-Identifier: MIT
// tcplife owners in the process models of real servers (root, real kernel):
// the owner of a session is the process that last used it (connect, send,
// receive); a process that only drops the last reference does not replace
// it; a child reset before accept() belongs to a process that holds its
// listener: the one waiting on it when the child was queued, or the one last
// seen accepting on it. Peers: harness/fixtures/owners.py.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { startFixture, uniqueTitle } from '../../harness/peers.js';
import { parseLifeCsvRow, type LifeRow } from '../../harness/rows.js';
import { StateWitness, blindThreads, type WitnessedTransition } from '../../harness/state-witness.js';
import { requireRoot, sleep } from '../../harness/system.js';
import { TracerProcess } from '../../harness/tracer-process.js';

requireRoot();

/** Waits for the tcplife row with these ports. */
async function rowOf(tracer: TracerProcess, localPort: number, remotePort: number, what: string): Promise<LifeRow> {
  const line = await tracer.waitForStdout((text) => {
    const row = parseLifeCsvRow(text);
    return row !== null && row.localPort === localPort && row.remotePort === remotePort;
  }, what, 10_000);
  return parseLifeCsvRow(line)!;
}

async function stopCleanly(tracer: TracerProcess): Promise<void> {
  const exit = await tracer.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, tracer.stderr.text);
  assert.match(tracer.stderrLines.at(-1) ?? '', /^tcplife: \d+ events read, 0 lost$/, tracer.stderr.text);
}

test('a server that forks after accept(): the forked child that serves owns the session the peer resets; later resets before accept() go to the accepting parent', async () => {
  const tracer = await TracerProcess.attach('tcplife', ['-s']);
  const parentTitle = uniqueTitle('tofpar');
  const childTitle = uniqueTitle('tofchd');
  const server = startFixture('owners.py', ['fork-after-accept', parentTitle, childTitle]);
  try {
    const { port } = (await server.record('listening')) as unknown as { port: number };
    server.send('accept');
    const client = startFixture('owners.py', ['request', uniqueTitle('tofcli'), port, 'rst']);
    const answered = await client.record('answered');
    const servedBy = answered.server as number;
    const childDone = await server.record('child-done');
    assert.equal(childDone.child, servedBy);
    const served = await rowOf(tracer, port, answered.localPort as number, 'the served session');
    assert.deepEqual([served.pid, served.comm], [servedBy, childTitle], 'owner: the forked child that read and answered');

    // Nobody accepts now: these children are reset in the accept queue.
    const resetter = startFixture('owners.py', ['rst-before-accept', uniqueTitle('tofrst'), port, 3]);
    const { localPorts } = (await resetter.record('reset')) as unknown as { localPorts: number[] };
    for (const localPort of localPorts) {
      const row = await rowOf(tracer, port, localPort, `reset before accept from ${localPort}`);
      assert.deepEqual([row.pid, row.comm], [server.pid, parentTitle], 'owner: the parent, which accepts on this listener');
    }
  } finally {
    await server.end();
    await stopCleanly(tracer);
  }
});

test('a forked background child that exits holding the last reference does not take the session from the process that used it', async () => {
  const tracer = await TracerProcess.attach('tcplife', ['-s']);
  const server = startFixture('owners.py', ['echo-server', uniqueTitle('tobsrv')]);
  try {
    const { port } = (await server.record('listening')) as unknown as { port: number };
    const userTitle = uniqueTitle('tobuse');
    const user = startFixture('owners.py', ['background-child', userTitle, uniqueTitle('tobkid'), port]);
    const forked = await user.record('forked');
    await user.record('done');
    const row = await rowOf(tracer, forked.port as number, port, 'the client session');
    assert.notEqual(row.pid, forked.child, 'not the child that only closed it');
    assert.deepEqual([row.pid, row.comm], [user.pid, userTitle], 'owner: the process that connected and used it');
    const serverRow = await rowOf(tracer, port, forked.port as number, 'the server session');
    assert.equal(serverRow.pid, server.pid);
  } finally {
    await server.end();
    server.child.kill('SIGKILL');
    await stopCleanly(tracer);
  }
});

test('a master that listens and forks accepting workers: children reset before accept() belong to the worker last seen accepting, never to the master', async () => {
  const tracer = await TracerProcess.attach('tcplife', ['-s']);
  const masterTitle = uniqueTitle('tomast');
  const workerTitle = uniqueTitle('towork');
  const master = startFixture('owners.py', ['prefork', masterTitle, workerTitle, 2]);
  try {
    const listening = await master.record('listening');
    const port = listening.port as number;
    const workers = listening.workers as number[];
    // Each worker serves one connection, then stops accepting.
    const first = await startFixture('owners.py', ['request', uniqueTitle('tocli1'), port, 'fin']).record('answered');
    const second = await startFixture('owners.py', ['request', uniqueTitle('tocli2'), port, 'fin']).record('answered');
    const servers = [first.server as number, second.server as number];
    assert.deepEqual([...servers].sort(), [...workers].sort(), 'each worker served one connection');
    const resetter = startFixture('owners.py', ['rst-before-accept', uniqueTitle('torst'), port, 3]);
    const { localPorts } = (await resetter.record('reset')) as unknown as { localPorts: number[] };
    for (const localPort of localPorts) {
      const row = await rowOf(tracer, port, localPort, `reset before accept from ${localPort}`);
      assert.notEqual(row.pid, master.pid, 'not the master, which never accepts');
      assert.deepEqual([row.pid, row.comm], [servers[1], workerTitle], 'owner: the worker last seen accepting');
    }
    // The workers hold their sessions until they end.
    await master.end();
    for (const [index, answered] of [first, second].entries()) {
      const row = await rowOf(tracer, port, answered.localPort as number, `served session ${index}`);
      assert.deepEqual([row.pid, row.comm], [servers[index], workerTitle]);
    }
  } finally {
    await master.end();
    await stopCleanly(tracer);
  }
});

/** Connections reset before accept(), per case. */
const RESETS = 300;

/** One listen-then-fork-then-close case: the listening port, the parent that
 * closed its copy, the accepting child, the resetting client and its ports. */
interface ForkedListenerRun {
  readonly name: string;
  readonly family: 4 | 6;
  readonly port: number;
  readonly parent: number;
  readonly child: number;
  readonly client: number;
  readonly localPorts: readonly number[];
}

/** A socket, by family and its local and remote ports. */
const socketKey = (family: number, localPort: number, remotePort: number): string => `${family} ${localPort}>${remotePort}`;

/** The "PID COMM" of each side's rows of a run, counted, and the sessions
 * missing because the witness saw one of their transitions run where BPF
 * cannot (any other missing or doubled row fails). */
function ownersOf(run: ForkedListenerRun, rows: Map<string, LifeRow[]>, history: Map<string, WitnessedTransition[]>, blind: ReadonlySet<number>) {
  const owners = { server: new Map<string, number>(), client: new Map<string, number>() };
  const blindSessions = { server: 0, client: 0 };
  for (const localPort of run.localPorts) {
    const sides = [['server', socketKey(run.family, run.port, localPort)], ['client', socketKey(run.family, localPort, run.port)]] as const;
    for (const [side, socket] of sides) {
      const transitions = history.get(socket) ?? [];
      assert.equal(transitions.filter((transition) => transition.newstate === 'CLOSE').length, 1, `the witness saw ${socket} close once`);
      const printed = rows.get(socket) ?? [];
      if (printed.length === 0 && transitions.some((transition) => blind.has(transition.tid))) {
        blindSessions[side]++;
        continue;
      }
      assert.equal(printed.length, 1, `${socket}: one row (its transitions ran where BPF runs)`);
      const owner = `${printed[0]!.pid} ${printed[0]!.comm}`;
      owners[side].set(owner, (owners[side].get(owner) ?? 0) + 1);
    }
  }
  return { owners, blindSessions };
}

/** Groups by socket what belongs to the expected sockets. */
function bySocketKey<T>(items: readonly T[], keyOf: (item: T) => string, expected: ReadonlySet<string>): Map<string, T[]> {
  const grouped = new Map<string, T[]>();
  for (const item of items) {
    const socket = keyOf(item);
    if (expected.has(socket)) grouped.set(socket, [...(grouped.get(socket) ?? []), item]);
  }
  return grouped;
}

test(`a server that listens, forks an accepting child and closes its own copy: ${RESETS} children reset before accept() belong to the child, never to the parent, and ${RESETS} client ends to the client (the child in accept() or epoll_wait(); IPv4 and IPv6)`, async (t) => {
  // The kernel's own record of every transition: a session may be missing
  // only if the kernel ran one of its transitions where no BPF program runs.
  const witness = StateWitness.start();
  let witnessed: WitnessedTransition[] | null = null;
  const tracer = await TracerProcess.attach('tcplife', ['-s']);
  const [parentTitle, childTitle, clientTitle] = [uniqueTitle('tlfpar'), uniqueTitle('tlfchd'), uniqueTitle('tlfcli')];
  const servers: ReturnType<typeof startFixture>[] = [];
  const runs: ForkedListenerRun[] = [];
  try {
    for (const waiter of ['accept', 'epoll'] as const) {
      for (const family of [4, 6] as const) {
        const server = startFixture('owners.py', ['listen-fork-close', parentTitle, childTitle, family, waiter]);
        servers.push(server);
        // Once the child sleeps in accept() or epoll_wait() and the parent has closed its copy.
        const listening = await server.record('listening');
        const port = listening.port as number;
        const resetter = startFixture('owners.py', ['rst-at-once', clientTitle, family, port, RESETS]);
        const { localPorts } = (await resetter.record('reset', 60_000)) as unknown as { localPorts: number[] };
        runs.push({ name: `${waiter}, IPv${family}`, family, port, parent: server.pid, child: listening.child as number, client: resetter.pid, localPorts });
      }
    }
    const expected = new Set(runs.flatMap((run) => run.localPorts.flatMap((localPort) => [socketKey(run.family, run.port, localPort), socketKey(run.family, localPort, run.port)])));
    const printedRows = () => bySocketKey(tracer.stdoutLines.flatMap((line) => parseLifeCsvRow(line) ?? []), (row) => socketKey(row.ip, row.localPort, row.remotePort), expected);
    const deadline = Date.now() + 10_000;
    while (printedRows().size < expected.size && Date.now() < deadline) await sleep(100);
    await stopCleanly(tracer);
    witnessed = witness.stop();
    const history = bySocketKey(witnessed, (transition) => socketKey(transition.family, transition.sport, transition.dport), expected);
    const rows = printedRows();
    const blind = blindThreads();

    for (const run of runs) {
      const { owners, blindSessions } = ownersOf(run, rows, history, blind);
      const unseen = blindSessions.server + blindSessions.client;
      if (unseen > 0) t.diagnostic(`${run.name}: ${unseen} sessions not printed: the kernel ran their transitions where BPF cannot run (PID 1's threads)`);
      assert.deepEqual(
        [...owners.server],
        [[`${run.child} ${childTitle}`, RESETS - blindSessions.server]],
        `${run.name}: server ends: the child, never the parent ${run.parent}, which closed its copy`,
      );
      assert.deepEqual([...owners.client], [[`${run.client} ${clientTitle}`, RESETS - blindSessions.client]], `${run.name}: client ends: the client`);
    }
  } finally {
    await Promise.all(servers.map((server) => server.end()));
    await tracer.stop().catch(() => {});
    if (witnessed === null) {
      try {
        witness.stop();
      } catch {
        // the test's own failure is the one to report
      }
    }
  }
});
