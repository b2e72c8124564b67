// SPDX-License-Identifier: MIT
// tcplife owners in the process models of real servers (root, real kernel):
// the owner of a session is the process that last used it (connect, send,
// receive); a process that only drops the last reference does not replace
// it; a child reset before accept() belongs to the process last seen
// accepting on its listener. Peers: test/fixtures/owners.py.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { parseLifeRow, python, Tool, type LifeRow } from './fixture-peers.js';

function title(prefix: string): string {
  return `${prefix}${String(Math.floor(Math.random() * 1e5)).padStart(5, '0')}`.slice(0, 10);
}

/** Waits for the tcplife row with these ports. */
async function rowOf(tracer: Tool, localPort: number, remotePort: number, what: string): Promise<LifeRow> {
  const line = await tracer.stdout.waitFor((text) => {
    const row = parseLifeRow(text);
    return row !== null && row.localPort === localPort && row.remotePort === remotePort;
  }, what, 10_000);
  return parseLifeRow(line)!;
}

async function stopCleanly(tracer: Tool): Promise<void> {
  const exit = await tracer.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, tracer.stderr.join('\n'));
  assert.match(tracer.stderr.at(-1) ?? '', /^tcplife: \d+ events read, 0 lost$/, tracer.stderr.join('\n'));
}

test('a server that forks after accept(): the forked child that serves owns the session the peer resets; later resets before accept() go to the accepting parent', async () => {
  const tracer = await new Tool('tcplife', ['-s']).attached();
  const parentTitle = title('tofpar');
  const childTitle = title('tofchd');
  const server = python('owners.py', ['fork-after-accept', parentTitle, childTitle]);
  try {
    const { port } = (await server.record('listening')) as unknown as { port: number };
    server.send('accept');
    const client = python('owners.py', ['request', title('tofcli'), port, 'rst']);
    const answered = await client.record('answered');
    const servedBy = answered.server as number;
    const childDone = await server.record('child-done');
    assert.equal(childDone.child, servedBy);
    const served = await rowOf(tracer, port, answered.localPort as number, 'the served session');
    assert.deepEqual([served.pid, served.comm], [servedBy, childTitle], 'owner: the forked child that read and answered');

    // Nobody accepts now: these children are reset in the accept queue.
    const resetter = python('owners.py', ['rst-before-accept', title('tofrst'), port, 3]);
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
  const tracer = await new Tool('tcplife', ['-s']).attached();
  const server = python('owners.py', ['echo-server', title('tobsrv')]);
  try {
    const { port } = (await server.record('listening')) as unknown as { port: number };
    const userTitle = title('tobuse');
    const user = python('owners.py', ['background-child', userTitle, title('tobkid'), port]);
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
  const tracer = await new Tool('tcplife', ['-s']).attached();
  const masterTitle = title('tomast');
  const workerTitle = title('towork');
  const master = python('owners.py', ['prefork', masterTitle, workerTitle, 2]);
  try {
    const listening = await master.record('listening');
    const port = listening.port as number;
    const workers = listening.workers as number[];
    // Each worker serves one connection, then stops accepting.
    const first = await python('owners.py', ['request', title('tocli1'), port, 'fin']).record('answered');
    const second = await python('owners.py', ['request', title('tocli2'), port, 'fin']).record('answered');
    const servers = [first.server as number, second.server as number];
    assert.deepEqual([...servers].sort(), [...workers].sort(), 'each worker served one connection');
    const resetter = python('owners.py', ['rst-before-accept', title('torst'), port, 3]);
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
