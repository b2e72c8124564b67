// SPDX-License-Identifier: MIT
// Unit tests of the open-session pieces (pure): struct open_session decoding,
// the tcp_info fields, open rows through tcplife's columns (TYPE, the
// lower-bound marker), their JSON, and the iterator check of the kernel BTF.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { EVENT_FLAG_SEEDED } from '../../src/decode/event.js';
import { TCP_INFO_F_RTO, TCP_INFO_LAYOUT } from '../../src/decode/tcp-info.js';
import { decodeOpenSession, movedSincePass, OPEN_SESSION_LAYOUT as L, OPEN_SESSION_SIZE } from '../../src/decode/open-record.js';
import { openSessionEvent } from '../../src/open/pass.js';
import { tcplifeRenderer } from '../../src/format/tcplife.js';
import { tcpstatesRenderer } from '../../src/format/tcpstates.js';
import { openSessionJson } from '../../src/format/json.js';
import { checkIterators, missingIteratorSymbols } from '../../src/bpf/preflight.js';
import { PreflightError } from '../../src/errors.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleEvent } from '../../harness/events.js';
import { btfWith } from '../../harness/btf.js';

interface RecordFields {
  seenNs: number;
  tx: number;
  rx: number;
  txReported: number;
  rxReported: number;
  pid: number;
  comm: string;
  family: number;
  state: number;
  flags: number;
  srttUs: number;
  rto: number | null;
}

function record(fields: Partial<RecordFields> = {}): DataView {
  const f: RecordFields = {
    seenNs: 1_000_000_000,
    tx: 5000,
    rx: 70_000,
    txReported: 4000,
    rxReported: 70_000,
    pid: 4242,
    comm: 'redis-server',
    family: 2,
    state: 1,
    flags: 0,
    srttUs: 57,
    rto: 0,
    ...fields,
  };
  const bytes = new Uint8Array(OPEN_SESSION_SIZE + 8);
  const view = new DataView(bytes.buffer, 8); // not at offset 0
  view.setBigUint64(L.skaddr, 0xffff888104d1c000n, true);
  view.setBigUint64(L.seen_ns, BigInt(f.seenNs), true);
  view.setBigUint64(L.tx_bytes, BigInt(f.tx), true);
  view.setBigUint64(L.rx_bytes, BigInt(f.rx), true);
  view.setBigUint64(L.tx_reported, BigInt(f.txReported), true);
  view.setBigUint64(L.rx_reported, BigInt(f.rxReported), true);
  view.setUint32(L.owner_pid, f.pid, true);
  view.setUint32(L.netns_ino, 4026531840, true);
  if (f.family === 2) {
    bytes.set([127, 0, 0, 1], 8 + L.saddr);
    bytes.set([127, 0, 0, 2], 8 + L.daddr);
  } else {
    bytes[8 + L.saddr + 15] = 1;
    bytes[8 + L.daddr + 15] = 1;
  }
  bytes.set(new TextEncoder().encode(f.comm), 8 + L.owner_comm);
  view.setUint16(L.family, f.family, true);
  view.setUint16(L.sport, 6379, true);
  view.setUint16(L.dport, 51000, true);
  view.setUint8(L.state, f.state);
  view.setUint8(L.flags, f.flags);
  view.setUint32(L.info + TCP_INFO_LAYOUT.srtt_us, f.srttUs, true);
  view.setUint32(L.info + TCP_INFO_LAYOUT.total_retrans, 1, true);
  view.setUint32(L.info + TCP_INFO_LAYOUT.segs_in, 30, true);
  view.setUint32(L.info + TCP_INFO_LAYOUT.segs_out, 40, true);
  if (f.rto !== null) {
    view.setUint32(L.info + TCP_INFO_LAYOUT.total_rto, f.rto, true);
    view.setUint32(L.info + TCP_INFO_LAYOUT.present, TCP_INFO_F_RTO, true);
  }
  return view;
}

describe('struct open_session', () => {
  it('decodes owner, addresses, state, totals, deltas, age and tcp_info', () => {
    const session = decodeOpenSession(record(), 0, 3_500_000_000);
    assert.equal(session.key, 'ffff888104d1c000:1000000000');
    assert.deepEqual(
      [session.pid, session.comm, session.family, session.saddr, session.sport, session.daddr, session.dport, session.state],
      [4242, 'redis-server', 4, '127.0.0.1', 6379, '127.0.0.2', 51000, 'ESTABLISHED'],
    );
    assert.deepEqual([session.txBytes, session.rxBytes, session.txDeltaBytes, session.rxDeltaBytes], [5000, 70_000, 1000, 0]);
    assert.equal(session.ageMs, 2500);
    assert.equal(session.startSeen, true);
    assert.deepEqual(session.tcpInfo, { srttUs: 57, totalRetrans: 1, segsIn: 30, segsOut: 40, totalRto: 0 });
  });

  it('a seeded session has start_seen false; a kernel without total_rto gives a null RTO count', () => {
    const session = decodeOpenSession(record({ flags: EVENT_FLAG_SEEDED, rto: null, family: 10, state: 8 }), 0, 2e9);
    assert.equal(session.startSeen, false);
    assert.equal(session.tcpInfo.totalRto, null);
    assert.deepEqual([session.family, session.saddr, session.state], [6, '::1', 'CLOSE_WAIT']);
  });

  it('movedSincePass reads only the totals', () => {
    assert.equal(movedSincePass(record(), 0), true);
    assert.equal(movedSincePass(record({ txReported: 5000 }), 0), false);
    assert.equal(movedSincePass(record({ txReported: 5000, rxReported: 1 }), 0), true);
  });
});

describe('open rows', () => {
  const layout = { wide: false, csv: false, colorizer: null, time: false, timestamp: false, wallClockOffsetMs: 0 };

  it('share the close rows\' columns behind a TYPE column; MS is the age, marked when the start was not seen', () => {
    const renderer = tcplifeRenderer({ ...layout, rowTypes: true, markSeeded: true });
    assert.ok(renderer.header().startsWith('TYPE  PID   COMM       LADDR'), renderer.header());
    const open = openSessionEvent(decodeOpenSession(record({ flags: EVENT_FLAG_SEEDED }), 0, 3_500_000_000), 3_500_000_000);
    assert.equal(renderer.row(open), 'OPEN  4242  redis-serv 127.0.0.1       6379  127.0.0.2       51000     4    68 >2500.00');
    const close = sampleEvent({ newState: 7, ownerPid: 77, ownerComm: 'curl', txBytes: 2048, deltaNs: 1_500_000 });
    assert.equal(renderer.row(close), 'CLOSE 77    curl       127.0.0.1       63446 127.0.0.2       80        2     0 1.50');
  });

  it('without the options, the rows are bcc\'s', () => {
    const plain = tcplifeRenderer(layout);
    const event = sampleEvent({ newState: 7, flags: EVENT_FLAG_SEEDED, deltaNs: 1_500_000 });
    assert.equal(plain.row(event), '22384 curl       127.0.0.1       63446 127.0.0.2       80        0     0 1.50');
    assert.equal(tcpstatesRenderer(layout).row(event).endsWith(' 1.500'), true);
    assert.equal(tcpstatesRenderer({ ...layout, markSeeded: true }).row(event).endsWith(' >1.500'), true);
  });

  it('JSON: event "open", interval and total bytes, the age, start_seen and tcp_info', () => {
    const session = decodeOpenSession(record({ flags: EVENT_FLAG_SEEDED }), 0, 3_500_000_000);
    const json = openSessionJson(session, 3_500_000_000, 1_700_000_000_000);
    assert.deepEqual(json, {
      event: 'open',
      time: '2023-11-14T22:13:23.500000Z',
      ts_ns: 3_500_000_000,
      pid: 4242,
      comm: 'redis-server',
      family: 4,
      laddr: '127.0.0.1',
      lport: 6379,
      raddr: '127.0.0.2',
      rport: 51000,
      state: 'ESTABLISHED',
      tx_bytes: 5000,
      rx_bytes: 70_000,
      tx_interval_bytes: 1000,
      rx_interval_bytes: 0,
      duration_ms: 2500,
      netns: 4026531840,
      cgroup: null,
      container_id: null,
      error: null,
      start_seen: false,
      srtt_us: 57,
      retrans_segs: 1,
      rto_count: 0,
      segs_in: 30,
      segs_out: 40,
    });
  });
});

describe('the iterator check of the kernel BTF', () => {
  it('names the iterator targets and the helper a BTF string section lacks', () => {
    const strings = (names: string[]) => new TextEncoder().encode(`\0${names.join('\0')}\0`);
    assert.deepEqual(missingIteratorSymbols(strings(['bpf_iter_tcp', 'bpf_iter_task_file', 'bpf_sock_from_file'])), []);
    assert.deepEqual(missingIteratorSymbols(strings(['bpf_iter_tcp6', 'bpf_iter_task'])), ['bpf_iter_tcp', 'bpf_iter_task_file', 'bpf_sock_from_file']);
  });

  it('a kernel without them: one line naming the option and what is missing, no hint (exit 1 as every PreflightError)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcpstates-btf-'));
    try {
      const btf = join(dir, 'vmlinux');
      writeFileSync(btf, btfWith(['bpf_iter_tcp', 'bpf_iter_task']));
      assert.throws(
        () => checkIterators('--existing', btf),
        (error: unknown) =>
          error instanceof PreflightError &&
          error.hint === undefined &&
          error.message === '--existing: this kernel lacks the BPF iterators it needs (bpf_iter_task_file, bpf_sock_from_file; Linux 5.11 or later): run without --existing',
      );
      writeFileSync(btf, btfWith(['bpf_iter_tcp', 'bpf_iter_task_file', 'bpf_sock_from_file']));
      checkIterators('--interval', btf);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
