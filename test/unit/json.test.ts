// SPDX-License-Identifier: MIT
// Unit tests of the --json row builders and JSON diagnostics (pure).

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  TCPLIFE_JSON_FIELDS,
  TCPSTATES_JSON_FIELDS,
  isoTimeMicros,
  jsonDiagnostic,
  nsToMillisWithMicros,
  tcplifeJson,
  tcpstatesJson,
} from '../../src/format/json.js';
import { jsonText } from '../../src/quote.js';
import { sampleEvent } from '../../harness/events.js';
import { EVENT_FLAG_SEEDED } from '../../src/decode/event.js';

/** 2023-11-14T22:13:20.000Z minus 5 s of CLOCK_MONOTONIC. */
const OFFSET_MS = 1_700_000_000_000;

describe('tcpstatesJson', () => {
  it('builds the documented object, fields in order', () => {
    const record = tcpstatesJson(sampleEvent(), OFFSET_MS);
    assert.deepEqual(Object.keys(record), [...TCPSTATES_JSON_FIELDS]);
    assert.equal(
      JSON.stringify(record),
      '{"time":"2023-11-14T22:13:25.000123Z","ts_ns":5000123456,"skaddr":"ffff9fd7e8192000","pid":22384,"comm":"curl",' +
        '"owner_pid":22384,"family":4,"laddr":"127.0.0.1","lport":63446,"raddr":"127.0.0.2","rport":80,' +
        '"oldstate":"ESTABLISHED","newstate":"FIN_WAIT1","duration_ms":1.234,"netns":4026531840,"cgroup":null,"container_id":null,"error":null,' +
        '"start_seen":true}',
    );
  });

  it('gives a null owner_pid when the owner is unknown, keeping pid 0 (swapper) as a pid', () => {
    const record = tcpstatesJson(sampleEvent({ pid: 0, comm: 'swapper/1', ownerPid: 0, ownerComm: '' }), OFFSET_MS);
    assert.equal(record.pid, 0);
    assert.equal(record.comm, 'swapper/1');
    assert.equal(record.owner_pid, null);
  });

  it('shows IPv6 as family 6 and unknown states by number, as the text rows', () => {
    const record = tcpstatesJson(
      sampleEvent({ family: 10, localAddress: '::1', remoteAddress: '::ffff:127.0.0.1', oldState: 13, newState: 7 }),
      OFFSET_MS,
    );
    assert.equal(record.family, 6);
    assert.equal(record.laddr, '::1');
    assert.equal(record.raddr, '::ffff:127.0.0.1');
    assert.equal(record.oldstate, '13');
    assert.equal(record.newstate, 'CLOSE');
  });

  it('keeps a first-seen transition at duration 0, as the MS column', () => {
    assert.equal(tcpstatesJson(sampleEvent({ deltaNs: 0, oldState: 7, newState: 2 }), OFFSET_MS).duration_ms, 0);
  });

  it('escapes a comm with a newline and quotes, so a record stays on one line', () => {
    const line = JSON.stringify(tcpstatesJson(sampleEvent({ comm: 'a\n"b"' }), OFFSET_MS));
    assert.ok(!line.includes('\n'));
    assert.ok(line.includes('"comm":"a\\n\\"b\\""'));
    assert.equal(JSON.parse(line).comm, 'a\n"b"');
  });

  it('jsonText, as the rows are written: DEL and C1 escaped too (U+009B is a CSI on some terminals), the same value to a parser', () => {
    const comm = 'a\u009b2J\u009b31m\u007fZ\u00e9';
    const line = jsonText(tcpstatesJson(sampleEvent({ comm }), OFFSET_MS));
    assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f]/);
    assert.ok(line.includes('"comm":"a\\u009b2J\\u009b31m\\u007fZ\u00e9"'), line);
    assert.equal(JSON.parse(line).comm, comm);
  });
});

describe('tcplifeJson', () => {
  it('builds the documented object, with the owner as pid and comm', () => {
    const record = tcplifeJson(
      sampleEvent({ pid: 0, comm: 'swapper/0', ownerPid: 4242, ownerComm: 'nginx', txBytes: 1536, rxBytes: 1_000_000_000_000, deltaNs: 250_000_999 }),
      OFFSET_MS,
    );
    assert.deepEqual(Object.keys(record), [...TCPLIFE_JSON_FIELDS]);
    assert.equal(
      JSON.stringify(record),
      '{"time":"2023-11-14T22:13:25.000123Z","ts_ns":5000123456,"pid":4242,"comm":"nginx","family":4,' +
        '"laddr":"127.0.0.1","lport":63446,"raddr":"127.0.0.2","rport":80,"tx_bytes":1536,"rx_bytes":1000000000000,' +
        '"duration_ms":250,"netns":4026531840,"cgroup":null,"container_id":null,"error":null,"start_seen":true,' +
        '"srtt_us":null,"retrans_segs":null,"rto_count":null,"segs_in":null,"segs_out":null}',
    );
  });

  it('carries the tcp_info of the close record, and start_seen false for a session that predates the trace', () => {
    const tcpInfo = { srttUs: 41, totalRetrans: 2, segsIn: 10, segsOut: 12, totalRto: null };
    const record = tcplifeJson({ ...sampleEvent({ flags: EVENT_FLAG_SEEDED }), tcpInfo }, OFFSET_MS);
    assert.deepEqual(
      [record.start_seen, record.srtt_us, record.retrans_segs, record.rto_count, record.segs_in, record.segs_out],
      [false, 41, 2, null, 10, 12],
    );
  });

  it('falls back to the task on the CPU when the owner is unknown (bcc)', () => {
    const record = tcplifeJson(sampleEvent({ pid: 77, comm: 'curl', ownerPid: 0, ownerComm: '' }), OFFSET_MS);
    assert.equal(record.pid, 77);
    assert.equal(record.comm, 'curl');
  });
});

describe('units', () => {
  it('nsToMillisWithMicros truncates to whole microseconds', () => {
    assert.equal(nsToMillisWithMicros(0), 0);
    assert.equal(nsToMillisWithMicros(999), 0);
    assert.equal(nsToMillisWithMicros(1000), 0.001);
    assert.equal(nsToMillisWithMicros(1_234_999), 1.234);
    assert.equal(nsToMillisWithMicros(86_400_000_000_000), 86_400_000);
    // Shortest round-trip text: the JSON shows exactly the µs digits.
    assert.equal(JSON.stringify(nsToMillisWithMicros(20_217_000)), '20.217');
  });

  it('isoTimeMicros adds the microseconds Date lacks', () => {
    assert.equal(isoTimeMicros(5_000_123_456, OFFSET_MS), '2023-11-14T22:13:25.000123Z');
    assert.equal(isoTimeMicros(5_999_999_999, OFFSET_MS), '2023-11-14T22:13:25.999999Z');
    assert.equal(isoTimeMicros(6_000_000_000, OFFSET_MS + 0.5), '2023-11-14T22:13:26.000500Z');
  });
});

describe('jsonDiagnostic', () => {
  it('puts tool, message and the fields in one object', () => {
    const format = jsonDiagnostic('tcpstates');
    assert.equal(
      format('lost 3 events: the perf ring was full (try a larger --buffer-pages)', { lost: 3 }),
      '{"tool":"tcpstates","message":"lost 3 events: the perf ring was full (try a larger --buffer-pages)","lost":3}',
    );
    assert.equal(format('Tracing...', {}), '{"tool":"tcpstates","message":"Tracing..."}');
  });
});
