// SPDX-License-Identifier: MIT
// For the container and metrics kernel tests: network namespaces and cgroups
// the test creates (and always removes), and a known TCP load run inside
// them by a python3 process: sessions, a refused connect, a timed-out
// connect (SYNs dropped by an iptables rule in the test's own namespace), a
// reset. Only loopback addresses inside those namespaces.

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** dist/test/support -> repository root. */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function sh(command: string, args: readonly string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface TestNetns {
  readonly name: string;
  /** /run/netns/NAME */
  readonly path: string;
  /** Its inode number, as the JSON `netns` field shows it. */
  readonly ino: number;
  remove(): void;
}

/** A fresh network namespace with lo up; `remove()` deletes it (idempotent). */
export function createNetns(tag: string): TestNetns {
  const name = `tcpst-${tag}-${process.pid}`;
  try {
    sh('ip', ['netns', 'del', name]);
  } catch {
    // none left over
  }
  sh('ip', ['netns', 'add', name]);
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    try {
      sh('ip', ['netns', 'del', name]);
    } catch {
      // already gone
    }
  };
  try {
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (error) {
    remove();
    throw error;
  }
  const path = `/run/netns/${name}`;
  return { name, path, ino: statSync(path).ino, remove };
}

/** Drops SYNs to `port` inside the namespace and makes connects give up
 * after one retransmission (about 3 s instead of 2 min). */
export function dropSyns(netns: TestNetns, port: number): void {
  sh('ip', ['netns', 'exec', netns.name, 'iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', String(port), '--tcp-flags', 'SYN,ACK', 'SYN', '-j', 'DROP']);
  sh('ip', ['netns', 'exec', netns.name, 'sysctl', '-q', '-w', 'net.ipv4.tcp_syn_retries=1']);
}

export interface TestCgroup {
  /** Absolute directory, under the cgroup2 mount. */
  readonly dir: string;
  /** Relative to the mount, as the JSON `cgroup` field shows it. */
  readonly path: string;
  remove(): void;
}

export function cgroup2Mount(): string {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [before, after] = line.split(' - ');
    if (after?.startsWith('cgroup2 ')) return before!.split(' ')[4]!;
  }
  throw new Error('no cgroup2 mount');
}

/** Creates cgroup directories (parents first); `remove()` removes them deepest first. */
export function createCgroups(relativePaths: readonly string[]): TestCgroup[] {
  const mount = cgroup2Mount();
  return relativePaths.map((path) => {
    const dir = `${mount}${path}`;
    mkdirSync(dir, { recursive: true });
    return {
      dir,
      path,
      remove: () => {
        try {
          rmdirSync(dir);
        } catch {
          // gone, or still has a process: nothing more to do
        }
      },
    };
  });
}

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
        client = socket.socket()
        try:
            client.connect(('127.0.0.1', port))
            error = None
        except OSError as e:
            error = e.errno
        client.close()
        say(step='refused', port=port, error=error)
    elif step == 'timeout':
        port = int(args.pop(0))
        client = socket.socket()
        try:
            client.connect(('127.0.0.1', port))
            error = None
        except OSError as e:
            error = e.errno
        client.close()
        say(step='timeout', port=port, error=error)
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
 * Runs the load steps in `netns` (null: the test's own namespace), in the
 * cgroup directory `cgroupDir` if given (the process moves itself there
 * before it opens any socket). Resolves with its JSON records.
 */
export function runLoad(steps: readonly string[], options: { netns?: TestNetns; cgroupDir?: string } = {}): Promise<LoadRecord[]> {
  const python = ['python3', '-c', LOAD_PROGRAM, ...steps];
  const inNetns = options.netns === undefined ? python : ['ip', 'netns', 'exec', options.netns.name, ...python];
  // sh moves itself into the cgroup, then becomes the load: its sockets are the cgroup's.
  const argv =
    options.cgroupDir === undefined
      ? inNetns
      : ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', options.cgroupDir, ...inNetns];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`load ${steps.join(' ')} exited ${code}: ${stderr}`));
      else resolve(stdout.trim().split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as LoadRecord));
    });
  });
}

/** Writes a file (for test configs). */
export function writeText(path: string, text: string): void {
  writeFileSync(path, text);
}

/** A running bin/tcpstates or bin/tcplife, its output collected by line. */
export class FleetTool {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly child;

  private constructor(tool: string, args: readonly string[]) {
    this.child = spawn(process.execPath, [`${REPO_ROOT}bin/${tool}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (into: string[]) => {
      let partial = '';
      return (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        into.push(...parts);
      };
    };
    this.child.stdout.setEncoding('utf8').on('data', collect(this.stdout));
    this.child.stderr.setEncoding('utf8').on('data', collect(this.stderr));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  /** Starts the tool and waits until it is attached (its start notice). */
  static async start(tool: 'tcpstates' | 'tcplife', args: readonly string[]): Promise<FleetTool> {
    const running = new FleetTool(tool, args);
    try {
      await running.waitFor(() => running.stderr.some((line) => line.includes('Tracing')) || running.stdout.length > 0, 'its start');
    } catch (error) {
      running.child.kill('SIGKILL');
      throw error;
    }
    return running;
  }

  async waitFor(done: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (!done()) {
      if (exited) throw new Error(`tool exited before ${what}: ${this.stderr.join(' | ')}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${this.stderr.join(' | ')}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** The port of "serving metrics on http://HOST:PORT/metrics". */
  get metricsPort(): number {
    for (const line of this.stderr) {
      const match = /serving metrics on http:\/\/[^ ]*:(\d+)\/metrics/.exec(line);
      if (match !== null) return Number(match[1]);
    }
    throw new Error(`no metrics port announced: ${this.stderr.join(' | ')}`);
  }

  /** Stops it with SIGINT (SIGKILL if it hangs) and resolves with its exit code. */
  async stop(): Promise<number | null> {
    this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  /** stdout lines parsed as JSON objects. */
  json<T = Record<string, unknown>>(): T[] {
    return this.stdout.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as T);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
