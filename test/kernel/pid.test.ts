// SPDX-License-Identifier: MIT
// tcpstates -p on the real kernel (as root): two child processes make one
// connection each to servers in this process; with -p <first child> only
// transitions run by that child appear (C-PID), and not the other child's
// connect and close, which an unfiltered tracer (-D both ports) sees. The child stays in
// CLOSE_WAIT for a known time after a long ESTABLISHED: its LAST_ACK row's
// MS must be the CLOSE_WAIT time, though the transition into CLOSE_WAIT ran
// in this process and was filtered out.

import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { adopt } from '../../harness/children.js';
import { TIMER_SLACK_MS, startServer, type LoopbackServer } from '../../harness/loopback.js';
import { parseTextRow, type StateRow } from '../../harness/rows.js';
import { TracerProcess } from '../../harness/tracer-process.js';
import { REALTIME_WRAPPER, TWO_PROGRAMS_TOLERANCE_MS, requireRoot } from '../../harness/system.js';

requireRoot();

const ESTABLISHED_MS = 400;
const CLOSE_WAIT_MS = 100;

/** Connects on "go" (a line on stdin), half-closes CLOSE_WAIT_MS after the
 * server's FIN, exits when closed. */
const CLIENT = String.raw`
const net = require('node:net');
const [host, port, closeWaitMs] = process.argv.slice(1);
process.stdin.once('data', () => {
  const socket = net.connect({ host, port: Number(port), allowHalfOpen: true });
  socket.on('end', () => setTimeout(() => socket.end(), Number(closeWaitMs)));
  socket.on('close', () => process.exit(0));
  socket.resume();
});
console.log('ready');
`;

type Row = StateRow & { readonly transition: string };

/** Default-layout rows: SKADDR C-PID C-COMM LADDR LPORT RADDR RPORT OLD -> NEW MS. */
function parseRows(lines: readonly string[]): Row[] {
  return lines.slice(1).map((line) => {
    assert.equal(line.split(/\s+/).length, 11, line);
    const row = parseTextRow(line);
    return { ...row, transition: `${row.oldstate} -> ${row.newstate}` };
  });
}

async function startClient(server: LoopbackServer): Promise<ChildProcess> {
  // At a real-time priority (chrt execs node: the same pid): its close() is
  // then not preempted between the two tracers' programs (see
  // TWO_PROGRAMS_TOLERANCE_MS), whose MS are compared.
  const [command, ...args] = [...REALTIME_WRAPPER, process.execPath, '-e', CLIENT, server.host, String(server.port), String(CLOSE_WAIT_MS)];
  const child = adopt(
    spawn(command!, args, {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const [line] = (await once(child.stdout!.setEncoding('utf8'), 'data')) as [string];
  assert.equal(line.trim(), 'ready');
  return child;
}

describe('tcpstates -p (kernel)', () => {
  let serverA: LoopbackServer;
  let serverB: LoopbackServer;
  before(async () => {
    serverA = await startServer('127.0.0.1', { endAfterMs: ESTABLISHED_MS });
    serverB = await startServer('127.0.0.1', { endAfterMs: ESTABLISHED_MS });
  });
  after(async () => {
    await Promise.all([serverA.close(), serverB.close()]);
  });

  it("shows only the transitions run by the given PID, with MS still the time in OLD", async () => {
    const target = await startClient(serverA);
    const other = await startClient(serverB);
    const filtered = TracerProcess.start(['-p', String(target.pid)]);
    // -D both ports: the other child's rows, and the target socket's true
    // CLOSE_WAIT time to compare the filtered tracer's MS with.
    const control = TracerProcess.start(['-D', `${serverA.port},${serverB.port}`]);
    try {
      await filtered.waitForStdout((line) => line.startsWith('SKADDR'), 'the header');
      await control.waitForStdout((line) => line.startsWith('SKADDR'), 'the header');
      const exits = [once(target, 'exit'), once(other, 'exit')];
      target.stdin!.write('go\n');
      other.stdin!.write('go\n');
      const [[targetCode], [otherCode]] = (await Promise.all(exits)) as [[number], [number]];
      assert.deepEqual([targetCode, otherCode], [0, 0]);
      await filtered.waitForStdout((line) => / CLOSE_WAIT +-> LAST_ACK /.test(line), "the target's LAST_ACK row");
      const lastAckTo = (port: number) => (line: string) => / CLOSE_WAIT +-> LAST_ACK /.test(line) && line.split(/\s+/)[6] === String(port);
      await control.waitForStdout(lastAckTo(serverB.port), "the other child's LAST_ACK row");
      await control.waitForStdout(lastAckTo(serverA.port), "the target's LAST_ACK row, unfiltered");
      assert.deepEqual(await filtered.stop('SIGINT'), { code: 0, signal: null });
      assert.deepEqual(await control.stop('SIGINT'), { code: 0, signal: null });

      const rows = parseRows(filtered.stdoutLines);
      for (const row of rows) assert.equal(row.pid, target.pid, `row run by ${row.pid} ${row.comm}`);
      const targetRows = rows.filter((row) => row.rport === serverA.port);
      const transitions = targetRows.map((row) => row.transition);
      assert.ok(transitions.includes('CLOSE -> SYN_SENT'), transitions.join(', '));
      assert.ok(transitions.includes('CLOSE_WAIT -> LAST_ACK'), transitions.join(', '));
      assert.equal(transitions.includes('ESTABLISHED -> CLOSE_WAIT'), false, 'the FIN arrived in this process, not the target');
      // The other child's connect() and close() ran in its own context: not
      // shown. (A softirq may still run on a CPU while the target is current
      // and process packets of any socket; C-PID is then the target, as bcc.)
      const bySyscall = (row: Row) =>
        row.rport === serverB.port && (row.transition === 'CLOSE -> SYN_SENT' || row.transition === 'CLOSE_WAIT -> LAST_ACK');
      assert.deepEqual(rows.filter(bySyscall), []);

      // Time in CLOSE_WAIT only: the filtered ESTABLISHED -> CLOSE_WAIT still
      // updated the socket's timestamp (else this would include the
      // ESTABLISHED_MS before it). Compared with the unfiltered tracer's MS
      // for the same transition, not with a wall-clock bound: a busy machine
      // can stretch the child's CLOSE_WAIT_MS timer past ESTABLISHED_MS.
      const lastAck = targetRows.find((row) => row.transition === 'CLOSE_WAIT -> LAST_ACK')!;
      const unfiltered = parseRows(control.stdoutLines).filter((row) => row.rport === serverA.port);
      const trueLastAck = unfiltered.find((row) => row.transition === 'CLOSE_WAIT -> LAST_ACK')!;
      const trueEstablished = unfiltered.find((row) => row.transition === 'ESTABLISHED -> CLOSE_WAIT')!;
      assert.ok(lastAck.ms >= CLOSE_WAIT_MS - TIMER_SLACK_MS, `CLOSE_WAIT for ${lastAck.ms} ms`);
      assert.ok(trueEstablished.ms >= ESTABLISHED_MS - TIMER_SLACK_MS, `ESTABLISHED for ${trueEstablished.ms} ms, unfiltered`);
      assert.ok(
        Math.abs(lastAck.ms - trueLastAck.ms) <= TWO_PROGRAMS_TOLERANCE_MS,
        `CLOSE_WAIT for ${lastAck.ms} ms filtered, ${trueLastAck.ms} ms unfiltered (ESTABLISHED ${trueEstablished.ms} ms before it)`,
      );

      // Those rows did happen, run by the other child, as the unfiltered tracer saw.
      const controlRows = parseRows(control.stdoutLines).filter(bySyscall);
      assert.deepEqual(
        controlRows.map((row) => [row.transition, row.pid]),
        [
          ['CLOSE -> SYN_SENT', other.pid],
          ['CLOSE_WAIT -> LAST_ACK', other.pid],
        ],
      );
    } finally {
      target.kill('SIGKILL');
      other.kill('SIGKILL');
      await filtered.stop('SIGKILL').catch(() => {});
      await control.stop('SIGKILL').catch(() => {});
    }
  });
});
