// SPDX-License-Identifier: MIT
// Ending a trace, for every tool: SIGINT, SIGTERM and SIGHUP, a closed
// stdout (with and without traffic), a reader that stopped reading,
// `timeout N tool > file`, --duration and --count. Each must end promptly
// with exit 0, keep every row already read, and leave none of the tracer's
// own BPF programs, links or maps in the kernel (checked by id with bpftool).

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { EXIT_FLUSH_TIMEOUT_MS } from '../../src/trace/run.js';
import { adopt } from '../../harness/children.js';
import { TIMER_SLACK_MS, startServer, testAddress, testPort } from '../../harness/loopback.js';
import { csvRows, TOOLS } from '../../harness/rows.js';
import {
  PROMPTLY_MS,
  binPath,
  bpfObjectsOf,
  isRunning,
  requireRoot,
  sleep,
  stillLoaded,
  waitFor,
  waitForLinks,
  type BpfObjects,
} from '../../harness/system.js';
import { TracerProcess } from '../../harness/tracer-process.js';

requireRoot();

const SUMMARY = (tool: string) => new RegExp(`^${tool}: \\d+ events read, \\d+ lost$`, 'm');

/** The tracer's own programs, links and maps, with at least one of each. */
function ownObjects(pid: number): BpfObjects {
  const objects = bpfObjectsOf(pid);
  assert.ok(objects.progs.length >= 1 && objects.links.length >= 1 && objects.maps.length >= 1, `pid ${pid} holds ${JSON.stringify(objects)}`);
  return objects;
}

/** After the tracer exited, its programs, links and maps are gone. The
 * kernel frees them after an RCU grace period, so give it a moment (polled:
 * generous on a busy machine, and no slower when they go at once). */
async function assertReleased(objects: BpfObjects): Promise<void> {
  const ids = (list: { id: number }[]) => list.map((entry) => entry.id);
  const left = () => ({
    progs: stillLoaded('prog', ids(objects.progs)),
    links: stillLoaded('link', ids(objects.links)),
    maps: stillLoaded('map', ids(objects.maps)),
  });
  const deadline = Date.now() + PROMPTLY_MS;
  let remaining = left();
  while (remaining.progs.length + remaining.links.length + remaining.maps.length > 0 && Date.now() < deadline) {
    await sleep(50);
    remaining = left();
  }
  assert.deepEqual(remaining, { progs: [], links: [], maps: [] }, 'nothing of the tracer stays loaded or attached');
}

/** Milliseconds from now until the tracer has exited. */
async function exitLatencyMs(tracer: TracerProcess): Promise<[number, number | null, NodeJS.Signals | null]> {
  const start = performance.now();
  const { code, signal } = await tracer.exited;
  return [performance.now() - start, code, signal];
}

/** The pid of the child of `parent` whose command line contains `needle`. */
async function childPid(parent: number, needle: string): Promise<number> {
  let found = 0;
  await waitFor(`a child of ${parent} running ${needle}`, () => {
    try {
      const children = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      for (const child of children) {
        if (readFileSync(`/proc/${child}/cmdline`, 'utf8').includes(needle)) found = Number(child);
      }
    } catch {
      // not there yet
    }
    return found !== 0;
  });
  return found;
}

for (const [toolIndex, tool] of TOOLS.entries()) {
  describe(`${tool.name}: ending a trace`, () => {
    const address = testAddress(20 + toolIndex);

    for (const [index, signal] of (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).entries()) {
      test(`${signal}: exit 0 promptly, every row already emitted is printed, nothing left loaded`, async (t) => {
        const port = testPort(20 + toolIndex * 10 + index);
        const server = await startServer(address, { port: port });
        const tracer = TracerProcess.start(['-s', '-L', String(port)], process.env, { tool: tool.name });
        try {
          await tracer.untilAttached();
          const objects = ownObjects(tracer.pid);
          // Signal right after the last connection closes: its rows may
          // still be in the rings, and must be read before exiting.
          await server.connections(100);
          tracer.child.kill(signal);
          const [latencyMs, code, exitSignal] = await exitLatencyMs(tracer);
          t.diagnostic(`${signal}: exited ${latencyMs.toFixed(1)} ms after the signal`);
          assert.deepEqual([code, exitSignal], [0, null], tracer.stderr.text);
          assert.ok(latencyMs < PROMPTLY_MS, `exited ${latencyMs} ms after ${signal}`);
          const rows = csvRows(tracer.stdout.text);
          assert.equal(tracer.stdout.text.split('\n')[0], tool.csvHeader);
          assert.equal(rows.filter(tool.endsConnection).length, 100, 'all 100 connections reported');
          assert.match(tracer.stderr.text, SUMMARY(tool.name));
          await assertReleased(objects);
        } finally {
          tracer.child.kill('SIGKILL');
          await server.close();
        }
      });
    }

    test('stdout closed on a quiet system: noticed without a write, exit 0 promptly', async (t) => {
      const port = testPort(40 + toolIndex);
      const tracer = TracerProcess.start(['-L', String(port)], process.env, { tool: tool.name });
      try {
        await tracer.untilAttached();
        const objects = ownObjects(tracer.pid);
        tracer.child.stdout!.destroy(); // the reader goes away; no event will come
        const [latencyMs, code] = await exitLatencyMs(tracer);
        t.diagnostic(`closed stdout: exited ${latencyMs.toFixed(1)} ms after the reader closed it`);
        assert.equal(code, 0, tracer.stderr.text);
        assert.ok(latencyMs < PROMPTLY_MS, `exited ${latencyMs} ms after the reader closed`);
        assert.match(tracer.stderr.text, SUMMARY(tool.name));
        await assertReleased(objects);
      } finally {
        tracer.child.kill('SIGKILL');
      }
    });

    test('`tool | head -5` in a shell: head gets 5 lines, both exit 0, nothing left loaded', async () => {
      const port = testPort(50 + toolIndex);
      const server = await startServer(address, { port: port });
      const shell = adopt(
        spawn('bash', ['-c', '"$NODE" "$BIN" -L "$PORT" | head -5; echo "status ${PIPESTATUS[*]}"'], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, NODE: process.execPath, BIN: binPath(tool.name), PORT: String(port) },
        }),
      );
      let out = '';
      let err = '';
      shell.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      shell.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
      const shellExited = new Promise<number | null>((resolve) => shell.on('close', resolve));
      try {
        const tracerPid = await childPid(shell.pid!, binPath(tool.name));
        const objects = await waitForLinks(tracerPid);
        // Enough rows for head to be done, and then some.
        while (isRunning(tracerPid)) await server.connections(5);
        assert.equal(await shellExited, 0);
        const lines = out.split('\n');
        assert.equal(lines.length, 7, out); // 5 lines, the status line, ''
        assert.equal(lines[5], 'status 0 0');
        assert.match(err, SUMMARY(tool.name));
        await assertReleased(objects);
      } finally {
        shell.kill('SIGKILL');
        await server.close();
      }
    });

    test('a reader that stopped reading: SIGINT still ends it within the flush timeout, and the drop is reported', async (t) => {
      const port = testPort(60 + toolIndex);
      const server = await startServer(address, { port: port });
      const tracer = TracerProcess.start(['-L', String(port)], process.env, { tool: tool.name, readStdout: false });
      try {
        const objects = await waitForLinks(tracer.pid);
        // Far more output than the pipe and the unread stream buffer hold
        // (64 KiB each), none of it read: rows are at least 60 bytes.
        await server.connections(Math.ceil(400_000 / (60 * tool.rowsPerConnection)));
        await sleep(50);
        tracer.child.kill('SIGINT');
        const [latencyMs, code] = await exitLatencyMs(tracer);
        t.diagnostic(`stalled reader: exited ${latencyMs.toFixed(1)} ms after SIGINT`);
        assert.equal(code, 0, tracer.stderr.text);
        // It gives up on the reader after EXIT_FLUSH_TIMEOUT_MS; a tool that
        // waited for the reader would never exit.
        assert.ok(latencyMs < EXIT_FLUSH_TIMEOUT_MS + PROMPTLY_MS, `exited ${latencyMs} ms after SIGINT`);
        assert.match(tracer.stderr.text, new RegExp(`^${tool.name}: stdout is not being read: dropped the last \\d+ bytes of output$`, 'm'));
        assert.match(tracer.stderr.text, SUMMARY(tool.name));
        await assertReleased(objects);
      } finally {
        tracer.child.kill('SIGKILL');
        await server.close();
      }
    });

    test('`timeout 2 tool -s > file`: header first, every line complete', async () => {
      const port = testPort(70 + toolIndex);
      const server = await startServer(address, { port: port });
      const directory = mkdtempSync(`${tmpdir()}/robust-timeout-`);
      const file = `${directory}/out.csv`;
      const fd = openSync(file, 'w');
      const runner = TracerProcess.start(['-s', '-L', String(port)], process.env, { tool: tool.name, wrapper: ['timeout', '2'], stdout: fd });
      closeSync(fd);
      try {
        const tracerPid = await childPid(runner.pid, binPath(tool.name));
        const objects = await waitForLinks(tracerPid);
        // Traffic right up to the end, so that the signal lands mid-stream.
        while (isRunning(tracerPid)) await server.connections(10);
        assert.equal((await runner.exited).code, 124); // timeout's own code for "timed out"
        const text = readFileSync(file, 'utf8');
        assert.ok(text.endsWith('\n'), 'the last line is complete');
        const lines = text.slice(0, -1).split('\n');
        assert.equal(lines[0], tool.csvHeader);
        const fields = tool.csvHeader.split(',').length;
        for (const line of lines.slice(1)) assert.equal(line.split(',').length, fields, `complete row: ${line}`);
        assert.ok(lines.length > 10, `rows were written (${lines.length - 1})`);
        assert.match(runner.stderr.text, SUMMARY(tool.name));
        await assertReleased(objects);
      } finally {
        runner.child.kill('SIGKILL');
        await server.close();
        rmSync(directory, { recursive: true, force: true });
      }
    });

    test('--duration 0.5: stops on its own half a second after attaching, exit 0', async (t) => {
      const spawnedAt = performance.now();
      const tracer = TracerProcess.start(['-L', String(testPort(80 + toolIndex)), '--duration', '0.5'], process.env, { tool: tool.name });
      try {
        await tracer.untilAttached();
        const objects = ownObjects(tracer.pid);
        const [latencyMs, code] = await exitLatencyMs(tracer);
        t.diagnostic(`--duration 0.5: exited ${latencyMs.toFixed(1)} ms after the header`);
        assert.equal(code, 0, tracer.stderr.text);
        // At least the 0.5 s from its start (measured from the spawn: when we
        // see the header is up to the scheduler), and it does end by itself.
        const ranMs = performance.now() - spawnedAt;
        assert.ok(ranMs >= 500 - TIMER_SLACK_MS && latencyMs < PROMPTLY_MS, `ran ${ranMs} ms, ${latencyMs} ms after the header`);
        assert.match(tracer.stderr.text, SUMMARY(tool.name));
        await assertReleased(objects);
      } finally {
        tracer.child.kill('SIGKILL');
      }
    });

    test('--duration longer than a timer can hold (58 days) does not end at once', async () => {
      const tracer = TracerProcess.start(['-L', String(testPort(85 + toolIndex)), '--duration', '5000000'], process.env, { tool: tool.name });
      try {
        await tracer.untilAttached();
        await sleep(300);
        assert.ok(isRunning(tracer.pid), `still tracing; stderr: ${tracer.stderr.text}`);
        tracer.child.kill('SIGINT');
        assert.deepEqual(await tracer.exited, { code: 0, signal: null });
      } finally {
        tracer.child.kill('SIGKILL');
      }
    });

    test('--count 3: exactly 3 rows, then exit 0', async () => {
      const port = testPort(90 + toolIndex);
      const server = await startServer(address, { port: port });
      const tracer = TracerProcess.start(['-s', '-L', String(port), '--count', '3'], process.env, { tool: tool.name });
      try {
        await tracer.untilAttached();
        const objects = ownObjects(tracer.pid);
        while (isRunning(tracer.pid)) await server.connections(3);
        const { code } = await tracer.exited;
        assert.equal(code, 0, tracer.stderr.text);
        const lines = tracer.stdout.text.split('\n');
        assert.equal(lines[0], tool.csvHeader);
        assert.equal(lines.length, 5, tracer.stdout.text); // header, 3 rows, ''
        assert.equal(csvRows(tracer.stdout.text).filter((row) => row.LPORT === String(port)).length, 3);
        await assertReleased(objects);
      } finally {
        tracer.child.kill('SIGKILL');
        await server.close();
      }
    });
  });
}
