// SPDX-License-Identifier: MIT
// tcplife output: pinned headers and rows per layout, and a byte-for-byte
// comparison with bcc's own tcplife printf formats applied by Python.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import type { TcpEvent } from '../../src/decode/event.js';
import { bytesAsKib, sessionOwner, tcplifeRenderer, type TcplifeFormatOptions } from '../../src/format/tcplife.js';
import { colorizerFor } from '../../src/format/color.js';
import { bccFormat } from '../../harness/oracle.js';
import { EVENT_SIZE, EventView } from '../../src/decode/event.js';
import { decodeEvent } from '../../harness/decode-event.js';
import { ByteOutput } from '../../src/format/output.js';
import { encodeEvent, type EventFields } from '../../harness/encode-event.js';

function options(overrides: Partial<TcplifeFormatOptions> = {}): TcplifeFormatOptions {
  return { wide: false, csv: false, time: false, timestamp: false, wallClockOffsetMs: 0, colorizer: null, ...overrides };
}

function session(overrides: Partial<TcpEvent> = {}): TcpEvent {
  return {
    tsNs: 7_000_000_000,
    skaddr: 'ffff888104d1c000',
    deltaNs: 230_125_999, // span_us 230125: 230.125 ms, an exact binary tie
    txBytes: 100_000,
    rxBytes: 3000,
    pid: 0,
    comm: 'swapper/1',
    ownerPid: 4321,
    ownerComm: 'recordProgramSt',
    family: 2,
    localAddress: '127.0.0.1',
    localPort: 46644,
    remoteAddress: '127.0.0.1',
    remotePort: 28527,
    oldState: 9,
    newState: 7,
    netnsIno: 4026531840,
    cgroupId: 0,
    skErr: 0,
    flags: 0,
    ...overrides,
  };
}

const V6 = { family: 10, localAddress: 'fe80::1:2', remoteAddress: '2001:db8::ff00:42:8329' } as const;

test('headers: bcc tcplife, every layout and prefix', () => {
  const header = (overrides: Partial<TcplifeFormatOptions>) => tcplifeRenderer(options(overrides)).header();
  assert.equal(header({}), 'PID   COMM       LADDR           LPORT RADDR           RPORT TX_KB RX_KB MS');
  assert.equal(
    header({ wide: true }),
    'PID   COMM             IP LADDR                                   LPORT RADDR                                   RPORT  TX_KB  RX_KB MS',
  );
  assert.equal(header({ csv: true }), 'PID,COMM,IP,LADDR,LPORT,RADDR,RPORT,TX_KB,RX_KB,MS');
  assert.equal(header({ timestamp: true }), 'TIME(s)   PID   COMM       LADDR           LPORT RADDR           RPORT TX_KB RX_KB MS');
  assert.equal(header({ time: true }), 'TIME     PID   COMM       LADDR           LPORT RADDR           RPORT TX_KB RX_KB MS');
  assert.equal(header({ time: true, timestamp: true }), 'TIME     TIME(s)   PID   COMM       LADDR           LPORT RADDR           RPORT TX_KB RX_KB MS');
  assert.equal(header({ csv: true, time: true, timestamp: true }), 'TIME,TIME(s),PID,COMM,IP,LADDR,LPORT,RADDR,RPORT,TX_KB,RX_KB,MS');
  assert.equal(
    header({ wide: true, timestamp: true }),
    'TIME(s)   PID   COMM             IP LADDR                                   LPORT RADDR                                   RPORT  TX_KB  RX_KB MS',
  );
});

test('rows for a fixed session: default, -w, -s', () => {
  const row = (overrides: Partial<TcplifeFormatOptions>, event = session()) => tcplifeRenderer(options(overrides)).row(event);
  assert.equal(row({}), '4321  recordProg 127.0.0.1       46644 127.0.0.1       28527    97     2 230.12');
  assert.equal(
    row({ wide: true }),
    '4321  recordProgramSt  4  127.0.0.1                               46644 127.0.0.1                               28527     97      2 230.12',
  );
  assert.equal(row({ csv: true }), '4321,recordProgramSt,4,127.0.0.1,46644,127.0.0.1,28527,97,2,230.12');
  // Values wider than their columns overflow, as printf does.
  assert.equal(
    row({ wide: true }, session({ ...V6, ownerPid: 123456, ownerComm: 'a', txBytes: 2 ** 40, rxBytes: 1023, deltaNs: 1999, localPort: 443, remotePort: 65535 })),
    '123456 a                6  fe80::1:2                               443   2001:db8::ff00:42:8329                  65535 1073741824      0 0.00',
  );
  assert.equal(row({ csv: true }, session({ ...V6, deltaNs: 0 })), '4321,recordProgramSt,6,fe80::1:2,46644,2001:db8::ff00:42:8329,28527,97,2,0.00');
});

test('-t counts seconds from the first row printed; -T prints the wall clock of the event', () => {
  const renderer = tcplifeRenderer(options({ timestamp: true }));
  assert.equal(renderer.row(session({ tsNs: 7_000_000_000 })).slice(0, 10), '0.000000  ');
  assert.equal(renderer.row(session({ tsNs: 8_234_567_891 })).slice(0, 10), '1.234567  ');
  assert.equal(renderer.row(session({ tsNs: 130_000_000_000 })).slice(0, 11), '123.000000 ');

  const wallClockOffsetMs = Date.UTC(2024, 0, 2, 3, 4, 5) - 7_000;
  const timed = tcplifeRenderer(options({ time: true, csv: true, wallClockOffsetMs }));
  const date = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
  const two = (n: number) => String(n).padStart(2, '0');
  assert.equal(
    timed.row(session()),
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())},4321,recordProgramSt,4,127.0.0.1,46644,127.0.0.1,28527,97,2,230.12`,
  );
});

test('the owner: the one the kernel recorded, else the task on the CPU at CLOSE (as bcc)', () => {
  assert.deepEqual(sessionOwner(session()), { pid: 4321, comm: 'recordProgramSt', known: true });
  assert.deepEqual(sessionOwner(session({ ownerPid: 0, ownerComm: '' })), { pid: 0, comm: 'swapper/1', known: false });
  assert.equal(
    tcplifeRenderer(options()).row(session({ ownerPid: 0, ownerComm: '', pid: 77, comm: 'curl' })),
    '77    curl       127.0.0.1       46644 127.0.0.1       28527    97     2 230.12',
  );
});

test('control characters in COMM show as "?", as ps shows them, in text and CSV', () => {
  const forged = session({ ownerComm: 'x\ny\x1b]0;\u009b' });
  assert.equal(tcplifeRenderer(options()).row(forged).split(/ +/)[1], 'x?y?]0;?');
  assert.equal(tcplifeRenderer(options({ csv: true })).row(forged).split(',')[1], 'x?y?]0;?');
});

test('TX_KB/RX_KB are whole KiB, truncated', () => {
  assert.deepEqual([0, 1023, 1024, 2047, 2048, 2 ** 53].map(bytesAsKib), ['0', '0', '1', '1', '2', '8796093022208']);
});

test('colour marks only a guessed owner, and never changes the visible text', async () => {
  const colorizer = await colorizerFor(true, {});
  assert.ok(colorizer);
  const coloured = tcplifeRenderer(options({ colorizer }));
  const plain = tcplifeRenderer(options());
  const known = session();
  const guessed = session({ ownerPid: 0, ownerComm: '' });
  assert.equal(coloured.row(known), plain.row(known));
  const stripAnsi = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '');
  assert.notEqual(coloured.row(guessed), plain.row(guessed));
  assert.equal(stripAnsi(coloured.row(guessed)), plain.row(guessed));
  assert.ok(coloured.row(guessed).startsWith('\x1b[33m0    \x1b[39m \x1b[33mswapper/1 \x1b[39m '));
});

/** A deterministic spread of awkward values. */
function sampleSessions(): TcpEvent[] {
  let seed = 424242;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const comms = ['curl', 'recordProgramSt', 'a', 'node', 'python3.11-thre', 'x y', ''];
  const addresses6 = ['::1', '::', 'fe80::1:2', '2001:db8::ff00:42:8329', '::ffff:10.1.2.3', '1:2:3:4:5:6:7:8'];
  const sessions: TcpEvent[] = [];
  let tsNs = 5_000_000_000;
  for (let i = 0; i < 300; i++) {
    const v6 = i % 3 === 0;
    tsNs += next(3_000_000_000);
    const spanUs = [0, 1, 5, 125, 375, 999, 1005, 230125, 2 ** 31 + 125][next(9)]! + next(4) * 250 * next(1000);
    sessions.push(
      session({
        tsNs,
        deltaNs: spanUs * 1000 + next(1000),
        txBytes: [0, 1, 1023, 1024, 100_000, 2 ** 40 + 5][next(6)]! + next(5000),
        rxBytes: [0, 1, 1023, 1024, 3000, 2 ** 33][next(6)]! + next(5000),
        pid: next(5000),
        comm: comms[next(comms.length)]!,
        ownerPid: next(3) === 0 ? 0 : [1, 99999, 123456, 4194304][next(4)]!,
        ownerComm: comms[next(comms.length)]!,
        family: v6 ? 10 : 2,
        localAddress: v6 ? addresses6[next(addresses6.length)]! : `127.${next(256)}.0.1`,
        remoteAddress: v6 ? addresses6[next(addresses6.length)]! : `10.0.${next(256)}.255`,
        localPort: next(65536),
        remotePort: next(65536),
      }),
    );
  }
  return sessions;
}

test('header and rows equal bcc tcplife byte for byte, every layout, with and without -t', () => {
  const sessions = sampleSessions();
  const modes = [
    { mode: 'default', wide: false, csv: false },
    { mode: 'wide', wide: true, csv: false },
    { mode: 'csv', wide: false, csv: true },
  ] as const;
  const jobs = modes.flatMap(({ mode }) => [false, true].map((timestamp) => ({ tool: 'tcplife' as const, mode, timestamp, events: sessions })));
  const expected = bccFormat(jobs);
  jobs.forEach(({ mode, timestamp }, index) => {
    const layout = modes.find((candidate) => candidate.mode === mode)!;
    const renderer = tcplifeRenderer(options({ wide: layout.wide, csv: layout.csv, timestamp }));
    const actual = [renderer.header(), ...sessions.map((event) => renderer.row(event))];
    assert.deepEqual(actual, expected[index], `${mode}${timestamp ? ' -t' : ''}`);
  });
});

test('byte path (what the tracer uses) equals string path on varied sessions, in every layout', () => {
  let seed = 7;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const events: EventFields[] = [];
  let tsNs = 10_000_000_000n;
  for (let i = 0; i < 300; i++) {
    tsNs += BigInt(next(2 ** 30));
    events.push({
      tsNs,
      deltaNs: BigInt(next(2 ** 30)) * BigInt(1 + next(1000)),
      txBytes: BigInt(next(2 ** 30)) * BigInt(1 + next(100)),
      rxBytes: BigInt(next(2 ** 20)),
      pid: next(5_000_000),
      comm: ['curl', 'x'.repeat(16), '', 'na\u00efve'][next(4)]!,
      ownerPid: next(3) === 0 ? 0 : next(5_000_000),
      ownerComm: ['nginx', 'recordProgramSt1', 'a'][next(3)]!,
      family: next(2) === 0 ? 2 : 10,
      saddr: Array.from({ length: 16 }, () => (next(3) === 0 ? 0 : next(256))),
      daddr: Array.from({ length: 16 }, () => next(256)),
      sport: next(65536),
      dport: next(65536),
      oldState: 9,
      newState: 7,
    });
  }
  for (const wide of [false, true]) {
    for (const csv of [false, true]) {
      for (const timestamp of [false, true]) {
        const byString = tcplifeRenderer(options({ wide, csv, timestamp, time: true, wallClockOffsetMs: 1.7e12 }));
        const byBytes = tcplifeRenderer(options({ wide, csv, timestamp, time: true, wallClockOffsetMs: 1.7e12 }));
        const out = new ByteOutput(16);
        const cursor = new EventView();
        let expected = '';
        for (const fields of events) {
          const view = encodeEvent(fields, 8, 4);
          expected += `${byString.row(decodeEvent(view, 8, EVENT_SIZE + 4))}\n`;
          byBytes.writeLine(out, cursor.at(view, 8));
        }
        assert.equal(out.toString(), expected, `wide=${wide} csv=${csv} -t=${timestamp}`);
      }
    }
  }
});
