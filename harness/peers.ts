// SPDX-License-Identifier: MIT
// Peer processes for the kernel tests and the benchmark: a loopback server
// and client as separate node processes with their own process titles (so
// their PID and COMM differ from the test runner's and from each other's);
// python3 peers for what node cannot do (listen without accepting); the
// process models of harness/fixtures/*.py; and a python3 load (sessions,
// refused, timed-out and reset connects) run in a test's own network
// namespace or cgroup. Driven only through argv/stdio. Traffic made in the
// test process itself is in loopback.ts.

import { spawn, type ChildProcess } from 'node:child_process';
import { adopt } from './children.js';
import type { Ending } from './loopback.js';
import { inCgroup, inNetns, type TestNetns } from './namespaces.js';
import { REPO_ROOT } from './system.js';
import { LineCollector, type Exit } from './tracer-process.js';

export type Family = 4 | 6;
export type Closer = 'client' | 'server';
/** fin: close() with the FIN handshake; rst: abort (SO_LINGER 0, an RST). */
export type CloseHow = Ending;

export interface PeerPlan {
  readonly family: Family;
  /** Bytes the client sends first. */
  readonly requestBytes: number;
  /** Bytes the server answers with. */
  readonly responseBytes: number;
  /** Which side ends the connection, and how; the other side waits for it
   * and then closes its own end (after a FIN) or finds it reset (RST). */
  readonly closer: Closer;
  readonly how: CloseHow;
  /** How long the closer holds the connection open after the exchange. */
  readonly holdMs: number;
  /** Connections the client makes, one after another. */
  readonly connections: number;
}

/**
 * The peer program, run with `node -e`. Protocol per connection: client
 * sends requestBytes; server reads them and sends responseBytes; client
 * reads them and sends one byte; server reads it and sends one byte back.
 * Each of the two last bytes carries the ACK for everything before it, so
 * when the closer acts, all payload is acknowledged whatever the close:
 * bytes_acked/bytes_received are then the payload plus the SYN/FIN/sync
 * bytes (at most 3), which the KB columns do not see for sizes chosen away
 * from multiples of 1024.
 */
const PEER_PROGRAM = String.raw`
const net = require('node:net');
const [role, title, planJson, portText] = process.argv.slice(1);
process.title = title;
const plan = JSON.parse(planJson);
const host = plan.family === 6 ? '::1' : '127.0.0.1';
const say = (record) => process.stdout.write(JSON.stringify({ ...record, pid: process.pid }) + '\n');

/** Reads exactly n bytes, then calls back (once). */
function expect(socket, n, then) {
  let got = 0;
  const onData = (chunk) => {
    got += chunk.length;
    if (got >= n) { socket.removeListener('data', onData); then(); }
  };
  socket.on('data', onData);
}

function closeNow(socket) {
  if (plan.how === 'rst') socket.resetAndDestroy(); else socket.end();
}

if (role === 'server') {
  let remaining = plan.connections;
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.on('close', () => { if (--remaining === 0) server.close(() => say({ event: 'done' })); });
    expect(socket, plan.requestBytes, () => {
      socket.write(Buffer.alloc(plan.responseBytes, 0x61));
      expect(socket, 1, () => {
        socket.write('k');
        if (plan.closer === 'server') setTimeout(() => closeNow(socket), plan.holdMs);
      });
    });
  });
  server.listen(0, host, () => say({ event: 'listening', port: server.address().port }));
} else {
  const port = Number(portText);
  const one = (index) => {
    if (index === plan.connections) { say({ event: 'done' }); return; }
    const startedMs = Date.now();
    const socket = net.connect({ host, port });
    socket.on('error', () => {});
    socket.on('close', () => {
      say({ event: 'closed', localPort, startedMs, closedMs: Date.now() });
      one(index + 1);
    });
    let localPort = 0;
    socket.on('connect', () => {
      localPort = socket.localPort;
      socket.write(Buffer.alloc(plan.requestBytes, 0x62));
      expect(socket, plan.responseBytes, () => {
        socket.write('k');
        expect(socket, 1, () => {
          if (plan.closer === 'client') setTimeout(() => closeNow(socket), plan.holdMs);
        });
      });
    });
  };
  one(0);
}
`;

interface JsonRecord {
  readonly event: string;
  readonly pid: number;
  readonly port?: number;
  readonly localPort?: number;
  readonly startedMs?: number;
  readonly closedMs?: number;
}

function exitOf(child: ChildProcess): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

export interface PeerRun {
  readonly serverPid: number;
  readonly clientPid: number;
  readonly serverTitle: string;
  readonly clientTitle: string;
  readonly serverPort: number;
  /** One per connection, in order. */
  readonly connections: readonly { localPort: number; startedMs: number; closedMs: number }[];
}

/** A process title of at most 10 characters (bcc's default COMM width),
 * unique enough among concurrent runs. */
export function uniqueTitle(prefix: string): string {
  return `${prefix}${String(Math.floor(Math.random() * 1e5)).padStart(5, '0')}`.slice(0, 10);
}

/**
 * Runs a server process and a client process through `plan`; resolves when
 * both are done. `afterListening` runs between the server's listen() and the
 * client's start (e.g. to start tracing after the listener exists). Rejects (after killing both) if that takes longer than
 * `timeoutMs`.
 */
export async function runPeers(
  plan: PeerPlan,
  options: { timeoutMs?: number; afterListening?: (server: { pid: number; port: number }) => Promise<void> } = {},
): Promise<PeerRun> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const serverTitle = uniqueTitle('tlsrv');
  const clientTitle = uniqueTitle('tlcli');
  const planJson = JSON.stringify(plan);
  const server = adopt(
    spawn(process.execPath, ['-e', PEER_PROGRAM, 'server', serverTitle, planJson], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const children: ChildProcess[] = [server];
  try {
    const serverOut = new LineCollector(server.stdout!);
    const listening = JSON.parse(
      await serverOut.waitFor((line) => line.includes('"listening"'), timeoutMs, 'the server to listen'),
    ) as JsonRecord;
    await options.afterListening?.({ pid: server.pid!, port: listening.port! });
    const client = adopt(
      spawn(process.execPath, ['-e', PEER_PROGRAM, 'client', clientTitle, planJson, String(listening.port)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    );
    children.push(client);
    const clientOut = new LineCollector(client.stdout!);
    await Promise.all([
      clientOut.waitFor((line) => line.includes('"done"'), timeoutMs, 'the client to finish'),
      serverOut.waitFor((line) => line.includes('"done"'), timeoutMs, 'the server to finish'),
    ]);
    await Promise.all([exitOf(server), exitOf(client)]);
    const connections = clientOut.lines
      .map((line) => JSON.parse(line) as JsonRecord)
      .filter((record) => record.event === 'closed')
      .map((record) => ({ localPort: record.localPort!, startedMs: record.startedMs!, closedMs: record.closedMs! }));
    return {
      serverPid: server.pid!,
      clientPid: client.pid!,
      serverTitle,
      clientTitle,
      serverPort: listening.port!,
      connections,
    };
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/**
 * A listener that accepts only when told to (python3: node cannot listen
 * without accepting). argv: family, title. stdin: one line per accept();
 * EOF ends it. stdout: the port, then "accepted" after each accept.
 */
const PY_LISTENER = String.raw`
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, sys.argv[2].encode(), 0, 0, 0)  # PR_SET_NAME
family = socket.AF_INET6 if sys.argv[1] == '6' else socket.AF_INET
listener = socket.socket(family)
listener.bind(('::1' if family == socket.AF_INET6 else '127.0.0.1', 0))
listener.listen(16)
print(listener.getsockname()[1], flush=True)
accepted = []
for line in sys.stdin:
    accepted.append(listener.accept()[0]); accepted[-1].recv(1, socket.MSG_PEEK)  # a use: owners are learnt from use
    print('accepted', flush=True)
`;

/** Connects, sends `bytes`, waits `holdMs`, aborts with an RST (SO_LINGER 0).
 * argv: family, title, port, bytes, holdMs. stdout: the local port. */
const PY_RST_CLIENT = String.raw`
import ctypes, socket, struct, sys, time
ctypes.CDLL(None).prctl(15, sys.argv[2].encode(), 0, 0, 0)  # PR_SET_NAME
family = socket.AF_INET6 if sys.argv[1] == '6' else socket.AF_INET
client = socket.socket(family)
client.connect(('::1' if family == socket.AF_INET6 else '127.0.0.1', int(sys.argv[3])))
print(client.getsockname()[1], flush=True)
client.sendall(b'x' * int(sys.argv[4]))
time.sleep(int(sys.argv[5]) / 1000)
client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
client.close()
`;

export interface Listener {
  readonly pid: number;
  readonly title: string;
  readonly port: number;
  /** Makes it accept() one connection; resolves once it has. */
  acceptOne(): Promise<void>;
  close(): Promise<void>;
}

export async function startListener(family: Family, timeoutMs = 10_000): Promise<Listener> {
  const title = uniqueTitle('tllsn');
  const child = adopt(spawn('python3', ['-c', PY_LISTENER, String(family), title], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const out = new LineCollector(child.stdout!);
  try {
    const port = Number(await out.waitFor(() => true, timeoutMs, 'the listener port'));
    let accepts = 0;
    return {
      pid: child.pid!,
      title,
      port,
      acceptOne: async () => {
        const index = ++accepts;
        child.stdin!.write('\n');
        await out.waitFor(() => out.lines.filter((line) => line === 'accepted').length >= index, timeoutMs, 'accept()');
      },
      close: async () => {
        child.stdin!.end();
        await exitOf(child);
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

/** Runs the python RST client to completion; resolves with its pid, title and local port. */
export async function runRstClient(family: Family, port: number, bytes: number, holdMs: number) {
  const title = uniqueTitle('tlrst');
  const child = adopt(
    spawn('python3', ['-c', PY_RST_CLIENT, String(family), title, String(port), String(bytes), String(holdMs)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const out = new LineCollector(child.stdout!);
  const exit = await exitOf(child);
  await out.untilEnd();
  if (exit.code !== 0) throw new Error(`the RST client exited with ${exit.code}`);
  return { pid: child.pid!, title, localPort: Number(out.lines[0]) };
}

// ---- harness/fixtures/*.py ------------------------------------------------------

export const FIXTURES = `${REPO_ROOT}harness/fixtures/`;

/** A record a fixture prints: one JSON object a line. */
export interface FixtureRecord {
  readonly event: string;
  readonly pid: number;
  readonly [field: string]: unknown;
}

/** A fixture process: its stdout lines as they come, commands on its stdin. */
export class FixturePeer {
  readonly stdout: LineCollector;
  readonly exited: Promise<Exit>;

  constructor(readonly child: ChildProcess) {
    adopt(child);
    this.stdout = new LineCollector(child.stdout);
    this.exited = exitOf(child);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get lines(): readonly string[] {
    return this.stdout.lines;
  }

  /** Resolves with the first line matching; fails after timeoutMs or if the process ends first. */
  waitFor(predicate: (line: string) => boolean, what: string, timeoutMs = 20_000): Promise<string> {
    return this.stdout.waitFor(predicate, timeoutMs, what);
  }

  /** The first JSON record with this event (python's json.dumps spacing). */
  async record(event: string, timeoutMs?: number): Promise<FixtureRecord> {
    const line = await this.waitFor((text) => text.includes(`"event": "${event}"`), `"${event}" from ${this.pid}`, timeoutMs);
    return JSON.parse(line) as FixtureRecord;
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** Closes its stdin (the fixtures end at EOF); kills it if it has not ended 10 s later. */
  async end(): Promise<void> {
    this.child.stdin?.end();
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([this.exited, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 10_000)))]);
    clearTimeout(timer);
    if (exit === null) this.child.kill('SIGKILL');
  }
}

/** Runs harness/fixtures/<script> with python3. */
export function startFixture(script: string, args: readonly (string | number)[]): FixturePeer {
  return new FixturePeer(spawn('python3', [`${FIXTURES}${script}`, ...args.map(String)], { stdio: ['pipe', 'pipe', 'inherit'] }));
}

// ---- a known load, in a namespace or cgroup of the test's own ---------------

/**
 * The load, in python3 (plain sockets make RSTs and timeouts easy). Steps,
 * one JSON line each on stdout:
 *   sessions N HOLD_MS BYTES [HOST]: a server on HOST:ephemeral; N connections one
 *     after another: the client sends BYTES, holds, closes first; the server
 *     reads to EOF and closes. {"step":"sessions","port":P,"client_ports":[...]}
 *   refused: a connect to a port nobody listens on. {"step":"refused","port":P,"error":"..."}
 *   timeout PORT: a connect to PORT whose SYNs are dropped. {"step":"timeout","port":P,"error":"..."}
 *   reset: the server accepts, reads, aborts (SO_LINGER 0): an RST; the client
 *     sees ECONNRESET. {"step":"reset","port":P,"client_port":C}
 */
const LOAD_PROGRAM = String.raw`
import json, socket, struct, sys, threading, time
args = sys.argv[1:]
def say(**record):
    print(json.dumps(record), flush=True)
def listener(host='127.0.0.1'):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    server = socket.socket(family)
    server.bind((host, 0))
    server.listen(128)
    return server, family
def connect_error(port):
    client = socket.socket()
    try:
        client.connect(('127.0.0.1', port))
        error = None
    except OSError as e:
        error = e.errno
    client.close()
    return error
while args:
    step = args.pop(0)
    if step == 'sessions':
        n, hold, size, host = int(args.pop(0)), int(args.pop(0)), int(args.pop(0)), args.pop(0)
        server, family = listener(host)
        port = server.getsockname()[1]
        def serve():
            for _ in range(n):
                conn, _ = server.accept()
                while conn.recv(65536):
                    pass
                conn.close()
        thread = threading.Thread(target=serve)
        thread.start()
        client_ports = []
        for _ in range(n):
            client = socket.socket(family)
            client.connect((host, port))
            client_ports.append(client.getsockname()[1])
            client.sendall(b'x' * size)
            time.sleep(hold / 1000)
            client.close()
        thread.join()
        server.close()
        say(step='sessions', port=port, client_ports=client_ports)
    elif step == 'refused':
        probe = socket.socket()
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
        probe.close()
        say(step='refused', port=port, error=connect_error(port))
    elif step == 'timeout':
        port = int(args.pop(0))
        say(step='timeout', port=port, error=connect_error(port))
    elif step == 'reset':
        server, family = listener()
        port = server.getsockname()[1]
        client = socket.socket()
        client.connect(('127.0.0.1', port))
        conn, _ = server.accept()
        client.sendall(b'hello')
        conn.recv(5)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        conn.close()
        time.sleep(0.05)
        client_port = client.getsockname()[1]
        try:
            client.recv(1)
        except OSError:
            pass
        client.close()
        server.close()
        say(step='reset', port=port, client_port=client_port)
`;

export interface LoadRecord {
  readonly step: string;
  readonly port: number;
  readonly client_ports?: number[];
  readonly client_port?: number;
  readonly error?: number | null;
}

/**
 * Runs the load steps in `netns` (none: the test's own namespace), in the
 * cgroup directory `cgroupDir` if given (the process moves itself there
 * before it opens any socket). Resolves with its JSON records.
 */
export async function runLoad(steps: readonly string[], options: { netns?: TestNetns; cgroupDir?: string } = {}): Promise<LoadRecord[]> {
  const argv = [
    ...(options.cgroupDir === undefined ? [] : inCgroup(options.cgroupDir)),
    ...(options.netns === undefined ? [] : inNetns(options.netns)),
    'python3',
    '-c',
    LOAD_PROGRAM,
    ...steps,
  ];
  const child = adopt(spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }));
  const stdout = new LineCollector(child.stdout);
  const stderr = new LineCollector(child.stderr);
  const exit = await new Promise<Exit>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  if (exit.code !== 0) throw new Error(`load ${steps.join(' ')} exited ${JSON.stringify(exit)}: ${stderr.text}`);
  return stdout.lines.filter((line) => line !== '').map((line) => JSON.parse(line) as LoadRecord);
}
