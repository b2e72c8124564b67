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

test(`sk_info: an entry for each of ${CONNECTIONS} open server sockets and their listener, none once they closed`, async (t) => {
  const address = testAddress(71);
  const port = testPort(71);
  // -L: only the server's sockets (the port filter runs before any state is kept).
  const tracer = await TracerProcess.attach('tcpstates', ['-L', String(port)]);
  const accepted: Socket[] = [];
  const clients: Socket[] = [];
  const server = createServer((socket) => accepted.push(socket));
  try {
    server.listen({ host: address, port, backlog: CONNECTIONS });
    await once(server, 'listening');
    for (let i = 0; i < CONNECTIONS; i++) {
      const client = createConnection({ host: address, port });
      clients.push(client);
      await once(client, 'connect');
    }
    await waitFor(`${CONNECTIONS} accepted`, () => accepted.length === CONNECTIONS);
    assert.equal(mapEntriesOf(tracer.pid, 'sk_info'), CONNECTIONS + 1, 'one entry a server socket, one for the listener');

    for (const socket of [...clients, ...accepted]) socket.destroy();
    server.close();
    await once(server, 'close');
    // Each server socket's CLOSE has run once the tracer printed it.
    await waitFor('every server socket closed', () => tracer.stdout.lines.filter((line) => / -> CLOSE /.test(line)).length >= CONNECTIONS + 1);
    await sleep(100);
    const left = mapEntriesOf(tracer.pid, 'sk_info');
    const nestedSkipped = recursionMissesOf(tracer.pid, 'handle_set_state_nested');
    t.diagnostic(`${left} entries left; handle_set_state_nested runs skipped: ${nestedSkipped}`);
    assert.ok(left <= nestedSkipped, `${left} sk_info entries left, more than the ${nestedSkipped} skipped runs of the program that deletes them`);
    const exit = await tracer.finish();
    assert.equal(exit.code, 0, exit.stderr.join('\n'));
  } finally {
    for (const socket of [...clients, ...accepted]) socket.destroy();
    server.close();
    tracer.child.kill('SIGKILL');
  }
});
