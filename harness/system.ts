// SPDX-License-Identifier: MIT
// Facts about the machine and the repository that the kernel tests and the
// benchmark need: where the repository and the tools are, whether we are
// root, tracefs, the BPF objects a process holds, and a process's state.
// One definition of each; nothing here starts traffic or a tracer.

import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository root: this file runs as dist/harness/system.js. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** bin/<tool> of this repository (or of another root, e.g. an unpacked package). */
export function binPath(tool: string, root = REPO_ROOT): string {
  return `${root}bin/${tool}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `predicate` every 10 ms; throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

// ---- timing ----------------------------------------------------------------

/**
 * Two BPF programs on one tracepoint hit (two tracers, or ours and the
 * reference) run one after the other with interrupts enabled: their stamps
 * of one transition differ by ~1 us typically, 11.8 us at p99.9 and up to
 * ~100 us at worst (measured here), so each tool's difference of two stamps
 * can differ by twice that. Plus 0.001 ms of MS truncation each, and margin:
 * durations of one transition printed by two tracers agree within this.
 */
export const TWO_PROGRAMS_TOLERANCE_MS = 0.3;

/**
 * That jitter holds for transitions in softirq context, which nothing
 * preempts. A transition in process context (connect(), close(), a backlog
 * processed in release_sock()) can be preempted between the two programs,
 * and on a busy machine that puts a scheduler slice (measured: 5 ms) between
 * their stamps. A task at a real-time priority is not preempted by the rest
 * of the machine: the tests that compare two programs' durations make their
 * traffic at one. (Real-time tasks that sleep most of the time, as traffic
 * does, take nothing from anyone.)
 */
const REALTIME_PRIORITY = '10';

/** A command prefix: run the rest of the argv at a real-time priority (SCHED_FIFO). */
export const REALTIME_WRAPPER: readonly string[] = ['chrt', '--fifo', REALTIME_PRIORITY];

/** Runs `body` with every thread of this process at a real-time priority, then back to normal. */
export async function atRealtimePriority<T>(body: () => Promise<T>): Promise<T> {
  execFileSync('chrt', ['--all-tasks', '--fifo', '--pid', REALTIME_PRIORITY, String(process.pid)]);
  try {
    return await body();
  } finally {
    execFileSync('chrt', ['--all-tasks', '--other', '--pid', '0', String(process.pid)]);
  }
}

/**
 * An upper bound for "promptly" in tests whose failure mode is a hang (a
 * tracer that never exits, rows that never come): generous, because on a
 * busy 2-core machine a correct process can wait seconds for a CPU.
 */
export const PROMPTLY_MS = 10_000;

// ---- root ------------------------------------------------------------------

export const NEEDS_ROOT_MESSAGE =
  'kernel tests need root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN to load BPF and mount tracefs): ' +
  'run `npm test` as root, or `npm run test:unit` for the tests that need neither root nor a kernel';

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Called at the top of every kernel test file: without root the file fails
 * at once with one clear line instead of obscure EPERMs halfway through.
 * (It fails rather than skips: CI runs as root, and a privileged test must
 * never pass by being skipped.)
 */
export function requireRoot(): void {
  if (isRoot()) return;
  const error = new Error(NEEDS_ROOT_MESSAGE);
  error.stack = `Error: ${NEEDS_ROOT_MESSAGE}`; // the message is the whole story: no stack
  throw error;
}

// ---- tracefs ---------------------------------------------------------------

export const TRACEFS = '/sys/kernel/tracing';

/** Where tracefs is mounted in this mount namespace (anywhere, not only at TRACEFS). */
export function tracefsMountPoints(): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[2] === 'tracefs')
    .map((fields) => fields[1]!);
}

export function tracefsMounted(): boolean {
  return tracefsMountPoints().includes(TRACEFS);
}

/** Runs `body` with tracefs mounted (or not), restoring the previous state. */
export async function withTracefs<T>(mounted: boolean, body: () => Promise<T>): Promise<T> {
  const before = tracefsMounted();
  if (before !== mounted) execFileSync(mounted ? 'mount' : 'umount', mounted ? ['-t', 'tracefs', 'nodev', TRACEFS] : [TRACEFS]);
  try {
    return await body();
  } finally {
    if (tracefsMounted() !== before) {
      execFileSync(before ? 'mount' : 'umount', before ? ['-t', 'tracefs', 'nodev', TRACEFS] : [TRACEFS]);
    }
  }
}

/**
 * A command prefix that runs the rest of its argv in a private mount
 * namespace with every tracefs and debugfs unmounted, so a test proves the
 * tool needs neither, whatever other processes on the machine have mounted
 * meanwhile (unlike withTracefs, it changes nothing outside).
 */
export function withoutTracefsWrapper(): string[] {
  const script = [
    'set -e',
    // Deepest first: /sys/kernel/debug/tracing before /sys/kernel/debug.
    `for target in $(awk '$3 == "tracefs" || $3 == "debugfs" { print $2 }' /proc/self/mounts | sort -r); do umount -l "$target"; done`,
    `if awk '$3 == "tracefs" { found = 1 } END { exit !found }' /proc/self/mounts; then echo 'tracefs is still mounted' >&2; exit 1; fi`,
    'exec "$@"',
  ].join('\n');
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh'];
}

// ---- CPUs and ports --------------------------------------------------------

/** The CPUs of a kernel CPU list ("0-3,8,10-11": /proc/PID/status, /sys). */
export function parseCpuList(text: string): number[] {
  return text
    .trim()
    .split(',')
    .filter((part) => part !== '')
    .flatMap((part) => {
      const [first, last = first] = part.split('-').map(Number);
      return Array.from({ length: last! - first! + 1 }, (_, index) => first! + index);
    });
}

/** The online CPUs this process may run on, ascending (not every machine
 * has a CPU 0 and 1 that a test may pin to). */
export function allowedCpus(): number[] {
  const allowed = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';
  const online = new Set(parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8')));
  return parseCpuList(allowed).filter((cpu) => online.has(cpu));
}

/** This namespace's ip_local_port_range: the ports any connect() may take. */
export function ephemeralPorts(): { readonly low: number; readonly high: number } {
  const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  return { low: low!, high: high! };
}

// ---- BPF objects -----------------------------------------------------------

interface BpftoolEntry {
  id: number;
  name?: string;
  /** Programs: the runs the kernel skipped (one already running on that CPU). */
  recursion_misses?: number;
}

/** Listings in a row that may meet a link being attached (see bpftoolList). */
const BPFTOOL_ATTEMPTS = 20;

function bpftoolList(kind: 'prog' | 'link' | 'map'): BpftoolEntry[] {
  for (let attempt = 1; ; attempt++) {
    const result = spawnSync('bpftool', ['-j', kind, 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (result.status === 0) return JSON.parse(result.stdout === '' ? '[]' : result.stdout) as BpftoolEntry[];
    // A link that any process on the machine is still attaching cannot be
    // opened by its id yet (EAGAIN), and bpftool then fails the whole listing
    // (its -j errors are on stdout): list again, it is settled in moments.
    if (!/Resource temporarily unavailable/.test(result.stdout) || attempt === BPFTOOL_ATTEMPTS) {
      throw new Error(`bpftool ${kind} show failed: ${result.stderr}${result.stdout.slice(-500)}`);
    }
  }
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
  for (const { fd, target } of openFds(pid)) {
    if (!target.startsWith('anon_inode:bpf')) continue;
    let fdinfo: string;
    try {
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

/** The runs the kernel skipped of the program named `name` that process `pid` holds. */
export function recursionMissesOf(pid: number, name: string): number {
  const held = new Set(bpfObjectsOf(pid).progs.map((prog) => prog.id));
  const program = bpftoolList('prog').find((entry) => held.has(entry.id) && entry.name === name);
  if (program === undefined) throw new Error(`process ${pid} holds no program named ${name}`);
  return program.recursion_misses ?? 0;
}

/** How many entries the map named `name` that process `pid` holds has now. */
export function mapEntriesOf(pid: number, name: string): number {
  const held = new Set(bpfObjectsOf(pid).maps.map((map) => map.id));
  const map = bpftoolList('map').find((entry) => held.has(entry.id) && entry.name === name);
  if (map === undefined) throw new Error(`process ${pid} holds no map named ${name}`);
  const result = spawnSync('bpftool', ['-j', 'map', 'dump', 'id', String(map.id)], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (result.status !== 0) throw new Error(`bpftool map dump id ${map.id} failed: ${result.stderr}`);
  return (JSON.parse(result.stdout === '' ? '[]' : result.stdout) as unknown[]).length;
}

/** bpftool's name for map `id` ('' when gone). */
export function mapName(id: number): string {
  return bpftoolList('map').find((entry) => entry.id === id)?.name ?? '';
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

// ---- processes -------------------------------------------------------------

/** The file descriptors `pid` has open and what each is (its /proc/PID/fd
 * link: a path, "anon_inode:bpf_link", "anon_inode:[perf_event]"...); none
 * when it is gone. */
export function openFds(pid: number): { fd: string; target: string }[] {
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const open: { fd: string; target: string }[] = [];
  for (const fd of fds) {
    try {
      open.push({ fd, target: readlinkSync(`/proc/${pid}/fd/${fd}`) });
    } catch {
      // closed meanwhile
    }
  }
  return open;
}

/** VmRSS of a process in KiB. */
export function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]);
}

/** Alive and not a zombie. */
export function isRunning(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}
