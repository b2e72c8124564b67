// SPDX-License-Identifier: MIT
// --existing with real server software (root, real kernel), each started
// before the tracer on loopback on a test port in a temp dir, and stopped by
// the test: redis-server with a redis-cli session and redis-benchmark -k 1
// connections, PostgreSQL with a psql session, a Python HTTP/1.1 keep-alive
// connection. Bytes move before and after the tracer starts; the sessions
// close while it runs. Each end's row names its program and says
// start_seen false, and the two ends agree to the byte: what one end sent
// (tx_bytes: bytes_acked) is what the other received (rx_bytes), but for the
// SYN of the end that connected, which only its own bytes_acked counts, and
// the server's FIN, which the client's bytes_received counts only if it came
// before the client's socket closed (see assertAgree).

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adopt } from '../../harness/children.js';
import { FixturePeer, FIXTURES } from '../../harness/peers.js';
import { testPort } from '../../harness/loopback.js';
import { TracerProcess } from '../../harness/tracer-process.js';
import { openFds, requireRoot, waitFor } from '../../harness/system.js';

requireRoot();

type Row = Record<string, unknown>;

function rows(tracer: TracerProcess): Row[] {
  return tracer.stdoutLines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Row);
}

/** Both ends of the connection whose client end has local port `clientPort`, to `port`. */
async function bothEnds(tracer: TracerProcess, port: number, clientPort: number): Promise<{ client: Row; server: Row }> {
  const find = () => {
    const all = rows(tracer);
    return {
      client: all.find((row) => row.lport === clientPort && row.rport === port),
      server: all.find((row) => row.lport === port && row.rport === clientPort),
    };
  };
  await waitFor(`both rows of ${clientPort}->${port}`, () => find().client !== undefined && find().server !== undefined);
  return find() as { client: Row; server: Row };
}

/**
 * The ends agree to the byte, by the kernel's rule. The client's tx counts its
 * SYN besides what the server received (its FIN is in both). The server's FIN
 * is in the server's tx once acked, and in the client's rx only if it arrived
 * before the client's socket closed: these clients close without reading to
 * the end, so when the ACK of their FIN comes alone, the kernel turns their
 * socket into a FIN_WAIT2 timewait socket there and then (tcp_time_wait), and
 * the server's FIN lands on that, after the close this row was taken at.
 */
function assertAgree(ends: { client: Row; server: Row }): void {
  const { client, server } = ends;
  assert.equal(client.tx_bytes, (server.rx_bytes as number) + 1, `client tx = server rx + its SYN: ${JSON.stringify(ends)}`);
  const serverFinUnseen = (server.tx_bytes as number) - (client.rx_bytes as number);
  assert.ok(serverFinUnseen === 0 || serverFinUnseen === 1, `server tx = client rx, or one more (its FIN, after the client's socket closed): ${JSON.stringify(ends)}`);
  assert.deepEqual([client.start_seen, server.start_seen], [false, false]);
}

async function stopCleanly(tracer: TracerProcess): Promise<void> {
  const exit = await tracer.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, tracer.stderr.text);
}

/** A child's stdout lines, for a program that answers on stdout. */
function lines(child: ChildProcess): string[] {
  const seen: string[] = [];
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const parts = text.split('\n');
    partial = parts.pop()!;
    seen.push(...parts);
  });
  return seen;
}

/** The local ports of `pid`'s established TCP connections to `port` (from
 * /proc/PID/fd and ss), ascending; none once it has exited. */
function clientPortsOf(pid: number, port: number): number[] {
  const inodes = new Set(openFds(pid).flatMap(({ target }) => /^socket:\[(\d+)\]$/.exec(target)?.[1] ?? []));
  const ss = execFileSync('ss', ['-tnpe', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8' });
  const ports: number[] = [];
  for (const line of ss.split('\n')) {
    const inode = /ino:(\d+)/.exec(line)?.[1];
    const local = /\S+:(\d+)\s+\S+:\d+/.exec(line);
    if (inode !== undefined && inodes.has(inode) && local) ports.push(Number(local[1]));
  }
  return ports.sort((a, b) => a - b);
}

/** The local port of `pid`'s one TCP connection to `port`. */
function clientPortOf(pid: number, port: number): number {
  const [local] = clientPortsOf(pid, port);
  if (local === undefined) throw new Error(`no connection of ${pid} to port ${port}`);
  return local;
}

/** The commands redis on `port` has processed (INFO stats, over a connection of its own). */
function commandsProcessed(port: number): number {
  return Number(/^total_commands_processed:(\d+)/m.exec(execFileSync('redis-cli', ['-p', String(port), 'INFO', 'stats'], { encoding: 'utf8' }))?.[1] ?? 0);
}

/** redis-benchmark's pings: on two connections that stay open from the first
 * to the last (-k 1, one test) and then close cleanly, every answer read (a
 * kill would abort them with answers unread: the ends' bytes would not
 * agree). About a second here. */
const REDIS_BENCHMARK_REQUESTS = 100_000;

test('redis-server with a redis-cli session and redis-benchmark -k 1 connections open before tcplife --existing', async () => {
  assert.ok(existsSync('/usr/bin/redis-server'), 'redis-server is not installed: npm test installs it (scripts/setup-tests)');
  const dir = mkdtempSync(join(tmpdir(), 'tcpstates-redis-'));
  const port = testPort(61);
  const redis = adopt(
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const redisOut = lines(redis);
  let cli: ChildProcess | null = null;
  let bench: ChildProcess | null = null;
  let tracer: TracerProcess | null = null;
  try {
    await waitFor('redis ready', () => redisOut.some((line) => line.includes('Ready to accept connections')));
    cli = adopt(spawn('redis-cli', ['-p', String(port)], { stdio: ['pipe', 'pipe', 'inherit'] }));
    const cliOut = lines(cli);
    cli.stdin!.write('SET greeting hello\n');
    await waitFor('SET answered', () => cliOut.includes('OK'));
    const cliPort = clientPortOf(cli.pid!, port);
    // Its two connections must be open while the tracer starts, however long
    // that takes: it is stopped (SIGSTOP) with both open, then continues.
    let benchDone: Promise<unknown> = Promise.resolve();
    for (let attempt = 1; ; attempt++) {
      const load = adopt(spawn('redis-benchmark', ['-p', String(port), '-c', '2', '-n', String(REDIS_BENCHMARK_REQUESTS), '-k', '1', '-t', 'ping_mbulk', '-q'], { stdio: 'ignore' }));
      bench = load;
      benchDone = new Promise((resolve) => load.once('exit', resolve));
      let open: number[] = [];
      await waitFor('redis-benchmark connected', () => (open = clientPortsOf(load.pid!, port)).length === 2);
      await waitFor('pings before the tracer starts', () => commandsProcessed(port) > 1000);
      load.kill('SIGSTOP');
      // Unless it was done before it stopped (its pings ran out first).
      if (JSON.stringify(clientPortsOf(load.pid!, port)) === JSON.stringify(open)) break;
      assert.ok(attempt < 3, `redis-benchmark stopped with its connections open (attempt ${attempt})`);
      load.kill('SIGCONT');
      await benchDone;
    }
    tracer = await TracerProcess.attach('tcplife', ['--existing', '--json']);
    bench.kill('SIGCONT');
    cli.stdin!.write('GET greeting\n');
    await waitFor('GET answered', () => cliOut.includes('hello'));
    cli.stdin!.end(); // redis-cli exits: its session closes
    await benchDone;
    const ends = await bothEnds(tracer, port, cliPort);
    assert.deepEqual([ends.client.comm, ends.client.pid, ends.server.comm, ends.server.pid], ['redis-cli', cli.pid, 'redis-server', redis.pid]);
    assertAgree(ends);
    await waitFor('redis-benchmark rows', () => rows(tracer!).filter((row) => row.comm === 'redis-benchmark' && row.start_seen === false).length >= 2);
    for (const client of rows(tracer).filter((row) => row.comm === 'redis-benchmark' && row.start_seen === false)) {
      assertAgree(await bothEnds(tracer, port, client.lport as number));
      assert.ok((client.tx_bytes as number) > 1000, 'the pings before and after the start');
    }
  } finally {
    cli?.kill();
    bench?.kill('SIGKILL'); // stopped, it would not act on SIGTERM
    redis.kill();
    await new Promise((resolve) => redis.once('exit', resolve));
    if (tracer !== null) await stopCleanly(tracer);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** PostgreSQL's programs (Debian keeps them off PATH). */
function pgBin(name: string): string {
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort() : [];
  for (const version of versions.reverse()) if (existsSync(`/usr/lib/postgresql/${version}/bin/${name}`)) return `/usr/lib/postgresql/${version}/bin/${name}`;
  return name;
}

test('PostgreSQL with a psql session open before tcplife --existing', async () => {
  assert.ok(existsSync(pgBin('initdb')) && existsSync('/usr/bin/psql'), 'postgresql is not installed: npm test installs it (scripts/setup-tests)');
  const dir = mkdtempSync(join(tmpdir(), 'tcpstates-pg-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  const port = testPort(62);
  const asPostgres = (command: string, args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', command, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  asPostgres(pgBin('initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres']);
  let psql: ChildProcess | null = null;
  let tracer: TracerProcess | null = null;
  try {
    asPostgres(pgBin('pg_ctl'), ['-D', data, '-w', '-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, 'start']);
    psql = adopt(spawn('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-At'], { stdio: ['pipe', 'pipe', 'inherit'] }));
    const out = lines(psql);
    psql.stdin!.write("select 'before';\n");
    await waitFor('the first query', () => out.includes('before'));
    const psqlPort = clientPortOf(psql.pid!, port);
    tracer = await TracerProcess.attach('tcplife', ['--existing', '--json']);
    psql.stdin!.write("select repeat('x', 3000);\n");
    await waitFor('the second query', () => out.some((line) => line.length === 3000));
    psql.stdin!.end();
    const ends = await bothEnds(tracer, port, psqlPort);
    assert.deepEqual([ends.client.comm, ends.client.pid, ends.server.comm], ['psql', psql.pid, 'postgres']);
    assert.ok((ends.server.tx_bytes as number) > 3000);
    assertAgree(ends);
  } finally {
    psql?.kill();
    try {
      asPostgres(pgBin('pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']);
    } catch {
      // not started
    }
    if (tracer !== null) await stopCleanly(tracer);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a Python HTTP/1.1 keep-alive connection open before tcplife --existing', async () => {
  const server = new FixturePeer(spawn('python3', [`${FIXTURES}http_keepalive.py`, 'server', 'kahttpd'], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const { port } = (await server.record('listening')) as unknown as { port: number };
  const client = new FixturePeer(spawn('python3', [`${FIXTURES}http_keepalive.py`, 'client', 'kaclient', String(port)], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const { localPort } = (await client.record('connected')) as unknown as { localPort: number };
  let tracer: TracerProcess | null = null;
  try {
    client.send('get 2000');
    await client.record('got');
    tracer = await TracerProcess.attach('tcplife', ['--existing', '--json']);
    client.send('get 5000');
    await client.waitFor((line) => line.includes('"bytes": 5000'), 'the second response');
    client.send('close');
    await client.record('closed');
    const ends = await bothEnds(tracer, port, localPort);
    assert.deepEqual([ends.client.comm, ends.client.pid, ends.server.comm, ends.server.pid], ['kaclient', client.pid, 'kahttpd', server.pid]);
    assert.ok((ends.server.tx_bytes as number) > 7000);
    assertAgree(ends);
  } finally {
    await client.end();
    server.child.kill();
    if (tracer !== null) await stopCleanly(tracer);
  }
});
