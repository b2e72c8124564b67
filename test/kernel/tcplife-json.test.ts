// SPDX-License-Identifier: MIT
// tcplife --json on the real kernel: one object per session end, with the
// documented fields, bytes and a lifespan covering the time held.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TCPLIFE_JSON_FIELDS, type TcplifeJson } from '../../src/format/json.js';
import { TIMER_SLACK_MS, clientSession, onLoopback, settle, startServer } from '../../harness/loopback.js';
import { requireRoot } from '../../harness/system.js';
import { TracerProcess } from '../../harness/tracer-process.js';

requireRoot();

const HOLD_MS = 100;

test('tcplife --json: one object per side, documented fields, owner, lifespan', async () => {
  const tracer = await TracerProcess.attach('tcplife', ['--json']);
  const server = await startServer('::1', { echo: true });
  const port = server.port;
  const { localPort: clientPort } = await clientSession('::1', port, HOLD_MS, 'ping\n', { awaitAnswer: true });
  await server.close();
  await settle();
  const result = await tracer.finish();
  assert.equal(result.code, 0, result.stderr.join('\n'));
  const rows = result.stdout.map((line) => JSON.parse(line) as TcplifeJson).filter((r) => (r.lport === port || r.rport === port) && onLoopback(r));
  assert.equal(rows.length, 2, JSON.stringify(rows));
  for (const row of rows) {
    assert.deepEqual(Object.keys(row), [...TCPLIFE_JSON_FIELDS]);
    assert.equal(row.family, 6);
    assert.equal(row.laddr, '::1');
    // The test process both connects and accepts.
    assert.equal(row.pid, process.pid);
    assert.equal(row.comm, 'node');
    assert.ok(row.duration_ms >= HOLD_MS - TIMER_SLACK_MS, `lifespan ${row.duration_ms} ms, held ${HOLD_MS}`);
    assert.ok(row.tx_bytes >= 5 && row.rx_bytes >= 5, 'the ping line went each way');
  }
  assert.deepEqual(rows.map((r) => r.lport).sort(), [clientPort, port].sort());
  // Diagnostics are JSON too.
  const summary = JSON.parse(result.stderr.at(-1)!) as { tool: string; lost: number };
  assert.equal(summary.tool, 'tcplife');
  assert.equal(summary.lost, 0);
});
