// SPDX-License-Identifier: MIT
// Which network namespaces an iterator pass enters (open/namespace-turns.ts):
// every root-made one, the others in turn within a time budget, none whose
// TCP tables are empty; and how the ones left over are said (seed-report.ts).

import { strict as assert } from 'node:assert';
import { statSync } from 'node:fs';
import { describe, it } from 'node:test';
import { NamespaceTurns, parseTcpSockets, systemProbes, type NamespaceProbes } from '../../src/open/namespace-turns.js';
import { DEFERRED_REPEAT_MS, unreachableReporter } from '../../src/open/seed-report.js';
import { Diagnostics } from '../../src/io/diagnostics.js';

/** Namespaces 1..n, each opened by /proc/<ino>/ns/net. */
function namespaces(inos: readonly number[]): Map<number, string[]> {
  return new Map(inos.map((ino) => [ino, [`/proc/${ino}/ns/net`]]));
}

/** Probes from sets, counting calls; each probe of an other-made one takes `costMs` on `clock`. */
function fakeProbes(rootMade: ReadonlySet<number>, empty: ReadonlySet<number>, clock: { ms: number }, costMs = 0) {
  const calls = { rootMade: 0, tcpSockets: 0 };
  const probes: NamespaceProbes = {
    rootMade: (ino) => {
      calls.rootMade++;
      return rootMade.has(ino);
    },
    tcpSockets: (ino) => {
      calls.tcpSockets++;
      if (!rootMade.has(ino)) clock.ms += costMs;
      return empty.has(ino) ? 0 : null;
    },
  };
  return { probes, calls };
}

describe('namespace turns', () => {
  it('enters every namespace when all fit: root-made first, the others by inode', () => {
    const clock = { ms: 0 };
    const { probes } = fakeProbes(new Set([30]), new Set(), clock);
    const entered: number[] = [];
    const result = new NamespaceTurns(50, probes, () => clock.ms).run(namespaces([20, 30, 10]), (ino) => entered.push(ino));
    assert.deepEqual(entered, [30, 10, 20]);
    assert.deepEqual(result, { empty: 0, deferred: [] });
  });

  it('does not enter a namespace whose TCP tables are empty, root-made or not', () => {
    const clock = { ms: 0 };
    const { probes } = fakeProbes(new Set([1, 2]), new Set([2, 4]), clock);
    const entered: number[] = [];
    const result = new NamespaceTurns(50, probes, () => clock.ms).run(namespaces([1, 2, 3, 4]), (ino) => entered.push(ino));
    assert.deepEqual(entered, [1, 3]);
    assert.deepEqual(result, { empty: 2, deferred: [] });
  });

  it('over the budget, leaves the other-made ones for later passes, which take them in turn; root-made ones every pass', () => {
    const clock = { ms: 0 };
    const { probes } = fakeProbes(new Set([100]), new Set(), clock, 20);
    const turns = new NamespaceTurns(50, probes, () => clock.ms);
    const all = namespaces([100, 1, 2, 3, 4, 5, 6, 7]);
    const pass = () => {
      const entered: number[] = [];
      const { deferred } = turns.run(all, (ino) => entered.push(ino));
      return { entered, deferred };
    };
    // 20 ms each: three start within 50 ms.
    assert.deepEqual(pass(), { entered: [100, 1, 2, 3], deferred: [4, 5, 6, 7] });
    assert.deepEqual(pass(), { entered: [100, 4, 5, 6], deferred: [7, 1, 2, 3] });
    assert.deepEqual(pass(), { entered: [100, 7, 1, 2], deferred: [3, 4, 5, 6] });
  });

  it('takes one other-made namespace per pass whatever it costs, and picks up after one gone', () => {
    const clock = { ms: 0 };
    const { probes } = fakeProbes(new Set(), new Set(), clock, 500);
    const turns = new NamespaceTurns(50, probes, () => clock.ms);
    const entered: number[] = [];
    assert.deepEqual(turns.run(namespaces([5, 9, 12]), (ino) => entered.push(ino)).deferred, [9, 12]);
    assert.deepEqual(turns.run(namespaces([12, 5]), (ino) => entered.push(ino)).deferred, [5]);
    assert.deepEqual(entered, [5, 12]);
  });

  it('asks who made a namespace once while its first file stays the same', () => {
    const clock = { ms: 0 };
    const { probes, calls } = fakeProbes(new Set([1]), new Set(), clock);
    const turns = new NamespaceTurns(50, probes, () => clock.ms);
    turns.run(namespaces([1, 2]), () => {});
    turns.run(namespaces([1, 2]), () => {});
    assert.equal(calls.rootMade, 2);
    turns.run(new Map([[1, ['/proc/77/ns/net']], [2, ['/proc/2/ns/net']]]), () => {});
    assert.equal(calls.rootMade, 3);
  });
});

describe('TCP sockets of a namespace', () => {
  const header = 'protocol  size sockets  memory press maxhdr  slab module     cl co di ac io in de sh ss gs se re bi br ha uh gp em';
  const row = (name: string, sockets: string) => `${name.padEnd(9)} 2304 ${sockets.padStart(6)}      99   no     192   yes  kernel      y  y  y`;

  it('adds the TCP and TCPv6 rows, and nothing else', () => {
    const text = [header, row('MPTCPv6', '7'), row('TCPv6', '2'), row('UNIX', '40'), row('TCP', '3'), row('UDP', '5'), ''].join('\n');
    assert.equal(parseTcpSockets(text), 5);
    assert.equal(parseTcpSockets([header, row('TCPv6', '0'), row('TCP', '0')].join('\n')), 0);
    assert.equal(parseTcpSockets([header, row('TCP', '1')].join('\n')), 1, 'no IPv6');
  });

  it('is unknown (null) for a text it cannot read', () => {
    assert.equal(parseTcpSockets(''), null);
    assert.equal(parseTcpSockets([header, row('UDP', '1')].join('\n')), null, 'no TCP row');
    assert.equal(parseTcpSockets([header.replace('sockets', 'memory'), row('TCP', '0')].join('\n')), null, 'other columns');
    assert.equal(parseTcpSockets([header, row('TCP', '-1')].join('\n')), null);
  });

  it('reads this process own namespace from /proc; named or gone namespaces are unknown', () => {
    const own = statSync('/proc/self/ns/net').ino;
    const probes = systemProbes(statSync('/proc/self/ns/user').ino);
    const sockets = probes.tcpSockets(own, [`/proc/${process.pid}/ns/net`]);
    assert.ok(sockets !== null && sockets >= 0, String(sockets));
    assert.equal(probes.rootMade(own, [`/proc/${process.pid}/ns/net`]), true);
    assert.equal(probes.rootMade(own, ['/run/netns/x']), true, 'only root names namespaces');
    assert.equal(probes.tcpSockets(own, ['/run/netns/x']), null);
    assert.equal(probes.tcpSockets(own + 1, [`/proc/${process.pid}/ns/net`]), null, 'the process is in another namespace now');
    assert.equal(probes.rootMade(own + 1, [`/proc/${process.pid}/ns/net`]), false);
    assert.equal(probes.tcpSockets(own, ['/proc/999999999/ns/net']), null);
    assert.equal(systemProbes(-1).rootMade(own, [`/proc/${process.pid}/ns/net`]), false, 'another user namespace');
  });
});

describe('namespaces not entered, said', () => {
  const failed = { ino: 7, reason: 'EPERM', deferred: false };
  const later = (ino: number) => ({ ino, reason: 'over the budget of this pass', deferred: true });
  const WHEN = 'in this pass (over its 50 ms for them; later passes take them in turn)';
  const WHAT = 'its sessions get no open rows (--interval)';

  it('each one that cannot be entered once; those left for later as a count, at the first pass that leaves some', () => {
    const lines: string[] = [];
    const say = unreachableReporter(new Diagnostics('tcplife', (line) => lines.push(line)), WHAT, undefined, () => 0);
    say([failed, later(8), later(9)]);
    say([failed, later(8)]);
    assert.deepEqual(lines, [
      `tcplife: cannot enter network namespace 7 (EPERM): ${WHAT}`,
      `tcplife: 2 network namespaces made in other user namespaces were not entered ${WHEN}: in each, ${WHAT}`,
    ]);
  });

  it('while passes keep leaving some: again once a minute with the passes since; once when a pass leaves none', () => {
    const lines: string[] = [];
    const clock = { ms: 0 };
    const say = unreachableReporter(new Diagnostics('tcplife', (line) => lines.push(line)), WHAT, undefined, () => clock.ms);
    for (; clock.ms <= DEFERRED_REPEAT_MS; clock.ms += 1000) say([later(8), ...(clock.ms === DEFERRED_REPEAT_MS ? [] : [later(9)])]);
    say([]);
    say([]);
    clock.ms += 1000;
    say([later(9)]);
    assert.deepEqual(lines, [
      `tcplife: 2 network namespaces made in other user namespaces were not entered ${WHEN}: in each, ${WHAT}`,
      `tcplife: 1 network namespace made in another user namespace was not entered ${WHEN} (59 passes since the last line left some too): in it, ${WHAT}`,
      'tcplife: no network namespace was left for a later pass this time, after 61 passes that left some',
      `tcplife: 1 network namespace made in another user namespace was not entered ${WHEN}: in it, ${WHAT}`,
    ]);
  });
});
