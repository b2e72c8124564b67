// SPDX-License-Identifier: MIT
// Unit tests of tcplife --top's screen (src/top/screen.ts) on synthetic
// snapshots: exact lines at several terminal sizes and sort keys, the
// columns a narrow terminal drops or cuts, the number formats, colour.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Chalk } from 'chalk';
import type { OpenSession, OpenSessionsSnapshot } from '../../src/decode/open-session.js';
import { formatAge, humanBytes, perSecond, renderTop, sortSessions, topSessions, type SortKey, type TopView } from '../../src/top/screen.js';
import { fakeSnapshot } from '../../harness/fake-sessions.js';

const SECOND_NS = 1_000_000_000n;

function view(size: TopView['size'], sortKey: SortKey = 'total'): TopView {
  return { sortKey, intervalNs: SECOND_NS, clock: '12:00:00', size, colorizer: null };
}

describe('top screen: exact lines', () => {
  it('120x30, by TX+RX/s: every column, every session', () => {
    assert.deepEqual(renderTop(fakeSnapshot(2, 1000), view({ columns: 120, rows: 30 })), [
      '12:00:00  sessions: 4 open, 1 opened, 1 closed; events lost: 0; TX 392K/s RX 586K/s',
      'sort: TX+RX/s; keys: t TX/s, r RX/s, a AGE, b TX+RX/s, q quit',
      ' PID COMM         LOCAL           REMOTE          STATE          AGE TX/s RX/s   TX   RX',
      '5151 psql         [::1]:41000     [::1]:5432      ESTABLISHED    32s 1.9K 488K 5.8K  20M',
      '4242 redis-server 127.0.0.1:6379  127.0.0.1:50000 ESTABLISHED  2m02s 292K 1000 5.5M 2.9K',
      '6060 curl         127.0.0.2:43210 127.0.0.3:8080  CLOSE_WAIT      7s  97K  97K 195K 195K',
      ' 777 sshd         127.0.0.1:22    127.0.0.1:40022 ESTABLISHED >3d04h    0    0 4.0K 8.0K',
    ]);
  });

  it('each sort key orders the rows', () => {
    const order = (key: SortKey) =>
      renderTop(fakeSnapshot(2, 1000), view({ columns: 120, rows: 30 }, key))
        .slice(3)
        .map((line) => line.split(/ +/).filter(Boolean)[1]);
    assert.deepEqual(order('total'), ['psql', 'redis-server', 'curl', 'sshd']);
    assert.deepEqual(order('tx'), ['redis-server', 'curl', 'psql', 'sshd']);
    assert.deepEqual(order('rx'), ['psql', 'curl', 'redis-server', 'sshd']);
    assert.deepEqual(order('age'), ['sshd', 'redis-server', 'psql', 'curl']);
    assert.match(renderTop(fakeSnapshot(2, 1000), view({ columns: 120, rows: 30 }, 'age'))[1] ?? '', /^sort: AGE;/);
  });

  it('60x10: compact header, LOCAL, STATE and AGE dropped, the rows that fit and how many there are', () => {
    assert.deepEqual(renderTop(fakeSnapshot(2, 1000, 10), view({ columns: 60, rows: 10 })), [
      '12:00:00 open 14 +1 -1 lost 0 TX 392K/s RX 586K/s',
      'rows 1-7 of 14; sort: TX+RX/s; keys t r a b q',
      '  PID COMM         REMOTE          TX/s RX/s   TX   RX',
      ' 5151 psql         [::1]:5432      1.9K 488K 5.8K  20M',
      ' 4242 redis-server 127.0.0.1:50000 292K 1000 5.5M 2.9K',
      ' 6060 curl         127.0.0.3:8080   97K  97K 195K 195K',
      '  777 sshd         127.0.0.1:40022    0    0 4.0K 8.0K',
      '10000 idler        127.0.0.1:9000     0    0  100  100',
      '10001 idler        127.0.0.1:9000     0    0  100  100',
      '10002 idler        127.0.0.1:9000     0    0  100  100',
    ]);
  });

  it('40x6: the totals dropped too, then REMOTE cut in its middle; header lines cut at the edge', () => {
    assert.deepEqual(renderTop(fakeSnapshot(2, 1000), view({ columns: 40, rows: 6 })), [
      '12:00:00 open 4 +1 -1 lost 0 TX 392K/s R',
      'rows 1-3 of 4; sort: TX+RX/s; keys t r a',
      ' PID COMM         REMOTE       TX/s RX/s',
      '5151 psql         [::1]:5432   1.9K 488K',
      '4242 redis-server 127.0.~50000 292K 1000',
      '6060 curl         127.0.~:8080  97K  97K',
    ]);
  });

  it('no line wider or more lines than the terminal, at any size', () => {
    const snapshot = fakeSnapshot(3, 1000, 40);
    for (let columns = 1; columns <= 130; columns += 3) {
      for (const rows of [1, 2, 3, 4, 10, 50]) {
        const lines = renderTop(snapshot, view({ columns, rows }));
        assert.ok(lines.length <= rows, `${columns}x${rows}: ${lines.length} lines`);
        for (const line of lines) assert.ok(line.length <= columns, `${columns}x${rows}: ${JSON.stringify(line)}`);
      }
    }
  });

  it('plain text (no terminal): every session, no key help, no width limit', () => {
    const lines = renderTop(fakeSnapshot(1, 1000, 30), view(null, 'age'));
    assert.equal(lines.length, 2 + 34);
    assert.equal(lines[0], '12:00:00  sessions: 34 open, 1 opened, 1 closed; events lost: 0; TX 392K/s RX 586K/s');
    assert.equal(lines[1], '  PID COMM         LOCAL           REMOTE          STATE          AGE TX/s RX/s   TX   RX');
    assert.equal(lines[2], '  777 sshd         127.0.0.1:22    127.0.0.1:40022 ESTABLISHED >3d04h    0    0 4.0K 8.0K');
  });

  it('no sessions: says so', () => {
    const empty: OpenSessionsSnapshot = { atNs: 0n, sessions: [], openedInInterval: 0, closedInInterval: 3, eventsLost: 7 };
    assert.deepEqual(renderTop(empty, view({ columns: 80, rows: 24 })), [
      '12:00:00  sessions: 0 open, 0 opened, 3 closed; events lost: 7; TX 0/s RX 0/s',
      'sort: TX+RX/s; keys: t TX/s, r RX/s, a AGE, b TX+RX/s, q quit',
      'PID COMM LOCAL REMOTE STATE AGE TX/s RX/s TX RX',
      '(no open sessions)',
    ]);
  });

  it('rates use the interval the deltas cover', () => {
    const lines = renderTop(fakeSnapshot(2, 1000), { ...view({ columns: 120, rows: 30 }), intervalNs: 2n * SECOND_NS });
    assert.match(lines[0] ?? '', /TX 196K\/s RX 293K\/s$/);
    assert.match(lines[3] ?? '', /^5151 psql .* 1000 244K 5\.8K {2}20M$/);
  });

  it('a COMM with control characters is shown with "?" in their place; an unknown owner as "-"', () => {
    const session: OpenSession = {
      ...(fakeSnapshot(1, 1000).sessions[0] as OpenSession),
      pid: 0,
      comm: 'a\x1b[2Jb\x9bc',
    };
    const lines = renderTop({ ...fakeSnapshot(1, 1000), sessions: [session] }, view({ columns: 120, rows: 30 }));
    assert.match(lines[3] ?? '', /^ {2}- a\?\[2Jb\?c /);
  });

  it('colour: the sorted column head inverse, states coloured, idle rows dim; widths unchanged', () => {
    const colorizer = new Chalk({ level: 1 });
    const lines = renderTop(fakeSnapshot(2, 1000), { ...view({ columns: 120, rows: 30 }, 'tx'), colorizer });
    const plain = renderTop(fakeSnapshot(2, 1000), view({ columns: 120, rows: 30 }, 'tx'));
    const strip = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '');
    assert.deepEqual(lines.map(strip), plain);
    assert.ok(lines[2]?.includes(colorizer.inverse('TX/s')));
    assert.ok(lines[3]?.includes(colorizer.green('ESTABLISHED')));
    assert.equal(lines[6], colorizer.dim((plain[6] ?? '').replace('ESTABLISHED', colorizer.green('ESTABLISHED'))));
  });
});

describe('top screen: formats', () => {
  it('humanBytes: at most 5 characters, 1024 units, never rounded up', () => {
    assert.equal(humanBytes(0), '0');
    assert.equal(humanBytes(1023), '1023');
    assert.equal(humanBytes(1024), '1.0K');
    assert.equal(humanBytes(10 * 1024 - 1), '9.9K');
    assert.equal(humanBytes(10 * 1024), '10K');
    assert.equal(humanBytes(1024 * 1024 - 1), '1023K');
    assert.equal(humanBytes(1024 * 1024), '1.0M');
    assert.equal(humanBytes(5 * 1024 ** 4), '5.0T');
    assert.equal(humanBytes(Number.MAX_SAFE_INTEGER), '7.9P');
    for (let bytes = 1; bytes < 2 ** 53; bytes = bytes * 3 + 1) assert.ok(humanBytes(bytes).length <= 5, String(bytes));
  });

  it('formatAge: seconds, minutes, hours, days; ">" for a start not seen', () => {
    assert.equal(formatAge(999, true), '0s');
    assert.equal(formatAge(59_999, true), '59s');
    assert.equal(formatAge(60_000, true), '1m00s');
    assert.equal(formatAge(3_599_000, true), '59m59s');
    assert.equal(formatAge(3_600_000, false), '>1h00m');
    assert.equal(formatAge(86_400_000 + 3_600_000 * 5, true), '1d05h');
  });

  it('perSecond: whole bytes per second over the interval; 0 for no interval', () => {
    assert.equal(perSecond(1500, SECOND_NS / 2n), 3000);
    assert.equal(perSecond(1000, 3n * SECOND_NS), 333);
    assert.equal(perSecond(1000, 0n), 0);
  });

  it('topSessions: the first rows of sortSessions, for every key and count', () => {
    const sessions = fakeSnapshot(2, 1000, 200).sessions.map((session, index) => ({
      ...session,
      key: `k${(index * 37) % 211}`,
      txDeltaBytes: (index * 7919) % 13,
      rxDeltaBytes: (index * 104_729) % 7,
      txBytes: (index * 31) % 5,
      ageMs: (index * 17) % 11,
    }));
    for (const key of ['total', 'tx', 'rx', 'age'] as const) {
      const sorted = sortSessions(sessions, key);
      for (const count of [0, 1, 2, 27, 203, 204, 500]) assert.deepEqual(topSessions(sessions, key, count), sorted.slice(0, count), `${key} ${count}`);
    }
  });

  it('sortSessions: ties by total bytes, then by key', () => {
    const base = fakeSnapshot(0, 1000).sessions[3] as OpenSession;
    const sessions = [
      { ...base, key: 'z', txBytes: 10 },
      { ...base, key: 'y', txBytes: 10 },
      { ...base, key: 'x', txBytes: 99 },
    ];
    assert.deepEqual(sortSessions(sessions, 'tx').map((s) => s.key), ['x', 'y', 'z']);
  });
});
