// SPDX-License-Identifier: MIT
// tcpstates header and rows, byte for byte as bcc's tcpstates.py prints them
// (expected strings computed with Python's % operator on bcc's formats), both
// through the string path (row) and the byte path over raw event bytes
// (writeLine, what the tracer uses), which must agree on every input.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { EVENT_SIZE, EventView } from '../../src/decode/event.js';
import { decodeEvent } from '../../harness/decode-event.js';
import { ByteOutput } from '../../src/format/output.js';
import { tcpstatesRenderer, type TcpstatesFormatOptions } from '../../src/format/tcpstates.js';
import { colorizerFor } from '../../src/format/color.js';
import { encodeEvent, type EventFields } from '../../harness/encode-event.js';

const CURL: EventFields = {
  skaddr: 0xffff9fd7e8192000n,
  pid: 22384,
  comm: 'curl',
  family: 2,
  saddr: [100, 66, 100, 185],
  sport: 0,
  daddr: [52, 33, 159, 26],
  dport: 80,
  oldState: 7,
  newState: 2,
  deltaNs: 0n,
  tsNs: 5_000_000_000n,
};

const V6 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V4_MAPPED = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1];
const RESOLVED: EventFields = {
  skaddr: 0xffff88810a2b3c40n,
  pid: 1,
  comm: 'systemd-resolved',
  family: 10,
  saddr: V6,
  sport: 8080,
  daddr: V4_MAPPED,
  dport: 40000,
  oldState: 1,
  newState: 4,
  deltaNs: 1_234_567_890n,
  tsNs: 6_234_567_000n,
};

// "naïve-proc-\xffyz": non-ASCII, and not even valid UTF-8.
const ODD_COMM = [...Buffer.from('na\u00efve-proc-'), 0xff, ...Buffer.from('yz')];
const NAIVE: EventFields = {
  skaddr: 0x1a2bn,
  pid: 4194304,
  comm: ODD_COMM,
  family: 2,
  saddr: [127, 0, 0, 1],
  sport: 65535,
  daddr: [127, 0, 0, 2],
  dport: 1,
  oldState: 9,
  newState: 7,
  deltaNs: 999_999_999n,
  tsNs: 7_000_000_000n,
};

const PLAIN: TcpstatesFormatOptions = {
  wide: false,
  csv: false,
  time: false,
  timestamp: false,
  wallClockOffsetMs: 0,
  colorizer: null,
};

/** Renders `events` both ways with fresh renderers; asserts they agree, returns the lines. */
function render(options: TcpstatesFormatOptions, events: readonly EventFields[]): { header: string; rows: string[] } {
  const byString = tcpstatesRenderer(options);
  const byBytes = tcpstatesRenderer(options);
  const out = new ByteOutput(16);
  const cursor = new EventView();
  const rows: string[] = [];
  for (const fields of events) {
    const view = encodeEvent(fields, 8, 4);
    rows.push(byString.row(decodeEvent(view, 8, EVENT_SIZE + 4)));
    byBytes.writeLine(out, cursor.at(view, 8));
  }
  assert.equal(out.toString(), rows.map((row) => `${row}\n`).join(''), 'byte path differs from string path');
  return { header: byString.header(), rows };
}

test('default layout: exact header and rows', () => {
  const { header, rows } = render(PLAIN, [CURL, RESOLVED, NAIVE]);
  assert.equal(
    header,
    'SKADDR           C-PID C-COMM     LADDR           LPORT RADDR           RPORT OLDSTATE    -> NEWSTATE    MS',
  );
  assert.deepEqual(rows, [
    'ffff9fd7e8192000 22384 curl       100.66.100.185  0     52.33.159.26    80    CLOSE       -> SYN_SENT    0.000',
    'ffff88810a2b3c40 1     systemd-re ::1             8080  ::ffff:127.0.0.1 40000 ESTABLISHED -> FIN_WAIT1   1234.567',
    '1a2b             4194304 na\u00efve-proc 127.0.0.1       65535 127.0.0.2       1     LAST_ACK    -> CLOSE       999.999',
  ]);
});

test('control characters in C-COMM show as "?", as ps shows them (C0, DEL, C1), in text and CSV', () => {
  // A name that would end the row and start a forged one, or colour the terminal.
  const forged: EventFields = { ...CURL, comm: 'a\nb\x1b[31m\x7fc' };
  // C1 CSI (U+009B) in UTF-8: the path that decodes non-ASCII names.
  const csi: EventFields = { ...CURL, comm: [0x78, 0xc2, 0x9b, 0x32, 0x4a] };
  const text = render(PLAIN, [forged, csi]).rows;
  assert.deepEqual(text, [
    'ffff9fd7e8192000 22384 a?b?[31m?c 100.66.100.185  0     52.33.159.26    80    CLOSE       -> SYN_SENT    0.000',
    'ffff9fd7e8192000 22384 x?2J       100.66.100.185  0     52.33.159.26    80    CLOSE       -> SYN_SENT    0.000',
  ]);
  const csv = render({ ...PLAIN, csv: true }, [forged, csi]).rows;
  assert.deepEqual(csv.map((row) => row.split(',')[2]), ['a?b?[31m?c', 'x?2J']);
  for (const row of [...text, ...csv]) assert.doesNotMatch(row, /[\u0000-\u001f\u007f-\u009f]/);
});

test('-w layout: exact header and rows', () => {
  const { header, rows } = render({ ...PLAIN, wide: true }, [CURL, RESOLVED, NAIVE]);
  assert.equal(
    header,
    'SKADDR           C-PID C-COMM           IP LADDR                                   LPORT RADDR                                   RPORT OLDSTATE    -> NEWSTATE    MS',
  );
  assert.deepEqual(rows, [
    'ffff9fd7e8192000 22384 curl             4  100.66.100.185                          0     52.33.159.26                            80    CLOSE       -> SYN_SENT    0.000',
    'ffff88810a2b3c40 1     systemd-resolved 6  ::1                                     8080  ::ffff:127.0.0.1                        40000 ESTABLISHED -> FIN_WAIT1   1234.567',
    '1a2b             4194304 na\u00efve-proc-\ufffdyz   4  127.0.0.1                               65535 127.0.0.2                               1     LAST_ACK    -> CLOSE       999.999',
  ]);
});

test('-s layout: exact header and rows', () => {
  const { header, rows } = render({ ...PLAIN, csv: true }, [CURL, RESOLVED, NAIVE]);
  assert.equal(header, 'SKADDR,C-PID,C-COMM,IP,LADDR,LPORT,RADDR,RPORT,OLDSTATE,NEWSTATE,MS');
  assert.deepEqual(rows, [
    'ffff9fd7e8192000,22384,curl,4,100.66.100.185,0,52.33.159.26,80,CLOSE,SYN_SENT,0.000',
    'ffff88810a2b3c40,1,systemd-resolved,6,::1,8080,::ffff:127.0.0.1,40000,ESTABLISHED,FIN_WAIT1,1234.567',
    '1a2b,4194304,na\u00efve-proc-\ufffdyz,4,127.0.0.1,65535,127.0.0.2,1,LAST_ACK,CLOSE,999.999',
  ]);
});

/** An offset that puts monotonic 5 s at 12:34:56 local time today. */
function offsetForLocalNoon(): number {
  const wall = new Date();
  wall.setHours(12, 34, 56, 0);
  return wall.getTime() - 5000;
}

test('-T and -t: exact header and time columns', () => {
  const options = { ...PLAIN, time: true, timestamp: true, wallClockOffsetMs: offsetForLocalNoon() };
  const { header, rows } = render(options, [CURL, RESOLVED]);
  assert.equal(
    header,
    'TIME     TIME(s)   SKADDR           C-PID C-COMM     LADDR           LPORT RADDR           RPORT OLDSTATE    -> NEWSTATE    MS',
  );
  assert.deepEqual(rows, [
    '12:34:56 0.000000  ffff9fd7e8192000 22384 curl       100.66.100.185  0     52.33.159.26    80    CLOSE       -> SYN_SENT    0.000',
    '12:34:57 1.234567  ffff88810a2b3c40 1     systemd-re ::1             8080  ::ffff:127.0.0.1 40000 ESTABLISHED -> FIN_WAIT1   1234.567',
  ]);

  const csv = render({ ...options, csv: true }, [CURL, RESOLVED]);
  assert.equal(csv.header, 'TIME,TIME(s),SKADDR,C-PID,C-COMM,IP,LADDR,LPORT,RADDR,RPORT,OLDSTATE,NEWSTATE,MS');
  assert.deepEqual(csv.rows, [
    '12:34:56,0.000000,ffff9fd7e8192000,22384,curl,4,100.66.100.185,0,52.33.159.26,80,CLOSE,SYN_SENT,0.000',
    '12:34:57,1.234567,ffff88810a2b3c40,1,systemd-resolved,6,::1,8080,::ffff:127.0.0.1,40000,ESTABLISHED,FIN_WAIT1,1234.567',
  ]);
});

test('-t alone: TIME(s) is %-9.6f, wider than its heading past 100 s', () => {
  const later = { ...RESOLVED, tsNs: CURL.tsNs! + 123_400_000_000n };
  const { header, rows } = render({ ...PLAIN, timestamp: true }, [CURL, later]);
  assert.ok(header.startsWith('TIME(s)   SKADDR '));
  assert.ok(rows[0]!.startsWith('0.000000  ffff9fd7e8192000 '));
  assert.ok(rows[1]!.startsWith('123.400000 ffff88810a2b3c40 '));
});

test('colour decorates state names only on the string path it falls back to', async () => {
  const colorizer = await colorizerFor(true, {});
  const { rows } = render({ ...PLAIN, colorizer }, [CURL]);
  assert.equal(
    rows[0],
    'ffff9fd7e8192000 22384 curl       100.66.100.185  0     52.33.159.26    80    \u001b[31mCLOSE      \u001b[39m -> \u001b[33mSYN_SENT   \u001b[39m 0.000',
  );
});

/** A small deterministic PRNG (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('byte path equals string path on random events, in every layout', () => {
  const next = random(42);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const u64 = (): bigint => (BigInt(Math.floor(next() * 2 ** 32)) << 32n) | BigInt(Math.floor(next() * 2 ** 32));
  const bytes = (count: number): number[] => Array.from({ length: count }, () => pick([0, 0, 1, 127, 255, Math.floor(next() * 256)]));
  const events: EventFields[] = [];
  let tsNs = 10_000_000_000n;
  for (let i = 0; i < 400; i++) {
    // Mostly increasing time, sometimes backwards (a late CPU): -t goes negative.
    tsNs += BigInt(Math.floor(next() * 3e9)) - (next() < 0.1 ? 6_000_000_000n : 0n);
    events.push({
      tsNs,
      skaddr: pick([u64(), BigInt(Math.floor(next() * 2 ** 32)), 0n, 0xffffffffffffffffn, 0x100000000n]),
      deltaNs: pick([0n, u64(), BigInt(Math.floor(next() * 1e12)), 999n, 1000n]),
      pid: pick([0, 1, 4194304, Math.floor(next() * 2 ** 32)]),
      comm: pick<string | number[]>(['', 'curl', 'a-very-long-command', 'x'.repeat(16), bytes(16), ODD_COMM, '\u00e9t\u00e9']),
      family: pick([2, 10, 0, 99]),
      saddr: bytes(16),
      daddr: bytes(16),
      sport: Math.floor(next() * 65536),
      dport: Math.floor(next() * 65536),
      oldState: Math.floor(next() * 15),
      newState: Math.floor(next() * 15),
    });
  }
  for (const wide of [false, true]) {
    for (const csv of [false, true]) {
      for (const time of [false, true]) {
        for (const timestamp of [false, true]) {
          const { rows } = render({ ...PLAIN, wide, csv, time, timestamp, wallClockOffsetMs: 1.7e12 }, events);
          assert.equal(rows.length, events.length);
        }
      }
    }
  }
});
