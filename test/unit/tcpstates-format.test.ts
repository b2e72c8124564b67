// SPDX-License-Identifier: MIT
// tcpstates output against bcc's own printf formats (applied by Python in
// harness/bcc_format.py) and against the pinned header lines.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EVENT_SIZE, type TcpEvent } from '../../src/decode/event.js';
import { decodeEvent } from '../../harness/decode-event.js';
import { tcpstatesRenderer, type TcpstatesFormatOptions } from '../../src/format/tcpstates.js';
import { colorizerFor } from '../../src/format/color.js';
import { encodeEvent, type EventFields } from '../../harness/events.js';
import { bccFormat, type OracleMode } from '../../harness/oracle.js';

function options(overrides: Partial<TcpstatesFormatOptions> = {}): TcpstatesFormatOptions {
  return { wide: false, csv: false, time: false, timestamp: false, wallClockOffsetMs: 0, colorizer: null, ...overrides };
}

function event(fields: EventFields): TcpEvent {
  return decodeEvent(encodeEvent(fields), 0, EVENT_SIZE);
}

/** A deterministic spread of awkward values: long and short everything. */
function sampleEvents(): TcpEvent[] {
  let seed = 12345;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const comms = ['curl', 'recordProgramSt1', 'a', 'node', 'python3.11-threa', 'x y'];
  const events: TcpEvent[] = [];
  let tsNs = 5_000_000_000n;
  for (let i = 0; i < 200; i++) {
    const v6 = i % 3 === 0;
    tsNs += BigInt(next(3_000_000_000));
    events.push(
      event({
        tsNs,
        skaddr: 0xffff888100000000n + BigInt(next(2 ** 30)) * 64n,
        deltaNs: BigInt(next(4)) === 0n ? 0n : BigInt(next(2 ** 31)) * BigInt(1 + next(5000)),
        pid: [0, 1, 99999, 123456, 4194304][next(5)] as number,
        comm: comms[next(comms.length)] as string,
        family: v6 ? 10 : 2,
        saddr: v6 ? Array.from({ length: 16 }, () => (next(3) === 0 ? 0 : next(256))) : [127, next(256), 0, 1],
        daddr: v6 ? Array.from({ length: 16 }, () => next(256)) : [10, 0, next(256), 255],
        sport: next(65536),
        dport: next(65536),
        oldState: 1 + next(13),
        newState: 1 + next(13),
      }),
    );
  }
  return events;
}

const MODES: { mode: OracleMode; wide: boolean; csv: boolean }[] = [
  { mode: 'default', wide: false, csv: false },
  { mode: 'wide', wide: true, csv: false },
  { mode: 'csv', wide: false, csv: true },
];

test('header and rows equal bcc tcpstates byte for byte, in every layout, with and without -t', () => {
  const events = sampleEvents();
  const jobs = MODES.flatMap(({ mode }) => [false, true].map((timestamp) => ({ tool: 'tcpstates' as const, mode, timestamp, events })));
  const expected = bccFormat(jobs);
  jobs.forEach((job, index) => {
    const layout = MODES.find((m) => m.mode === job.mode)!;
    const renderer = tcpstatesRenderer(options({ wide: layout.wide, csv: layout.csv, timestamp: job.timestamp }));
    const actual = [renderer.header(), ...events.map((e) => renderer.row(e))];
    assert.deepEqual(actual, expected[index], `${job.mode} timestamp=${job.timestamp}`);
  });
});

test('pinned header lines (anchors-features.md section 3)', () => {
  assert.equal(
    tcpstatesRenderer(options()).header(),
    'SKADDR           C-PID C-COMM     LADDR           LPORT RADDR           RPORT OLDSTATE    -> NEWSTATE    MS',
  );
  assert.equal(
    tcpstatesRenderer(options({ wide: true })).header(),
    'SKADDR           C-PID C-COMM           IP LADDR                                   LPORT RADDR                                   RPORT OLDSTATE    -> NEWSTATE    MS',
  );
  assert.equal(
    tcpstatesRenderer(options({ csv: true })).header(),
    'SKADDR,C-PID,C-COMM,IP,LADDR,LPORT,RADDR,RPORT,OLDSTATE,NEWSTATE,MS',
  );
  assert.equal(
    tcpstatesRenderer(options({ time: true, timestamp: true })).header(),
    'TIME     TIME(s)   SKADDR           C-PID C-COMM     LADDR           LPORT RADDR           RPORT OLDSTATE    -> NEWSTATE    MS',
  );
  assert.equal(
    tcpstatesRenderer(options({ csv: true, time: true, timestamp: true })).header(),
    'TIME,TIME(s),SKADDR,C-PID,C-COMM,IP,LADDR,LPORT,RADDR,RPORT,OLDSTATE,NEWSTATE,MS',
  );
});

test('pinned rows: the bcc example lines', () => {
  const curl = event({
    skaddr: 0xffff9fd7e8192000n,
    pid: 22384,
    comm: 'curl',
    saddr: [100, 66, 100, 185],
    daddr: [52, 33, 159, 26],
    sport: 0,
    dport: 80,
    oldState: 7,
    newState: 2,
  });
  assert.equal(
    tcpstatesRenderer(options()).row(curl),
    'ffff9fd7e8192000 22384 curl       100.66.100.185  0     52.33.159.26    80    CLOSE       -> SYN_SENT    0.000',
  );
  assert.equal(
    tcpstatesRenderer(options({ csv: true })).row(curl),
    'ffff9fd7e8192000,22384,curl,4,100.66.100.185,0,52.33.159.26,80,CLOSE,SYN_SENT,0.000',
  );
});

test('-T prints the wall-clock time of the event as HH:MM:SS', () => {
  // Monotonic 1 s maps to a wall clock at 2026-01-02 03:04:05.500 local time.
  const wall = new Date(2026, 0, 2, 3, 4, 5, 500).getTime();
  const renderer = tcpstatesRenderer(options({ time: true, wallClockOffsetMs: wall - 1000 }));
  assert.match(renderer.row(event({ tsNs: 1_000_000_000n })), /^03:04:05 ffff888104d1c000 /);
  assert.match(renderer.row(event({ tsNs: 1_600_000_000n })), /^03:04:06 /);
  const csv = tcpstatesRenderer(options({ time: true, csv: true, wallClockOffsetMs: wall - 1000 }));
  assert.match(csv.row(event({ tsNs: 1_000_000_000n })), /^03:04:05,ffff888104d1c000,/);
});

test('colour only decorates state names and keeps the columns aligned', async () => {
  const colorizer = await colorizerFor(true, {});
  assert.ok(colorizer);
  const plain = tcpstatesRenderer(options()).row(event({ oldState: 2, newState: 1 }));
  const colored = tcpstatesRenderer(options({ colorizer })).row(event({ oldState: 2, newState: 1 }));
  assert.notEqual(colored, plain);
  assert.equal(colored.replace(/\x1b\[[0-9;]*m/g, ''), plain);
});

test('no colour without a TTY or with NO_COLOR set, even empty', async () => {
  assert.equal(await colorizerFor(false, {}), null);
  assert.equal(await colorizerFor(true, { NO_COLOR: '' }), null);
  assert.equal(await colorizerFor(true, { NO_COLOR: '1' }), null);
});
