// SPDX-License-Identifier: MIT
// Lost events are never silent: overflow a one-page ring while the tracer is
// stopped, and check that the loss is reported as it is seen and in the total.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientSession, settle, startServer } from '../../harness/loopback.js';
import { requireRoot } from '../../harness/system.js';
import { TracerProcess } from '../../harness/tracer-process.js';

requireRoot();

test('a full ring reports its lost events on stderr and in the exit summary', async () => {
  const tracer = await TracerProcess.attach('tcpstates', ['--buffer-pages', '1']);
  const server = await startServer('127.0.0.1', { echo: true });
  tracer.child.kill('SIGSTOP'); // nobody reads: 4 KiB fills after ~30 events
  try {
    for (let i = 0; i < 40; i++) await clientSession('127.0.0.1', server.port, 0, 'ping\n', { awaitAnswer: true });
  } finally {
    tracer.child.kill('SIGCONT');
  }
  await server.close();
  await settle();
  const result = await tracer.finish();
  const stderr = result.stderr.join('\n');
  assert.equal(result.code, 0, stderr);
  const reported = [...stderr.matchAll(/^tcpstates: lost (\d+) events: the perf ring was full \(try a larger --buffer-pages\)$/gm)].reduce(
    (sum, match) => sum + Number(match[1]),
    0,
  );
  assert.ok(reported > 0, `loss reported while running: ${stderr}`);
  const summary = /^tcpstates: (\d+) events read, (\d+) lost$/m.exec(stderr);
  assert.ok(summary, stderr);
  assert.ok(Number(summary[2]) >= reported, 'the total covers every loss reported');
  // 40 connections make 400 transitions (and the listener 2): all are either printed or counted lost.
  assert.ok(Number(summary[1]) + Number(summary[2]) >= 402, `read ${summary[1]} + lost ${summary[2]} account for the load`);
  assert.equal(Number(summary[1]), result.stdout.length - 1, 'every event read was printed');
});
