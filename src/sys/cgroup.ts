// SPDX-License-Identifier: MIT
// cgroup v2 paths: where the cgroup2 file system is mounted (from the mount
// table, as it moves between distributions: /sys/fs/cgroup on most,
// /sys/fs/cgroup/unified on hybrid set-ups), the id and depth of a cgroup
// directory for --cgroup, and the path of a cgroup id for the JSON `cgroup`
// field. A cgroup's id is its directory's inode number on cgroup2.

import { opendirSync, readFileSync, realpathSync, statSync, statfsSync, type Dir, type Dirent } from 'node:fs';
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

/** A walk of the cgroup tree on a miss begins at most this often. */
const RESCAN_INTERVAL_MS = 1000;
/** A miss advances a walk by at most this long (a whole walk on most hosts:
 * some 15 µs a cgroup)... */
const WALK_STEP_MS = 20;
/** ...and not again before this long: any user with a delegated subtree can
 * make 20,000 cgroups in a third of a second, and the walk is on the main
 * thread, which must keep reading the rings. */
const WALK_PAUSE_MS = 100;
/** Most cgroups a walk maps (some 100 bytes each); the rest are counted. */
export const CGROUP_PATHS_MAX = 65_536;
/** Entries read between two looks at the clock. */
const ENTRIES_PER_CHECK = 64;
/** The link count of a directory without subdirectories ("." and its name). */
const LEAF_LINKS = 2;

/** Says a limit that was hit, as Diagnostics.notice does. */
export type CgroupNotice = (message: string, fields: Record<string, number>) => void;

interface PendingDirectory {
  readonly directory: string;
  /** Relative to the mount, "" for its root. */
  readonly relative: string;
}

/** A walk of the tree under a cgroup2 mount that can stop and go on, even
 * inside a directory (one can hold 100,000 cgroups): a stack of directories
 * to read, at most `max` mapped or pending. */
class CgroupWalk {
  readonly paths = new Map<number, string>();
  /** Directories found beyond `max`: neither mapped nor read. */
  unmapped = 0;
  private readonly pending: PendingDirectory[];
  /** The directory being read, entry by entry. */
  private reading: { readonly dir: Dir; readonly at: PendingDirectory } | null = null;

  constructor(
    base: string,
    private readonly max: number,
  ) {
    this.pending = [{ directory: base, relative: '' }];
  }

  get done(): boolean {
    return this.reading === null && this.pending.length === 0;
  }

  /** Reads on until done, or `stop()` (asked every ENTRIES_PER_CHECK entries). */
  step(stop: () => boolean): void {
    while (!this.done) {
      for (let i = 0; i < ENTRIES_PER_CHECK && !this.done; i++) this.next();
      if (stop()) return;
    }
  }

  /** The next entry of the directory being read, or the next directory. */
  private next(): void {
    const reading = this.reading;
    if (reading === null) return this.open(this.pending.pop()!);
    let entry: Dirent | null;
    try {
      entry = reading.dir.readSync();
    } catch {
      entry = null; // removed while we read it
    }
    if (entry === null) {
      this.reading = null;
      return closeDir(reading.dir);
    }
    if (!entry.isDirectory()) return;
    const { directory, relative } = reading.at;
    if (this.paths.size + this.pending.length >= this.max) this.unmapped++;
    else this.pending.push({ directory: `${directory}/${entry.name}`, relative: `${relative}/${entry.name}` });
  }

  /** Maps a directory and starts reading it, unless it has no child
   * cgroup: a directory's link count is 2 + its subdirectories (kernfs
   * counts them), and most cgroups are leaves, each with some 20 files. */
  private open(at: PendingDirectory): void {
    try {
      const stats = statSync(at.directory);
      this.paths.set(stats.ino, at.relative === '' ? '/' : at.relative);
      if (stats.nlink !== LEAF_LINKS) this.reading = { dir: opendirSync(at.directory, { bufferSize: 128 }), at };
    } catch {
      // removed while we walked
    }
  }
}

function closeDir(dir: Dir): void {
  try {
    dir.closeSync();
  } catch {
    // closed: nothing held
  }
}

/**
 * Maps cgroup ids to paths relative to the cgroup2 mount ("/system.slice/x")
 * by walking the mount: once, and again on a miss, at most once a second.
 * Each walk builds a new map (ids are never reused, so a merged map would
 * only grow); the one before is kept too, so that a cgroup removed keeps its
 * path for its sessions' last rows. A walk goes on over several misses, at
 * most WALK_STEP_MS every WALK_PAUSE_MS; beyond CGROUP_PATHS_MAX cgroups it
 * maps no more and says how many it left (`notice`). Unknown ids (a cgroup
 * removed before it was seen, not reached yet, no cgroup2 mount) give null.
 */
export class CgroupPaths {
  private paths = new Map<number, string>();
  private previous = new Map<number, string>();
  private walk: CgroupWalk | null = null;
  private lastWalkMs = -Infinity;
  private lastStepMs = -Infinity;
  private unmappedLast = 0;

  constructor(
    private readonly mount: Cgroup2Mount | null = findCgroup2Mount(),
    private readonly nowMs: () => number = () => performance.now(),
    private readonly notice: CgroupNotice | null = null,
    private readonly max: number = CGROUP_PATHS_MAX,
  ) {}

  pathOf(id: number): string | null {
    if (id === 0 || this.mount === null) return null;
    const known = this.known(id);
    if (known !== null) return known;
    this.advance(this.mount.mountPoint);
    return this.known(id);
  }

  /** Newest first: the walk under way, the last whole one, the one before. */
  private known(id: number): string | null {
    return this.walk?.paths.get(id) ?? this.paths.get(id) ?? this.previous.get(id) ?? null;
  }

  /** A step of the walk under way, or of a new one. */
  private advance(base: string): void {
    const started = this.nowMs();
    if (this.walk === null) {
      if (started - this.lastWalkMs < RESCAN_INTERVAL_MS) return;
      this.lastWalkMs = started;
      this.walk = new CgroupWalk(base, this.max);
    } else if (started - this.lastStepMs < WALK_PAUSE_MS) return;
    const walk = this.walk;
    walk.step(() => this.nowMs() - started >= WALK_STEP_MS);
    this.lastStepMs = this.nowMs();
    if (walk.done) this.finish(walk);
  }

  private finish(walk: CgroupWalk): void {
    this.previous = this.paths;
    this.paths = walk.paths;
    this.walk = null;
    if (walk.unmapped > 0 && walk.unmapped !== this.unmappedLast) {
      this.notice?.(`cgroup paths: ${walk.unmapped} or more cgroups not mapped (at most ${this.max} are): their rows' cgroup is unknown`, {
        unmapped: walk.unmapped,
      });
    }
    this.unmappedLast = walk.unmapped;
  }

  /** Cgroups the last whole walk left unmapped (at least: their subtrees were not read). */
  get unmapped(): number {
    return this.unmappedLast;
  }
}
