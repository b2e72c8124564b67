// SPDX-License-Identifier: MIT
// tcplife owners in the process models of real servers (root, real kernel):
// the owner of a session is the process that last used it (connect, send,
// receive); a process that only drops the last reference does not replace
// it; a child reset before accept() belongs to the process last seen
// accepting on its listener. Peers: harness/fixtures/owners.py.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { startFixture, uniqueTitle } from '../../harness/peers.js';
import { parseLifeCsvRow, type LifeRow } from '../../harness/rows.js';
import { requireRoot } from '../../harness/system.js';
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
