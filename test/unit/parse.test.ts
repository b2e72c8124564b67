// SPDX-License-Identifier: MIT
// The benchmark's readings of the tools' output: what it reports as lost,
// received and expected must be right, or its numbers are worthless.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import {
  expectedRows,
  markdownTable,
  median,
  parseLoadgen,
  parseMeasurePid,
  parseMeasureReport,
  parseOurSummary,
  RowCounter,
  sumLostLines,
  sumSchedstatNs,
} from '../../bench/parse.js';

test('generator and measure reports', () => {
  assert.deepEqual(parseLoadgen('loadgen: connections=20000 failures=0 seconds=1.031996 rate=19379.9 cpu_us=1008368\n'), {
    connections: 20000,
    failures: 0,
    seconds: 1.031996,
    rate: 19379.9,
    cpuUs: 1008368,
  });
  assert.throws(() => parseLoadgen('loadgen: unshare: Operation not permitted\n'), /no summary line/);
  const report = 'pid=6428\npid=6428 status=0 utime_us=894022 stime_us=128282 maxrss_kb=93120\n';
  assert.equal(parseMeasurePid(report), 6428);
  assert.deepEqual(parseMeasureReport(report), { pid: 6428, status: 0, cpuUs: 1022304, userUs: 894022, kernelUs: 128282, maxRssKb: 93120 });
  assert.equal(parseMeasureReport('pid=6428\n'), null);
});

test('loss lines of both tools', () => {
  assert.deepEqual(parseOurSummary('tcpstates: 200128 events read, 3 lost\n'), { read: 200128, lost: 3 });
  assert.equal(parseOurSummary('tcpstates: failed to load BPF object: EPERM\n'), null);
  assert.equal(sumLostLines('lost 1328 events on CPU #1\nlost 41 events on CPU #0\nsomething else\n'), 1369);
  assert.equal(sumLostLines(''), 0);
});

test('rows are counted per tool layout, fields from the end, across chunk boundaries', () => {
  const ours = [
    'SKADDR           C-PID C-COMM     LADDR           LPORT RADDR           RPORT OLDSTATE    -> NEWSTATE    MS',
    'ffff8881064440c0 16449 loadgen    127.0.0.1       24681 0.0.0.0         0     CLOSE       -> LISTEN      0.000',
    'ffff888106441bc0 16449 loadgen    127.0.0.1       0     127.0.0.5       24681 CLOSE       -> SYN_SENT    0.000',
    'ffff888106441bc0 0     my prog    127.0.0.1       5000  127.0.0.5       80    SYN_SENT    -> ESTABLISHED 0.012',
  ].join('\n');
  const reference = [
    'SKADDR           PID     COMM       LADDR           LPORT RADDR           RPORT OLDSTATE    -> NEWSTATE    MS',
    'ffff8881140a6f00 20309   loadgen    127.0.0.9       24681 127.0.0.1       36912 LISTEN      -> SYN_RECV    0.000',
  ].join('\n');
  for (const text of [ours, reference]) {
    const counter = new RowCounter(24681);
    for (let i = 0; i < text.length; i += 7) counter.feed(text.slice(i, i + 7));
    counter.end();
    assert.equal(counter.rows, text.split('\n').length - 1);
  }
  const counter = new RowCounter(24681);
  counter.feed(`${ours}\n`);
  counter.end();
  assert.equal(counter.portRows, 2);
  assert.deepEqual([...counter.transitions], [
    ['CLOSE->LISTEN', 1],
    ['CLOSE->SYN_SENT', 1],
  ]);
});

test('expected rows, medians, schedstat sums, tables', () => {
  assert.equal(expectedRows(20000, 64), 200128);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  assert.equal(sumSchedstatNs(['163900000 2000 30\n', '3000000 10 1\n', 'garbage']), 166900000);
  assert.equal(markdownTable(['', 'a'], [['row', '1.5']]), '|     |   a |\n|-----|----:|\n| row | 1.5 |');
});
