// SPDX-License-Identifier: MIT
// Network namespaces and cgroups a kernel test creates for itself (and
// always removes): a namespace with only its own loopback, so that -N makes
// a tool's counts exact whatever else the machine does; a rule there that
// drops SYNs (connect timeouts); cgroup directories under the cgroup2 mount.
// Traffic run inside them is in peers.ts (runLoad).

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';

/** Runs a command to completion; its stdout (throws with its stderr on failure). */
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

/** An argv prefix that runs the rest of the argv inside `netns`. */
export function inNetns(netns: TestNetns): string[] {
  return ['ip', 'netns', 'exec', netns.name];
}

export interface TestCgroup {
  /** Absolute directory, under the cgroup2 mount. */
  readonly dir: string;
  /** Relative to the mount, as the JSON `cgroup` field shows it. */
  readonly path: string;
  remove(): void;
}

/**
 * Where cgroup2 is mounted (/sys/fs/cgroup/unified here: hybrid). Read
 * here rather than with src's parser: the tests check the tool's cgroup
 * paths against this, so it must not share the tool's reading.
 */
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

/** An argv prefix that moves itself into cgroup directory `dir`, then becomes
 * the rest of the argv: every socket that opens is the cgroup's. */
export function inCgroup(dir: string): string[] {
  return ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir];
}
