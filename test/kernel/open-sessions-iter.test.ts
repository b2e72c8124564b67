// SPDX-License-Identifier: MIT
// The iterators of bpf/open_sessions.h through the loader (root, real
// kernel): a connection open before the load is seeded with its owner and
// start_seen false, and the dump reads its exact totals and what moved
// since the previous pass, on both address families.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { openTrace } from '../../src/bpf/loader.js';
import type { SizedTraceConfig } from '../../src/bpf/config.js';
import { bindLibbpf } from '../../src/ffi/libbpf.js';
import { namespacePasses, seedOpenSockets } from '../../src/open/iterators.js';
import { decodeOpenSession, OPEN_SESSION_SIZE, type OpenSessionRecord } from '../../src/decode/open-record.js';
import { testPort } from '../../harness/loopback.js';
import { requireRoot, waitFor } from '../../harness/system.js';

requireRoot();

const SESSIONS: SizedTraceConfig = { mode: 'sessions', localPorts: null, remotePorts: null, family: 0, pids: null, netnsIno: null, cgroup: null, bufferPages: 8 };

/** A connected pair on `host`, with `toServer` and `toClient` bytes moved and received. */
async function connectedPair(host: string, port: number) {
  let accepted: Socket | null = null;
  let serverGot = 0;
  let clientGot = 0;
  const server = createServer((socket) => {
    accepted = socket;
    socket.on('data', (chunk) => (serverGot += chunk.length));
  });
  server.listen(port, host);
  await once(server, 'listening');
  const client = createConnection(port, host);
  client.on('data', (chunk) => (clientGot += chunk.length));
  await once(client, 'connect');
  await waitFor('accept', () => accepted !== null);
  return {
    client,
    server: () => accepted!,
    async move(toServer: number, toClient: number) {
      const [s0, c0] = [serverGot, clientGot];
      client.write(Buffer.alloc(toServer, 1));
      accepted!.write(Buffer.alloc(toClient, 2));
      await waitFor('bytes', () => serverGot === s0 + toServer && clientGot === c0 + toClient);
    },
    close() {
      client.destroy();
      accepted?.destroy();
      server.close();
    },
  };
}

for (const [family, host] of [
  [4, '127.0.0.1'],
  [6, '::1'],
] as const) {
  test(`IPv${family}: a session open before the load is seeded (owner, start_seen false) and dumped with exact totals and deltas`, async () => {
    const port = testPort(40 + family);
    const pair = await connectedPair(host, port);
    const libbpf = bindLibbpf();
    let session: ReturnType<typeof openTrace> | null = null;
    try {
      await pair.move(1000, 500);
      session = openTrace(libbpf, SESSIONS, { iterators: { seed: true, dump: true } });
      const links = session.iterators!;
      const seed = seedOpenSockets(libbpf, links, null);
      assert.ok(seed.namespaces >= 1, 'at least our own namespace');
      assert.deepEqual(seed.unreachable, []);
      const counters = session.readCounters();
      assert.ok(counters.seeded >= 2, 'both ends seeded');
      assert.equal(counters.seedFailed, 0);
      assert.ok(counters.seedFiles >= 3, 'the listener and both ends, in files');
      await pair.move(300, 7);

      const pass = (): OpenSessionRecord[] => {
        const found: OpenSessionRecord[] = [];
        const now = Number(process.hrtime.bigint());
        namespacePasses(libbpf, links.dump!, null, OPEN_SESSION_SIZE, (view, offset) => {
          const record = decodeOpenSession(view, offset, now);
          if (record.sport === port || record.dport === port) found.push(record);
        }, new Uint8Array(1 << 16));
        return found;
      };
      const first = pass();
      const clientSide = first.find((record) => record.dport === port);
      const serverSide = first.find((record) => record.sport === port);
      assert.ok(clientSide && serverSide, JSON.stringify(first));
      for (const record of [clientSide, serverSide]) {
        assert.equal(record.pid, process.pid, 'owner: this process');
        assert.equal(record.family, family);
        assert.equal(record.state, 'ESTABLISHED');
        assert.equal(record.startSeen, false);
        assert.ok(record.ageMs >= 0 && record.ageMs < 60_000);
      }
      // bytes_acked counts the client's SYN too (acked by the SYN-ACK), as tcp_info's does.
      assert.deepEqual([clientSide.txBytes, clientSide.rxBytes, clientSide.txDeltaBytes, clientSide.rxDeltaBytes], [1301, 507, 300, 7]);
      assert.deepEqual([serverSide.txBytes, serverSide.rxBytes, serverSide.txDeltaBytes, serverSide.rxDeltaBytes], [507, 1300, 7, 300]);
      assert.ok((clientSide.srttUs ?? 0) > 0, 'an RTT sample');
      assert.ok(clientSide.tcpInfo.segsOut > 0 && clientSide.tcpInfo.segsIn > 0);
      assert.notEqual(clientSide.tcpInfo.totalRto, null, 'this kernel (6.7+) counts RTOs');

      const second = pass();
      const again = second.find((record) => record.dport === port)!;
      assert.equal(again.key, clientSide.key, 'a stable key');
      assert.deepEqual([again.txDeltaBytes, again.rxDeltaBytes], [0, 0], 'nothing moved since the previous pass');
    } finally {
      session?.close();
      pair.close();
    }
  });
}

test('without the iterators asked for, none is loaded', () => {
  const session = openTrace(bindLibbpf(), SESSIONS);
  try {
    assert.equal(session.iterators, null);
  } finally {
    session.close();
  }
});
