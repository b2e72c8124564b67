// SPDX-License-Identifier: MIT
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EVENT_SIZE, TRANSITION_EVENT_SIZE } from '../../src/decode/event.js';
import { decodeEvent } from '../../harness/decode-event.js';
import { stateName } from '../../src/decode/tcp-states.js';
import { encodeEvent } from '../../harness/events.js';

test('decodes every field of an IPv4 event', () => {
  const view = encodeEvent({
    tsNs: 123_456_789_012_345n,
    skaddr: 0xffff9fd7e8192000n,
    deltaNs: 1_234_567n,
    txBytes: 102_400n,
    rxBytes: 3_000n,
    pid: 22384,
    ownerPid: 4242,
    saddr: [100, 66, 100, 185],
    daddr: [52, 33, 159, 26],
    comm: 'curl',
    ownerComm: 'nginx',
    family: 2,
    sport: 52000,
    dport: 80,
    oldState: 2,
    newState: 1,
    netnsIno: 4026531840,
    cgroupId: 0x1_0000_0042n,
    skErr: 111,
    flags: 1,
  });
  assert.deepEqual(decodeEvent(view, 0, EVENT_SIZE), {
    tsNs: 123_456_789_012_345,
    skaddr: 'ffff9fd7e8192000',
    deltaNs: 1_234_567,
    txBytes: 102_400,
    rxBytes: 3_000,
    pid: 22384,
    comm: 'curl',
    ownerPid: 4242,
    ownerComm: 'nginx',
    family: 2,
    localAddress: '100.66.100.185',
    localPort: 52000,
    remoteAddress: '52.33.159.26',
    remotePort: 80,
    oldState: 2,
    newState: 1,
    netnsIno: 4026531840,
    cgroupId: 0x1_0000_0042,
    skErr: 111,
    flags: 1,
  });
});

test('a transition record (tcpstates) has no sessions tail: bytes and owner comm read as zero', () => {
  const view = encodeEvent({ txBytes: 5n, rxBytes: 6n, ownerPid: 7, ownerComm: 'x', pid: 9 });
  const event = decodeEvent(view, 0, TRANSITION_EVENT_SIZE);
  assert.deepEqual([event.pid, event.ownerPid, event.txBytes, event.rxBytes, event.ownerComm], [9, 7, 0, 0, '']);
});

test('decodes IPv6 addresses with inet_ntop rules', () => {
  const loopback = [...Array(15).fill(0), 1];
  const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1];
  const event = decodeEvent(encodeEvent({ family: 10, saddr: loopback, daddr: mapped }), 0, EVENT_SIZE);
  assert.equal(event.localAddress, '::1');
  assert.equal(event.remoteAddress, '::ffff:127.0.0.1');
});

test('accepts trailing padding after the event (perf samples carry up to 7 bytes)', () => {
  const event = decodeEvent(encodeEvent({ pid: 7 }, 4), 0, EVENT_SIZE + 4);
  assert.equal(event.pid, 7);
});

test('decodes at an offset inside a larger view', () => {
  const inner = encodeEvent({ sport: 443 });
  const outer = new Uint8Array(EVENT_SIZE + 12);
  outer.set(new Uint8Array(inner.buffer), 12);
  assert.equal(decodeEvent(new DataView(outer.buffer), 12, EVENT_SIZE).localPort, 443);
});

test('a comm of 16 characters has no NUL and is read whole', () => {
  const event = decodeEvent(encodeEvent({ comm: 'recordProgramSt1' }), 0, EVENT_SIZE);
  assert.equal(event.comm, 'recordProgramSt1');
});

test('a non-UTF-8 comm decodes with replacement characters, as bcc', () => {
  const comm = [0x61, 0xff, 0x62];
  assert.equal(decodeEvent(encodeEvent({ comm }), 0, EVENT_SIZE).comm, 'a\ufffdb');
});

test('a sample shorter than an event is a DecodeError', () => {
  assert.throws(() => decodeEvent(encodeEvent({}), 0, TRANSITION_EVENT_SIZE - 1), {
    name: 'DecodeError',
    message: 'sample of 103 bytes is shorter than an event (104)',
  });
});

test('state names as bcc, numbers for unknown states', () => {
  assert.equal(stateName(1), 'ESTABLISHED');
  assert.equal(stateName(12), 'NEW_SYN_RECV');
  assert.equal(stateName(13), '13');
  assert.equal(stateName(0), '0');
});
