// SPDX-License-Identifier: MIT
// tcpstates --json on the real kernel (as root): real loopback connections
// on our own ports, one JSON object per transition, JSON on stderr; and the
// option errors of --json and the other extras.

import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { TCPSTATES_JSON_FIELDS, type TcpstatesJson } from '../../src/format/json.js';
import { TIMER_SLACK_MS, clientSession, onLoopback, startServer, untilTraced, type LoopbackServer } from '../../harness/loopback.js';
import { TracerProcess, runTracerToExit } from '../../harness/tracer-process.js';
import { PROMPTLY_MS, requireRoot } from '../../harness/system.js';

requireRoot();

function parseRows(lines: readonly string[]): TcpstatesJson[] {
  return lines.filter((line) => line !== '').map((line) => JSON.parse(line) as TcpstatesJson);
}

/** The rows of the client socket of our one connection to `port`. */
function clientRows(rows: readonly TcpstatesJson[], port: number): TcpstatesJson[] {
  return rows.filter((row) => row.rport === port && onLoopback(row));
}

describe('tcpstates --json (kernel)', () => {
  let probe: LoopbackServer;
  let server4: LoopbackServer;
  let server6: LoopbackServer;
  before(async () => {
    probe = await startServer('127.0.0.1');
    server4 = await startServer('127.0.0.1');
    server6 = await startServer('::1');
  });
  after(async () => {
    await Promise.all([probe.close(), server4.close(), server6.close()]);
  });

  it('writes one object per transition of real IPv4 and IPv6 connections, and JSON on stderr', async () => {
    const tracer = TracerProcess.start(['--json']);
    try {
      await untilTraced(probe, () => parseRows(tracer.stdoutLines).some((row) => row.rport === probe.port));
      const session4 = await clientSession('127.0.0.1', server4.port, 30);
      const session6 = await clientSession('::1', server6.port, 0);
      const closed = (port: number) => (line: string) => line.includes(`"rport":${port},`) && line.includes('"newstate":"CLOSE"');
      await tracer.waitForStdout(closed(server4.port), 'the IPv4 client socket closing');
      await tracer.waitForStdout(closed(server6.port), 'the IPv6 client socket closing');
      const exit = await tracer.stop('SIGINT');
      assert.deepEqual(exit, { code: 0, signal: null });

      const rows = parseRows(tracer.stdoutLines); // throws if any line is not JSON: no header either
      assert.ok(rows.length >= 10);
      for (const row of rows) assert.deepEqual(Object.keys(row), [...TCPSTATES_JSON_FIELDS]);

      const ipv4 = clientRows(rows, server4.port);
      assert.deepEqual(
        ipv4.slice(0, 3).map((row) => `${row.oldstate}->${row.newstate}`),
        ['CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED', 'ESTABLISHED->FIN_WAIT1'],
      );
      assert.equal(ipv4.at(-1)!.newstate, 'CLOSE');
      const [synSent, established, finWait1] = ipv4 as [TcpstatesJson, TcpstatesJson, TcpstatesJson];
      for (const row of ipv4) {
        assert.equal(row.skaddr, synSent.skaddr, 'one socket');
        assert.match(row.skaddr, /^[0-9a-f]{1,16}$/);
        assert.equal(row.family, 4);
        assert.equal(row.laddr, '127.0.0.1');
        assert.equal(row.raddr, '127.0.0.1');
        assert.ok(Number.isInteger(row.ts_ns) && row.ts_ns > 0);
      }
      // connect() and close() run in this process: on-CPU task and owner are us.
      assert.deepEqual(
        [synSent.pid, synSent.comm, synSent.owner_pid, synSent.lport, synSent.duration_ms],
        [process.pid, 'node', process.pid, 0, 0],
      );
      assert.equal(established.lport, session4.localPort);
      // A real, positive duration; the bound only rules out garbage (a
      // loopback handshake is sub-ms, but under load its softirq can wait
      // for ksoftirqd to get a CPU).
      assert.ok(established.duration_ms > 0 && established.duration_ms < PROMPTLY_MS, `SYN_SENT for ${established.duration_ms} ms`);
      assert.equal(finWait1.pid, process.pid);
      assert.equal(finWait1.owner_pid, process.pid);
      assert.ok(finWait1.duration_ms >= 30 - TIMER_SLACK_MS, `ESTABLISHED for ${finWait1.duration_ms} ms, held 30`);
      // µs precision: at most three decimals.
      for (const row of ipv4) assert.equal(row.duration_ms, Math.round(row.duration_ms * 1000) / 1000);

      // ts_ns orders the rows; time is the same instant on the wall clock.
      for (let i = 1; i < ipv4.length; i++) assert.ok(ipv4[i]!.ts_ns > ipv4[i - 1]!.ts_ns);
      for (const row of ipv4) assert.match(row.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      const wallSpanMs = Date.parse(ipv4.at(-1)!.time) - Date.parse(synSent.time);
      const monotonicSpanMs = (ipv4.at(-1)!.ts_ns - synSent.ts_ns) / 1e6;
      assert.ok(Math.abs(wallSpanMs - monotonicSpanMs) <= 1.001, `${wallSpanMs} vs ${monotonicSpanMs}`);
      assert.ok(Math.abs(Date.parse(synSent.time) - Date.now()) < 60_000);

      const ipv6 = clientRows(rows, server6.port);
      assert.deepEqual(ipv6.slice(0, 2).map((row) => `${row.oldstate}->${row.newstate}`), ['CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED']);
      for (const row of ipv6) assert.deepEqual([row.family, row.laddr, row.raddr], [6, '::1', '::1']);
      assert.equal(ipv6[1]!.lport, session6.localPort);

      // The server's child socket: LISTEN -> SYN_RECV first seen, no owner known yet.
      const child = rows.find((row) => row.lport === server4.port && row.rport === session4.localPort && row.oldstate === 'LISTEN');
      assert.ok(child !== undefined, 'the accepted socket is traced');
      assert.deepEqual([child.newstate, child.duration_ms], ['SYN_RECV', 0]);

      // stderr: the exit summary as one JSON object, counting every row.
      const summary = JSON.parse(tracer.stderrLines.at(-1)!) as Record<string, unknown>;
      assert.deepEqual(Object.keys(summary), ['tool', 'message', 'events', 'lost', 'output_failed', 'recursion_misses']);
      assert.equal(summary.tool, 'tcpstates');
      assert.equal(summary.events, rows.length);
      assert.equal(summary.message, `${rows.length} events read, ${summary.lost} lost`);
      for (const line of tracer.stderrLines) assert.doesNotThrow(() => JSON.parse(line), line);
    } finally {
      await tracer.stop('SIGKILL').catch(() => {});
    }
  });
});

describe('extras option errors', () => {
  const cases: [string[], string[]][] = [
    [['--json', '-s'], ["tcpstates: option '--json' cannot be used with option '-s, --csv'"]],
    [['-w', '--json'], ["tcpstates: option '--json' cannot be used with option '-w, --wide'"]],
    [['--summary', '-T'], ["tcpstates: option '--summary' cannot be used with option '-T, --time'"]],
    [['--histogram', '-t'], ["tcpstates: option '--histogram' cannot be used with option '-t, --timestamp'"]],
    [['-p', '1,,2'], ['tcpstates: -p/--pid: empty PID in list "1,,2"']],
    [['-p', 'abc'], ['tcpstates: -p/--pid: invalid PID "abc": not a positive integer']],
    [['-p', Array.from({ length: 1025 }, (_, i) => i + 1).join(',')], ['tcpstates: -p/--pid: at most 1024 PIDs (got 1025)']],
  ];
  for (const [args, message] of cases) {
    it(`${args.join(' ').slice(0, 40)}: one line, exit 2`, async () => {
      const result = await runTracerToExit(args);
      assert.equal(result.code, 2);
      assert.deepEqual(result.stdout, []);
      const expected = message[0]!.startsWith('tcpstates: option') ? [...message, "tcpstates: run 'tcpstates -h' for usage"] : message;
      assert.deepEqual(result.stderr, expected);
    });
  }
});
