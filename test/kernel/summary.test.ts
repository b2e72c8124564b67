// SPDX-License-Identifier: MIT
// tcpstates --summary / --histogram on the real kernel (as root): client
// sockets of our own connections (-D our port), each held ESTABLISHED for a
// known time, then the table, the histograms and the JSON summary at exit.

import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { SUMMARY_NOTES } from '../../src/format/summary.js';
import { TIMER_SLACK_MS, clientSession, startServer, type LoopbackServer } from '../../harness/loopback.js';
import { TracerProcess, runTracerToExit } from '../../harness/tracer-process.js';
import { PROMPTLY_MS, requireRoot } from '../../harness/system.js';

requireRoot();

const CONNECTIONS = 12;
const HOLD_MS = 40;
const NOTICE = 'tcpstates: Tracing TCP state changes for the summary... Hit Ctrl-C to end.';

interface TableRow {
  readonly transition: string;
  readonly count: number;
  readonly firstSeen: number;
  readonly millis: readonly (number | null)[]; // P50, P90, P99, MAX
}

function tableRows(lines: readonly string[]): TableRow[] {
  return lines
    .filter((line) => line.startsWith('│ ') && line.includes(' -> ') && !line.includes('OLD -> NEW'))
    .map((line) => {
      const cells = line.split('│').slice(1, -1).map((cell) => cell.trim());
      return {
        transition: cells[0]!,
        count: Number(cells[1]),
        firstSeen: Number(cells[2]),
        millis: cells.slice(3).map((cell) => (cell === '-' ? null : Number(cell))),
      };
    });
}

/** The "state = X" section's (low, count) pairs. */
function histogram(lines: readonly string[], state: string): [number, number][] {
  const start = lines.indexOf(`state = ${state}`);
  assert.ok(start >= 0, `histogram of ${state}`);
  const slots: [number, number][] = [];
  for (const line of lines.slice(start + 2)) {
    const match = /^\s+(\d+) -> (\d+)\s+: (\d+)\s+\|/.exec(line);
    if (!match) break;
    slots.push([Number(match[1]), Number(match[3])]);
  }
  return slots;
}

describe('tcpstates --summary (kernel)', () => {
  let server: LoopbackServer;
  before(async () => {
    server = await startServer('127.0.0.1');
  });
  after(async () => {
    await server.close();
  });

  it('prints no rows, then at Ctrl-C a table per transition and log2 histograms', async () => {
    const tracer = TracerProcess.start(['--summary', '--histogram', '-D', String(server.port)]);
    try {
      await tracer.waitForStderr((line) => line === NOTICE, 'the start notice');
      await Promise.all(Array.from({ length: CONNECTIONS }, () => clientSession('127.0.0.1', server.port, HOLD_MS)));
      assert.equal(tracer.stdoutLines.length, 0, 'no per-event rows');
      const exit = await tracer.stop('SIGINT');
      assert.deepEqual(exit, { code: 0, signal: null });

      const lines = tracer.stdoutLines;
      assert.match(lines[0]!, /^┌─+┬/);
      assert.match(lines[1]!, /^│ OLD -> NEW +│ COUNT │ FIRST SEEN │ P50 MS │ P90 MS │ P99 MS │ MAX MS │$/);
      const rows = new Map(tableRows(lines).map((row) => [row.transition, row]));

      // connect(): every socket is new to the tracer, so no duration.
      assert.deepEqual(rows.get('CLOSE -> SYN_SENT'), {
        transition: 'CLOSE -> SYN_SENT',
        count: CONNECTIONS,
        firstSeen: CONNECTIONS,
        millis: [null, null, null, null],
      });
      const handshake = rows.get('SYN_SENT -> ESTABLISHED')!;
      assert.deepEqual([handshake.count, handshake.firstSeen], [CONNECTIONS, 0]);
      // Positive; the bound only rules out garbage (under load a loopback
      // handshake's softirq can wait for ksoftirqd to get a CPU).
      assert.ok(handshake.millis.every((ms) => ms !== null && ms > 0 && ms < PROMPTLY_MS), String(handshake.millis));

      // The client closes first, HOLD_MS after connecting.
      const held = rows.get('ESTABLISHED -> FIN_WAIT1')!;
      assert.deepEqual([held.count, held.firstSeen], [CONNECTIONS, 0]);
      const [p50, p90, p99, max] = held.millis as [number, number, number, number];
      // The upper bound only rules out garbage: a busy machine can stretch a hold.
      assert.ok(p50 >= HOLD_MS - TIMER_SLACK_MS && p50 <= p90 && p90 <= p99 && p99 <= max && max < HOLD_MS + PROMPTLY_MS, String(held.millis));

      // Every transition counted: the table adds up to the events read.
      const total = [...rows.values()].reduce((sum, row) => sum + row.count, 0);
      const lastStderr = tracer.stderrLines.at(-1)!;
      assert.match(lastStderr, /^tcpstates: \d+ events read, \d+ lost$/);
      assert.equal(lastStderr, `tcpstates: ${total} events read, 0 lost`);
      assert.deepEqual(tracer.stderrLines, [NOTICE, lastStderr]);

      const notesAt = lines.indexOf(SUMMARY_NOTES[0]!);
      assert.deepEqual(lines.slice(notesAt, notesAt + 3), SUMMARY_NOTES);

      // ESTABLISHED is only left to FIN_WAIT1 here: all 12, at >= 40 ms
      // (slot 32768 -> 65535 us or above).
      const established = histogram(lines, 'ESTABLISHED');
      assert.equal(established.reduce((sum, [, count]) => sum + count, 0), CONNECTIONS);
      for (const [low, count] of established) if (count > 0) assert.ok(low >= 32768, `${count} at ${low} us`);
      assert.equal(histogram(lines, 'SYN_SENT').reduce((sum, [, count]) => sum + count, 0), CONNECTIONS);
      assert.equal(lines.includes('state = CLOSE'), false, 'CLOSE is only left by first-seen sockets here');
    } finally {
      await tracer.stop('SIGKILL').catch(() => {});
    }
  });

  it('--count ends the summary after that many transitions; --json gives one object per transition', async () => {
    const tracer = TracerProcess.start(['--summary', '--json', '--count', '3', '-D', String(server.port)]);
    await tracer.waitForStderr((line) => line.includes('Tracing TCP state changes for the summary'), 'the start notice');
    const session = clientSession('127.0.0.1', server.port, 10);
    const exit = await tracer.exited;
    await session;
    assert.deepEqual(exit, { code: 0, signal: null });
    const objects = tracer.stdoutLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      objects.map((object) => [object.oldstate, object.newstate, object.count, object.first_seen]),
      // Equal counts: in state-number order (ESTABLISHED 1, SYN_SENT 2, CLOSE 7).
      [
        ['ESTABLISHED', 'FIN_WAIT1', 1, 0],
        ['SYN_SENT', 'ESTABLISHED', 1, 0],
        ['CLOSE', 'SYN_SENT', 1, 1],
      ],
    );
    assert.deepEqual(Object.keys(objects[0]!), ['type', 'oldstate', 'newstate', 'count', 'first_seen', 'p50_ms', 'p90_ms', 'p99_ms', 'max_ms']);
    assert.equal(objects[2]!.p50_ms, null);
    const held = objects[0]!;
    assert.ok((held.max_ms as number) >= 10 - TIMER_SLACK_MS && held.p50_ms === held.max_ms, JSON.stringify(held));
    // Events read may exceed 3: the last batch is read whole, then cut at --count.
    const messages = tracer.stderrLines.map((line) => (JSON.parse(line) as { message: string }).message);
    assert.equal(messages.length, 2);
    assert.equal(messages[0], 'Tracing TCP state changes for the summary... Hit Ctrl-C to end.');
    assert.match(messages[1]!, /^\d+ events read, 0 lost$/);
  });

  it('shows an empty summary as one line', async () => {
    const result = await runTracerToExit(['--summary', '--duration', '0.3', '-D', String(server.port)]);
    assert.equal(result.code, 0);
    assert.deepEqual(result.stdout, ['no TCP state transitions seen']);
    assert.deepEqual(result.stderr, [NOTICE, 'tcpstates: 0 events read, 0 lost']);
  });
});
