// SPDX-License-Identifier: MIT
// Shared by the robust-* tests: the tools under test, spawning a tracer and
// waiting for it to attach, finding its own BPF programs and links through
// bpftool (other tracers may be attached), and loopback traffic on an
// address and port of the test's own.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { binPath, ROOT } from '../support/robust-tools.js';

export { binPath, ROOT, TOOLS, type ToolUnderTest } from '../support/robust-tools.js';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A port for this test run: derived from the pid so that concurrent runs
 * by other helpers are unlikely to collide, and stable within a file. */
export function testPort(offset: number): number {
  return 20000 + ((process.pid * 7 + offset * 101) % 30000);
}

/** A loopback address of our own (127.0.0.0/8 is all loopback). */
export function testAddress(offset: number): string {
  return `127.${100 + (offset % 100)}.${(process.pid >> 8) & 255}.${(process.pid & 255) || 1}`;
}

export interface Tracer {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything read from stdout so far (when stdout is a pipe to us). */
  stdout(): string;
  stderr(): string;
  /** Resolves with [exit code, signal] once the process has exited. */
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/**
 * Starts `bin/<tool> ...args` (under `wrapper`, e.g. setpriv, when given).
 * With `stdout: 'pipe'` the output is collected; pass a file descriptor to
 * write into a file instead.
 */
export function startTracer(
  tool: string,
  args: readonly string[],
  options: {
    stdout?: 'pipe' | number;
    /** false: leave a piped stdout unread, as a stalled reader would. */
    readStdout?: boolean;
    cwd?: string;
    bin?: string;
    env?: NodeJS.ProcessEnv;
    wrapper?: readonly string[];
    /** Run `bin` itself (its #! line finds node on PATH), as a user would. */
    exec?: boolean;
  } = {},
): Tracer {
  const bin = options.bin ?? binPath(tool);
  const command = [...(options.wrapper ?? []), ...(options.exec ? [] : [process.execPath]), bin, ...args];
  const child = spawn(command[0]!, command.slice(1), {
    stdio: ['ignore', options.stdout ?? 'pipe', 'pipe'],
    cwd: options.cwd ?? ROOT,
    env: options.env ?? process.env,
  });
  let out = '';
  let err = '';
  if (options.readStdout === false) child.stdout?.pause();
  else child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  if (child.pid === undefined) throw new Error(`cannot start ${tool}`);
  return { child, pid: child.pid, stdout: () => out, stderr: () => err, exited };
}

/** Waits until `predicate` holds, polling; throws with `what` after `timeoutMs`. */
export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface BpftoolEntry {
  id: number;
  name?: string;
}

function bpftoolList(kind: 'prog' | 'link' | 'map'): BpftoolEntry[] {
  const result = spawnSync('bpftool', ['-j', kind, 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.status !== 0) throw new Error(`bpftool ${kind} show failed: ${result.stderr}`);
  return JSON.parse(result.stdout === '' ? '[]' : result.stdout) as BpftoolEntry[];
}

/** A BPF object a process holds, as its fdinfo describes it. */
export interface HeldObject {
  readonly id: number;
  /** The fdinfo fields: map_type, max_entries, link_type... */
  readonly info: Readonly<Record<string, string>>;
}

export interface BpfObjects {
  readonly progs: HeldObject[];
  readonly links: HeldObject[];
  readonly maps: HeldObject[];
}

/**
 * The BPF programs, links and maps that process `pid` holds open, from its
 * /proc fd table (this bpftool is built without the pid iterator, so its
 * "pids" field is not available). Other tracers may be loaded at the same
 * time: these ids are this process's own.
 */
export function bpfObjectsOf(pid: number): BpfObjects {
  const objects: BpfObjects = { progs: [], links: [], maps: [] };
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return objects;
  }
  for (const fd of fds) {
    let target: string;
    let fdinfo: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      fdinfo = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const info = Object.fromEntries(
      fdinfo
        .split('\n')
        .map((line) => /^(\w+):\s*(.*)$/.exec(line))
        .filter((match): match is RegExpExecArray => match !== null)
        .map((match) => [match[1]!, match[2]!]),
    );
    if (target === 'anon_inode:bpf-prog') objects.progs.push({ id: Number(info.prog_id), info });
    else if (target === 'anon_inode:bpf_link') objects.links.push({ id: Number(info.link_id), info });
    else if (target === 'anon_inode:bpf-map') objects.maps.push({ id: Number(info.map_id), info });
  }
  return objects;
}

/** The ids among `ids` of `kind` that still exist in the kernel (bpftool). */
export function stillLoaded(kind: 'prog' | 'link' | 'map', ids: readonly number[]): number[] {
  const present = new Set(bpftoolList(kind).map((entry) => entry.id));
  return ids.filter((id) => present.has(id));
}

/** bpftool's name for map `id` ('' when gone). */
export function mapName(id: number): string {
  return bpftoolList('map').find((entry) => entry.id === id)?.name ?? '';
}

/** Waits for the header line (the tracer prints it once attached). */
export async function waitForAttach(tracer: Tracer, timeoutMs = 15_000): Promise<void> {
  await waitFor(`${tracer.pid} to attach (stderr: ${tracer.stderr()})`, () => tracer.stdout().includes('\n'), timeoutMs);
}

/** Waits until `pid` holds an attached BPF link (for a tracer whose stdout we do not read). */
export async function waitForLinks(pid: number, timeoutMs = 15_000): Promise<BpfObjects> {
  let objects: BpfObjects = { progs: [], links: [], maps: [] };
  await waitFor(
    `${pid} to attach its BPF links`,
    () => {
      objects = bpfObjectsOf(pid);
      return objects.links.length > 0;
    },
    timeoutMs,
  );
  return objects;
}

/** A loopback server whose accepted sockets close as soon as the client does. */
export class LoopbackServer {
  private constructor(
    readonly server: Server,
    readonly address: string,
    readonly port: number,
  ) {}

  static async listen(address: string, port: number): Promise<LoopbackServer> {
    const server = createServer((socket: Socket) => {
      socket.on('error', () => {});
      // Client closes first: the server side goes CLOSE_WAIT -> LAST_ACK -> CLOSE.
      socket.on('end', () => socket.end());
      socket.resume();
    });
    server.listen({ host: address, port, backlog: 512 });
    await once(server, 'listening');
    return new LoopbackServer(server, address, port);
  }

  /** Opens and closes `count` connections one after another. */
  async connections(count: number): Promise<void> {
    for (let index = 0; index < count; index++) {
      const client = createConnection({ host: this.address, port: this.port });
      client.on('error', () => {});
      await once(client, 'connect');
      client.end();
      client.resume();
      await once(client, 'close');
    }
  }

  /** Stops listening; safe to call again. */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    this.server.close();
    await once(this.server, 'close');
  }
}

/** Parses CSV output (-s) into header -> value rows; ignores non-row lines. */
export function csvRows(text: string): Record<string, string>[] {
  const lines = text.split('\n').filter((line) => line.length > 0);
  const header = lines[0]?.split(',') ?? [];
  return lines.slice(1).map((line) => {
    const fields = line.split(',');
    return Object.fromEntries(header.map((name, index) => [name, fields[index] ?? '']));
  });
}

/** VmRSS of a process in KiB. */
export function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]);
}

export function isRunning(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Compiles a small BPF C source with the project's own includes (vmlinux.h
 * from the build, bpf/tcpstates.h) into a temporary object, for the tests
 * that feed the loader a deliberately broken program.
 */
export function buildBpfObject(name: string, source: string): string {
  const directory = mkdtempSync(`${tmpdir()}/robust-bpf-`);
  writeFileSync(`${directory}/${name}.bpf.c`, source);
  const arch = process.arch === 'arm64' ? 'arm64' : 'x86';
  const result = spawnSync(
    'clang',
    ['-g', '-O2', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, `-I${ROOT}bpf`, `-I${ROOT}dist/bpf`, '-c', `${name}.bpf.c`, '-o', `${name}.bpf.o`],
    { cwd: directory, encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`clang failed for ${name}: ${result.stderr}`);
  // The object is read at open time; the directory goes when the test process exits.
  process.once('exit', () => rmSync(directory, { recursive: true, force: true }));
  return `${directory}/${name}.bpf.o`;
}

/** What every object the loader opens must have before its load: the
 * configuration in .rodata and the two programs by name. */
const FIXTURE_PRELUDE = `
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tcpstates.h"

const volatile struct tcpstates_config cfg = {};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u8);
} pids SEC(".maps");

SEC("raw_tp/sys_exit")
int handle_sys_exit(__u64 *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

/** A program the verifier rejects after walking ~2800 instructions, so its
 * log (~170 KB) is far longer than one libbpf print buffer (8 KiB). */
export const VERIFIER_REJECTED_SOURCE = `${FIXTURE_PRELUDE}
SEC("raw_tp/inet_sock_set_state")
int handle_set_state(__u64 *ctx)
{
	volatile __u64 sum = 0;
#pragma clang loop unroll(full)
	for (int i = 0; i < 400; i++)
		sum += cfg.mode + i;
	/* The tracepoint has 3 arguments: the 1001st is out of the context. */
	return ctx[1000] + sum;
}
`;

/** A valid program on a tracepoint no kernel has: the attach fails. */
export const MISSING_TRACEPOINT_SOURCE = `${FIXTURE_PRELUDE}
SEC("raw_tp/robust_test_no_such_tracepoint")
int handle_set_state(__u64 *ctx)
{
	return cfg.mode;
}
`;
