// SPDX-License-Identifier: MIT
// The --metrics endpoint's limits, on loopback with small limits so that each
// is hit in milliseconds: pipelined requests past the in-flight limit close
// the connection, a connection past the cap closes the oldest idle one, an
// unfinished request head times out, scrapes close together share a render,
// the listener's accept queue is as deep as the limits say;
// and the request-head parser and the resource-limit hints, pure.

import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { parseRequestHead, responseHead } from '../../src/metrics/http-request.js';
import { connectionCap, ENDPOINT_LIMITS, startMetricsServer, type EndpointLimits, type MetricsServer } from '../../src/metrics/server.js';
import { libraryLoadError } from '../../src/ffi/libbpf.js';
import { resourceLimitHint, softLimit } from '../../src/sys/limits.js';
import { PROMPTLY_MS, sleep, waitFor } from '../../harness/system.js';

const SMALL: EndpointLimits = { ...ENDPOINT_LIMITS, maxConnections: 4, headersTimeoutMs: 200, idleTimeoutMs: 2000, renderCacheMs: 300 };
const GET = 'GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n';

async function withServer(limits: EndpointLimits, body: (server: MetricsServer, renders: () => number) => Promise<void>): Promise<void> {
  let renders = 0;
  const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, () => `x_total ${++renders}\n`, { limits, prefix: 'unit' });
  try {
    await body(server, () => renders);
  } finally {
    await server.close();
  }
}

/** Connects, sends `text`, and collects what comes back until the server closes. */
async function exchange(port: number, text: string): Promise<{ received: string; socket: Socket }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => {});
  socket.write(text);
  return {
    socket,
    get received() {
      return received;
    },
  };
}

function closed(socket: Socket): Promise<void> {
  return socket.destroyed || socket.readyState === 'closed' ? Promise.resolve() : once(socket, 'close').then(() => undefined);
}

describe('the endpoint under hostile clients', () => {
  test('a pipelined burst past the in-flight limit: at most that many answers, then the connection is closed and counted', async () => {
    await withServer(SMALL, async (server) => {
      const client = await exchange(server.port, GET.repeat(1800));
      await closed(client.socket);
      const answers = client.received.split('HTTP/1.1 200 OK').length - 1;
      assert.ok(answers <= SMALL.maxRequestsInFlight, `${answers} answers`);
      assert.equal(server.counts.closed.pipelined, 1);
      assert.equal(server.connections, 0);
    });
  });

  test('sequential keep-alive requests and up to the limit pipelined are all answered, one render shared', async () => {
    // A render shared however slowly the machine answers them all.
    await withServer({ ...SMALL, renderCacheMs: 60_000 }, async (server, renders) => {
      const client = await exchange(server.port, GET.repeat(SMALL.maxRequestsInFlight));
      const answers = () => client.received.split('HTTP/1.1 200 OK').length - 1;
      await waitFor('the pipelined requests answered', () => answers() >= SMALL.maxRequestsInFlight, PROMPTLY_MS);
      client.socket.write(GET);
      await waitFor('the next request answered', () => answers() >= SMALL.maxRequestsInFlight + 1, PROMPTLY_MS);
      assert.equal(answers(), SMALL.maxRequestsInFlight + 1);
      assert.match(client.received, /\r\nx_total 1\n/);
      assert.doesNotMatch(client.received, /x_total 2/);
      assert.equal(renders(), 1);
      assert.match(client.received, /^unit_metrics_connections_closed_total\{reason="pipelined"\} 0$/m);
      client.socket.destroy();
    });
  });

  test('past the connection cap a new connection closes the oldest idle one; its own request is answered', async () => {
    await withServer(SMALL, async (server) => {
      const idle: Socket[] = [];
      for (let i = 0; i < SMALL.maxConnections; i++) {
        const socket = connect(server.port, '127.0.0.1');
        socket.on('error', () => {});
        await once(socket, 'connect');
        idle.push(socket);
      }
      while (server.connections < SMALL.maxConnections) await sleep(5);
      const scrape = await exchange(server.port, 'GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n');
      await closed(scrape.socket);
      assert.match(scrape.received, /^HTTP\/1\.1 200 OK\r\n/);
      await closed(idle[0]!);
      assert.equal(server.counts.closed.connection_limit, 1);
      assert.ok(server.connections <= SMALL.maxConnections);
      for (const socket of idle) socket.destroy();
    });
  });

  test('a request head not finished in time: 408, closed, counted', async () => {
    await withServer(SMALL, async (server) => {
      const client = await exchange(server.port, 'GET /metrics HTTP/1.1\r\nX-Slow: ');
      await closed(client.socket);
      assert.match(client.received, /^HTTP\/1\.1 408 Request Timeout\r\n/);
      assert.equal(server.counts.closed.timeout, 1);
    });
  });

  test('a request head past the size limit: 431; garbage: 400; both counted', async () => {
    await withServer(SMALL, async (server) => {
      const big = await exchange(server.port, `GET /metrics HTTP/1.1\r\nX: ${'a'.repeat(SMALL.maxHeaderBytes)}`);
      await closed(big.socket);
      assert.match(big.received, /^HTTP\/1\.1 431 /);
      const garbage = await exchange(server.port, '\x16\x03\x01 hello\r\n\r\n');
      await closed(garbage.socket);
      assert.match(garbage.received, /^HTTP\/1\.1 400 /);
      assert.equal(server.counts.closed.bad_request, 2);
    });
  });

  test("the listener queues listenBacklog connections for accept (a listener's Send-Q in ss)", async () => {
    await withServer({ ...SMALL, listenBacklog: 37 }, async (server) => {
      const listener = execFileSync('ss', ['-Hltn', `sport = :${server.port}`], { encoding: 'utf8' }).trim().split(/\s+/);
      assert.deepEqual([listener[0], listener[2]], ['LISTEN', '37']);
    });
  });

  test('the cap follows RLIMIT_NOFILE, keeping descriptors for the tracer', () => {
    assert.equal(connectionCap(ENDPOINT_LIMITS, null), 1024);
    assert.equal(connectionCap(ENDPOINT_LIMITS, 20_000), 1024);
    assert.equal(connectionCap(ENDPOINT_LIMITS, 1024), 896);
    assert.equal(connectionCap(ENDPOINT_LIMITS, 100), 16);
  });
});

describe('request heads', () => {
  test('method, path without query, Accept, keep-alive by version and Connection, bodies', () => {
    assert.deepEqual(parseRequestHead('GET /metrics?x=1 HTTP/1.1\r\nAccept: application/openmetrics-text\r\nHost: a'), {
      method: 'GET',
      path: '/metrics',
      accept: 'application/openmetrics-text',
      keepAlive: true,
      hasBody: false,
    });
    assert.equal(parseRequestHead('GET /metrics HTTP/1.1\r\nConnection: Close')?.keepAlive, false);
    assert.equal(parseRequestHead('GET /metrics HTTP/1.0')?.keepAlive, false);
    assert.equal(parseRequestHead('GET /metrics HTTP/1.0\r\nConnection: keep-alive')?.keepAlive, true);
    assert.equal(parseRequestHead('\r\nGET http://h:9100/metrics HTTP/1.1')?.path, '/metrics');
    assert.equal(parseRequestHead('POST /metrics HTTP/1.1\r\nContent-Length: 3')?.hasBody, true);
    assert.equal(parseRequestHead('POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked')?.hasBody, true);
    for (const bad of ['', 'GET /metrics', 'GET /metrics HTTP/2.0', 'GET  /metrics HTTP/1.1', 'GET /metrics HTTP/1.1\r\nNoColon', 'GET /metrics HTTP/1.1\r\nBad : x']) {
      assert.equal(parseRequestHead(bad), null, JSON.stringify(bad));
    }
  });

  test('response heads', () => {
    assert.equal(responseHead(200, { 'Content-Length': 3 }, true), 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n');
    assert.equal(responseHead(408, { 'Content-Length': 0 }, false), 'HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
});

describe('start-up failures put down to a resource limit', () => {
  const limits = (files: string, addressSpace: string) =>
    `Limit                     Soft Limit           Hard Limit           Units     \n` +
    `Max open files            ${files.padEnd(20)} 524288               files     \n` +
    `Max address space         ${addressSpace.padEnd(20)} unlimited            bytes     \n`;

  test('soft limits from /proc/PID/limits', () => {
    assert.equal(softLimit(limits('1024', 'unlimited'), 'Max open files'), 1024);
    assert.equal(softLimit(limits('1024', 'unlimited'), 'Max address space'), Infinity);
    assert.equal(softLimit(limits('1024', 'unlimited'), 'Max nothing'), null);
  });

  test('descriptors nearly all open, or a finite address space: the hint names it; otherwise none', () => {
    assert.equal(resourceLimitHint(limits('64', 'unlimited'), 40), 'the process is out of file descriptors (40 open, RLIMIT_NOFILE 64): raise the limit, e.g. ulimit -n 1024 (LimitNOFILE= in a systemd unit)');
    assert.equal(
      resourceLimitHint(limits('1024', '1073741824'), 40),
      'the address-space limit (RLIMIT_AS 1048576 KiB, ulimit -v) is likely too small for Node and libbpf: lift it (ulimit -v unlimited)',
    );
    assert.equal(resourceLimitHint(limits('1024', 'unlimited'), 40), undefined);
  });

  test('libbpf that cannot be mapped is not "missing"', () => {
    assert.equal(libraryLoadError('libbpf.so.1', 'libbpf.so.1: failed to map segment from shared object').message, 'cannot load libbpf.so.1: ENOMEM (no address space to map it)');
    assert.equal(libraryLoadError('libbpf.so.1', 'libbpf.so.1: cannot open shared object file: Too many open files').message, 'cannot load libbpf.so.1: EMFILE (too many open files)');
    assert.match(libraryLoadError('libbpf.so.1', 'libbpf.so.1: cannot open shared object file: No such file or directory').message, /is missing$/);
  });
});
