// SPDX-License-Identifier: MIT
// The compiled row writers (format/row-compiler.ts) against the string
// path (RowRenderer.row): random events, including every case where a raw
// field declines (non-ASCII names, IPv6, unknown states), in every layout of
// both tools, byte for byte, many rows into one small buffer (so the
// growth and blanking paths run too).

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { EVENT_SIZE, EventView } from '../../src/decode/event.js';
import { decodeEvent } from '../../harness/decode-event.js';
import { colorizerFor } from '../../src/format/color.js';
import { ByteOutput } from '../../src/format/output.js';
import { tcplifeRenderer } from '../../src/format/tcplife.js';
import { tcpstatesRenderer } from '../../src/format/tcpstates.js';
import { encodeEvent, type EventFields } from '../../harness/encode-event.js';

/** A deterministic pseudo-random generator (xorshift32). */
function randomSource(seed: number): (below: number) => number {
  let state = seed >>> 0 || 1;
  return (below) => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % below;
  };
}

const COMMS: (string | number[])[] = [
  'curl',
  'loadgen',
  'systemd-resolved',
  'a',
  '',
  'exactly10c',
  'elevenchars',
  [0x6e, 0x61, 0xc3, 0xaf, 0x76, 0x65],
  [0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0xff, 0x6c],
  [0xff],
];

function randomEvents(count: number, seed: number): EventFields[] {
  const next = randomSource(seed);
  const big = (): bigint => (BigInt(next(0x1_0000_0000)) << 32n) | BigInt(next(0x1_0000_0000));
  const events: EventFields[] = [];
  for (let i = 0; i < count; i++) {
    const family = [2, 2, 2, 10, 0, 7][next(6)]!;
    const address = (): number[] =>
      family === 10 && next(4) === 0
        ? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, next(256)]
        : Array.from({ length: 16 }, (_, byte) => (byte >= 4 && family !== 10 ? next(256) : [0, 1, 9, 10, 99, 100, 255, next(256)][next(8)]!));
    events.push({
      tsNs: BigInt(1_000_000_000 + i * 1_234_567) + BigInt(next(1000)),
      skaddr: [0n, 1n, 0xfn, 0x10n, 0xffff_8881_0a2b_3c40n, big()][next(6)]!,
      deltaNs: [0n, 999n, 1_000n, 999_999n, 1_000_000n, big() >> BigInt(next(64)), 2n ** 53n][next(7)]!,
      txBytes: big() >> BigInt(next(64)),
      rxBytes: BigInt(next(1 << 20)),
      pid: [0, 1, 99999, 4194304, 0xffff_ffff, next(1 << 22)][next(6)]!,
      ownerPid: next(2) === 0 ? 0 : next(1 << 22),
      comm: COMMS[next(COMMS.length)]!,
      ownerComm: COMMS[next(COMMS.length)]!,
      family,
      saddr: address(),
      daddr: address(),
      sport: [0, 1, 80, 65535, next(65536)][next(5)]!,
      dport: [0, 1, 443, 65535, next(65536)][next(5)]!,
      oldState: next(14),
      newState: next(14),
    });
  }
  return events;
}

interface AnyRenderer {
  row(row: never): string;
  writeLine(out: ByteOutput, row: EventView): void;
}

function compare(label: string, make: () => AnyRenderer, events: readonly EventFields[]): void {
  const byString = make();
  const compiled = make();
  const compiledOut = new ByteOutput(16);
  const cursor = new EventView();
  let expected = '';
  for (const fields of events) {
    const view = encodeEvent(fields, 8, 4);
    expected += `${byString.row(decodeEvent(view, 8, EVENT_SIZE + 4) as never)}\n`;
    compiled.writeLine(compiledOut, cursor.at(view, 8));
  }
  assert.equal(compiledOut.toString(), expected, `${label}: the compiled writer differs from the string path`);
}

const LAYOUTS = [false, true].flatMap((wide) =>
  [false, true].flatMap((csv) =>
    [false, true].flatMap((time) => [false, true].map((timestamp) => ({ wide, csv, time, timestamp, wallClockOffsetMs: 1.7e12 }))),
  ),
);

test('tcpstates: compiled rows equal the string rows, every layout, random events', () => {
  const events = randomEvents(3000, 13);
  for (const layout of LAYOUTS) {
    compare(`tcpstates ${JSON.stringify(layout)}`, () => tcpstatesRenderer({ ...layout, colorizer: null }), events);
  }
});

test('tcplife: compiled rows equal the string rows, every layout, random events', () => {
  const events = randomEvents(3000, 77);
  for (const layout of LAYOUTS) {
    compare(`tcplife ${JSON.stringify(layout)}`, () => tcplifeRenderer({ ...layout, colorizer: null }), events);
  }
});

test('with colour (decorated columns always take the string path), compiled rows still equal the string rows', async () => {
  const colorizer = await colorizerFor(true, {});
  assert.ok(colorizer !== null);
  const events = randomEvents(500, 5);
  compare('tcpstates colour', () => tcpstatesRenderer({ ...LAYOUTS[0]!, colorizer }), events);
  compare('tcplife colour', () => tcplifeRenderer({ ...LAYOUTS[0]!, colorizer }), events);
});

test('a row longer than the blanked stretch (IPv6 in the narrow layout) does not leave stale bytes', () => {
  const v6: EventFields = {
    skaddr: 0xffff_ffff_ffff_ffffn,
    pid: 0xffff_ffff,
    comm: 'systemd-resolved',
    family: 10,
    saddr: [0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78],
    daddr: [0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x79],
    sport: 65535,
    dport: 65535,
    oldState: 1,
    newState: 4,
    deltaNs: 2n ** 60n,
  };
  const short: EventFields = { skaddr: 1n, pid: 1, comm: 'a', family: 2, saddr: [1, 2, 3, 4], daddr: [5, 6, 7, 8], oldState: 7, newState: 2 };
  const events = Array.from({ length: 400 }, (_, i) => (i % 3 === 0 ? v6 : short));
  for (const layout of LAYOUTS) compare(`long rows ${JSON.stringify(layout)}`, () => tcpstatesRenderer({ ...layout, colorizer: null }), events);
});
