// SPDX-License-Identifier: MIT
// CgroupPaths (src/sys/cgroup.ts) on directory trees of its own (any file
// system maps directories to inodes as cgroup2 does): each walk rebuilds the
// map, a walk goes on in bounded steps, and the cap is counted and said.

import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { CgroupPaths } from '../../src/sys/cgroup.js';

/** A tree of directories under a fresh temporary root; `remove()` deletes it. */
function tree(relativePaths: readonly string[]) {
  const root = mkdtempSync(`${tmpdir()}/tcpstates-cgroup-paths-`);
  for (const path of relativePaths) mkdirSync(`${root}${path}`, { recursive: true });
  return { root, ino: (path: string) => statSync(`${root}${path}`).ino, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/** An id no directory has. */
const UNKNOWN = 0xffff_fff0;

describe('cgroup paths', () => {
  it('a walk rebuilds the map: a removed cgroup keeps its path one walk more, then is dropped', () => {
    const t = tree(['/a/b', '/c']);
    try {
      let now = 0;
      const paths = new CgroupPaths({ mountPoint: t.root, root: '/' }, () => now);
      const [b, c] = [t.ino('/a/b'), t.ino('/c')];
      assert.equal(paths.pathOf(b), '/a/b');
      assert.equal(paths.pathOf(t.ino('')), '/');
      // Made before the removal, so that it cannot take c's inode.
      mkdirSync(`${t.root}/d`);
      rmdirSync(`${t.root}/c`);
      assert.equal(paths.pathOf(t.ino('/d')), null, 'a walk at most once a second');
      now = 1000;
      assert.equal(paths.pathOf(t.ino('/d')), '/d');
      assert.equal(paths.pathOf(c), '/c', 'the walk before still has it');
      now = 2000;
      assert.equal(paths.pathOf(UNKNOWN), null);
      assert.equal(paths.pathOf(c), null, 'two walks without it: dropped');
      assert.equal(paths.pathOf(b), '/a/b');
    } finally {
      t.remove();
    }
  });

  it('a miss walks for at most 20 ms, then not again for 100 ms; the walk goes on where it stopped', () => {
    const t = tree(Array.from({ length: 300 }, (_, i) => `/g${i}`));
    try {
      let now = 0;
      let perCall = 5; // every look at the clock: 5 ms
      const paths = new CgroupPaths({ mountPoint: t.root, root: '/' }, () => (now += perCall));
      const ids = Array.from({ length: 300 }, (_, i) => t.ino(`/g${i}`));
      const resolved = (): number => {
        perCall = 0;
        const count = ids.filter((id) => paths.pathOf(id) !== null).length;
        perCall = 5;
        return count;
      };
      assert.equal(paths.pathOf(UNKNOWN), null);
      // 4 looks at the clock, 64 entries each: not even the root's 300 entries.
      assert.equal(resolved(), 0);
      now += 99;
      assert.equal(resolved(), 0, 'paused: the misses did not walk');
      let steps = 1;
      for (; resolved() < 300 && steps < 100; steps++) {
        now += 100;
        paths.pathOf(UNKNOWN);
      }
      assert.equal(resolved(), 300);
      assert.ok(steps > 2, `${steps} steps`);
      assert.equal(paths.pathOf(t.ino('/g7')), '/g7');
    } finally {
      t.remove();
    }
  });

  it('maps at most `max` cgroups; the ones beyond are counted, and said once while their count stays', () => {
    const t = tree(['/a', '/b', '/c', '/d', '/e', '/f', '/g']);
    try {
      let now = 0;
      const said: [string, Record<string, number>][] = [];
      const paths = new CgroupPaths({ mountPoint: t.root, root: '/' }, () => now, (message, fields) => said.push([message, fields]), 5);
      const known = (): number => ['/a', '/b', '/c', '/d', '/e', '/f', '/g'].filter((path) => paths.pathOf(t.ino(path)) !== null).length;
      assert.equal(known(), 4, 'the root and four more');
      assert.equal(paths.unmapped, 3);
      now = 1000;
      paths.pathOf(UNKNOWN);
      assert.deepEqual(said, [["cgroup paths: 3 or more cgroups not mapped (at most 5 are): their rows' cgroup is unknown", { unmapped: 3 }]]);
    } finally {
      t.remove();
    }
  });
});
