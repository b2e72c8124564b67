// SPDX-License-Identifier: MIT
// The per-socket state (sk_info, bpf/tcpstates.bpf.c) holds an entry for
// each socket the tracer follows and gives it up at the socket's CLOSE: held
// open, 1,000 connections' server sockets and their listener have one entry
// each; closed, none is left (but where the kernel skipped a run of the
// program that deletes them).

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { createConnection, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { testAddress, testPort } from '../../harness/loopback.js';
import { mapEntriesOf, recursionMissesOf, requireRoot, sleep, waitFor } from '../../harness/system.js';
import { TracerProcess } from '../../harness/tracer-process.js';

requireRoot();

const CONNECTIONS = 1000;

/** `count` connections to a server on `address`:`port`, held open until close(). */
interface HeldConnections {
  /** Closes every connection and the server; waits for the server to close. */
  close(): Promise<void>;
}

async function holdConnections(address: string, port: number, count: number): Promise<HeldConnections> {
  const accepted: Socket[] = [];
  const clients: Socket[] = [];
  const server = createServer((socket) => accepted.push(socket));
  const destroyAll = () => {
    for (const socket of [...clients, ...accepted]) socket.destroy();
  };
  try {
    server.listen({ host: address, port, backlog: count });
    await once(server, 'listening');
    for (let i = 0; i < count; i++) {
      const client = createConnection({ host: address, port });
      clients.push(client);
      await once(client, 'connect');
    }
    await waitFor(`${count} accepted`, () => accepted.length === count);
  } catch (error) {
    destroyAll();
    server.close();
    throw error;
  }
  return {
    async close() {
      destroyAll();
      if (!server.listening) return;
      server.close();
      await once(server, 'close');
    },
  };
}

/** Whether the tracer printed `count` transitions into CLOSE: each one's CLOSE has run. */
const closedRows = (tracer: TracerProcess, count: number) => () => tracer.stdout.lines.filter((line) => / -> CLOSE /.test(line)).length >= count;

test(`sk_info: an entry for each of ${CONNECTIONS} open server sockets and their listener, none once they closed`, async (t) => {
  // -L: only the server's sockets (the port filter runs before any state is kept).
  const port = testPort(71);
  const tracer = await TracerProcess.attach('tcpstates', ['-L', String(port)]);
  let held: HeldConnections | null = null;
  try {
    held = await holdConnections(testAddress(71), port, CONNECTIONS);
    assert.equal(mapEntriesOf(tracer.pid, 'sk_info'), CONNECTIONS + 1, 'one entry a server socket, one for the listener');

    await held.close();
    await waitFor('every server socket closed', closedRows(tracer, CONNECTIONS + 1));
    await sleep(100);
    const left = mapEntriesOf(tracer.pid, 'sk_info');
    const nestedSkipped = recursionMissesOf(tracer.pid, 'handle_set_state_nested');
    t.diagnostic(`${left} entries left; handle_set_state_nested runs skipped: ${nestedSkipped}`);
    assert.ok(left <= nestedSkipped, `${left} sk_info entries left, more than the ${nestedSkipped} skipped runs of the program that deletes them`);
    const exit = await tracer.finish();
    assert.equal(exit.code, 0, exit.stderr.join('\n'));
  } finally {
    await held?.close();
    tracer.child.kill('SIGKILL');
  }
});

test('--max-sockets: a full map is counted and said, and every row is still printed', async () => {
  const maxSockets = 16;
  const connections = 100;
  const port = testPort(72);
  const tracer = await TracerProcess.attach('tcpstates', ['-L', String(port), '--max-sockets', String(maxSockets)]);
  let held: HeldConnections | null = null;
  try {
    held = await holdConnections(testAddress(72), port, connections);
    assert.equal(mapEntriesOf(tracer.pid, 'sk_info'), maxSockets, 'the map is full');

    await held.close();
    await waitFor('every server socket closed', closedRows(tracer, connections + 1));
    const exit = await tracer.finish();
    assert.equal(exit.code, 0, exit.stderr.join('\n'));
    // Rows for every socket: the state only decides their MS.
    assert.equal(exit.stdout.filter((line) => / LISTEN +-> SYN_RECV /.test(line)).length, connections);
    const untracked = exit.stderr.map((line) => /^tcpstates: could not keep state at (\d+) state changes \(the per-socket map is full: raise --max-sockets; or out of memory\): those sockets' next rows restart as if first seen$/.exec(line));
    const counted = untracked.reduce((total, match) => total + (match === null ? 0 : Number(match[1])), 0);
    // At least each refused child's first two state changes.
    assert.ok(counted >= 2 * (connections + 1 - maxSockets), `${counted} state changes reported untracked: ${exit.stderr.join('\n')}`);
  } finally {
    await held?.close();
    tracer.child.kill('SIGKILL');
  }
});
