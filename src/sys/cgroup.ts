// SPDX-License-Identifier: MIT
// cgroup v2 paths: where the cgroup2 file system is mounted (from the mount
// table, as it moves between distributions: /sys/fs/cgroup on most,
// /sys/fs/cgroup/unified on hybrid set-ups), the id and depth of a cgroup
// directory for --cgroup, and the path of a cgroup id for the JSON `cgroup`
// field. A cgroup's id is its directory's inode number on cgroup2.

import { readdirSync, readFileSync, realpathSync, statSync, statfsSync } from 'node:fs';
import { environmentProblem, usageProblem, type Checked } from '../errors.js';
import { quoted } from '../quote.js';

/** statfs f_type of cgroup2 (CGROUP2_SUPER_MAGIC, include/uapi/linux/magic.h). */
const CGROUP2_SUPER_MAGIC = 0x63677270;

export interface Cgroup2Mount {
  /** Where it is mounted, e.g. /sys/fs/cgroup. */
  readonly mountPoint: string;
  /** The cgroup the mount shows as its root (mountinfo's 4th field): "/"
   * except inside a cgroup namespace or a bind mount of a subtree. */
  readonly root: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The first cgroup2 mount of a mountinfo text (proc(5)); null when none. Pure. */
export function parseCgroup2Mount(mountinfo: string): Cgroup2Mount | null {
  for (const line of mountinfo.split('\n')) {
    const separator = line.indexOf(' - ');
    if (separator < 0) continue;
    const fsType = line.slice(separator + 3).split(' ')[0];
    if (fsType !== 'cgroup2') continue;
    const fields = line.slice(0, separator).split(' ');
    const root = fields[3];
    const mountPoint = fields[4];
    if (root === undefined || mountPoint === undefined) continue;
    return { mountPoint: unescapeMountinfo(mountPoint), root: unescapeMountinfo(root) };
  }
  return null;
}

export function findCgroup2Mount(mountinfoPath = '/proc/self/mountinfo'): Cgroup2Mount | null {
  try {
    return parseCgroup2Mount(readFileSync(mountinfoPath, 'utf8'));
  } catch {
    return null;
  }
}

/** Path components of an absolute path ("/" has none). */
function depth(path: string): number {
  return path.split('/').filter((part) => part !== '').length;
}

/** What the kernel filter needs: the cgroup's id and its level (the root is 0). */
export interface CgroupTarget {
  readonly id: number;
  readonly level: number;
  /** Its path relative to the cgroup2 mount, starting with "/". */
  readonly path: string;
}

/** Why a --cgroup candidate is not a cgroup directory. */
type CandidateProblem = 'missing' | 'denied' | 'outside' | 'not cgroup';

/** `candidate` resolved (".", "..", symlinks) to its path relative to the
 * cgroup2 mount's real path, with its inode; or why not. */
function resolveCandidate(candidate: string, realBase: string): { relative: string; ino: number } | CandidateProblem {
  let real: string;
  try {
    real = realpathSync(candidate);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'EACCES' || code === 'EPERM' ? 'denied' : 'missing';
  }
  if (real !== realBase && !real.startsWith(`${realBase}/`)) return 'outside';
  try {
    const stats = statSync(real);
    if (!stats.isDirectory() || statfsSync(real).type !== CGROUP2_SUPER_MAGIC) return 'not cgroup';
    return { relative: real === realBase ? '/' : real.slice(realBase.length), ino: stats.ino };
  } catch {
    return 'denied';
  }
}

/**
 * --cgroup PATH: a cgroup directory, given as a file system path
 * (/sys/fs/cgroup/system.slice, or relative to the working directory) or as
 * the path the JSON `cgroup` field shows (/system.slice, relative to the
 * cgroup2 mount). Resolved to its real path, so that ".", ".." and symlinks
 * give the level the kernel sees, or refused.
 */
export function resolveCgroupOption(text: string, optionName: string, mount: Cgroup2Mount | null = findCgroup2Mount()): Checked<CgroupTarget> {
  if (mount === null) return environmentProblem(`${optionName}: no cgroup2 file system is mounted (see /proc/self/mountinfo)`, 'mount one: mount -t cgroup2 none /sys/fs/cgroup');
  if (text.trim() === '') return usageProblem(`${optionName}: empty cgroup path`);
  let realBase: string;
  try {
    realBase = realpathSync(mount.mountPoint);
  } catch (error) {
    return environmentProblem(`${optionName}: cannot resolve the cgroup2 mount ${quoted(mount.mountPoint)}: ${(error as NodeJS.ErrnoException).code ?? 'an error'}`);
  }
  const base = mount.mountPoint.replace(/\/+$/, '');
  const candidates = text.startsWith(`${base}/`) || text === base ? [text] : [text, `${base}/${text.replace(/^\/+/, '')}`];
  const problems: CandidateProblem[] = [];
  for (const candidate of candidates) {
    const resolved = resolveCandidate(candidate, realBase);
    if (typeof resolved === 'string') {
      problems.push(resolved);
      continue;
    }
    return { ok: true, value: { id: resolved.ino, level: depth(mount.root) + depth(resolved.relative), path: resolved.relative } };
  }
  const message = `${optionName}: ${quoted(text)} is not a cgroup directory under ${mount.mountPoint} (the cgroup2 mount)`;
  if (problems.includes('denied')) return environmentProblem(`${optionName}: cannot read ${quoted(text)}: permission denied`, 'run it as root');
  return usageProblem(problems.includes('outside') ? `${message}: it resolves to a path outside it` : message);
}

/** Rescans of the cgroup tree on a miss are at most this often. */
const RESCAN_INTERVAL_MS = 1000;

/**
 * Maps cgroup ids to paths relative to the cgroup2 mount ("/system.slice/x"),
 * by walking the mount once and again on a miss, at most once a second.
 * Unknown ids (a cgroup removed before it was seen, no cgroup2 mount) give null.
 */
export class CgroupPaths {
  private readonly paths = new Map<number, string>();
  private lastScanMs = -Infinity;

  constructor(
    private readonly mount: Cgroup2Mount | null = findCgroup2Mount(),
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  pathOf(id: number): string | null {
    if (id === 0 || this.mount === null) return null;
    const known = this.paths.get(id);
    if (known !== undefined) return known;
    const now = this.nowMs();
    if (now - this.lastScanMs < RESCAN_INTERVAL_MS) return null;
    this.lastScanMs = now;
    this.scan();
    return this.paths.get(id) ?? null;
  }

  private scan(): void {
    const base = this.mount!.mountPoint;
    const walk = (directory: string, relative: string): void => {
      let ino: number;
      try {
        ino = statSync(directory).ino;
      } catch {
        return; // removed while we walked
      }
      this.paths.set(ino, relative === '' ? '/' : relative);
      let entries;
      try {
        entries = readdirSync(directory, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) if (entry.isDirectory()) walk(`${directory}/${entry.name}`, `${relative}/${entry.name}`);
    };
    walk(base, '');
  }
}
