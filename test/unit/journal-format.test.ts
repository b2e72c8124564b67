// SPDX-License-Identifier: MIT
// Unit tests of the -Y/--journal entry (bcc's fields) and its native-protocol
// encoding, including the binary form for values with a newline.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { encodeJournalEntry, tcpstatesJournalFields } from '../../src/format/journal.js';
import { sampleEvent } from '../../harness/events.js';
import { decodeJournalDatagram } from '../../harness/journal-receiver.js';

describe('tcpstatesJournalFields', () => {
  it("sends bcc's fields; as root, without OBJECT_COMM (journald adds it)", () => {
    assert.deepEqual(tcpstatesJournalFields(sampleEvent(), { includeComm: false }), [
      ['SYSLOG_IDENTIFIER', 'tcpstates'],
      ['PRIORITY', '5'],
      ['OBJECT_PID', '22384'],
      ['OBJECT_IPV4_SOURCE_ADDRESS', '127.0.0.1'],
      ['OBJECT_TCP_SOURCE_PORT', '63446'],
      ['OBJECT_IPV4_DESTINATION_ADDRESS', '127.0.0.2'],
      ['OBJECT_TCP_DESTINATION_PORT', '80'],
      ['OBJECT_TCP_OLD_STATE', 'ESTABLISHED'],
      ['OBJECT_TCP_NEW_STATE', 'FIN_WAIT1'],
      ['OBJECT_TCP_SPAN_TIME', '1234'],
      ['MESSAGE', 'curl 127.0.0.1 63446 → 127.0.0.2 80 ESTABLISHED → FIN_WAIT1'],
    ]);
  });

  it('adds OBJECT_COMM after OBJECT_PID when not root', () => {
    const fields = tcpstatesJournalFields(sampleEvent(), { includeComm: true });
    assert.deepEqual(fields.slice(2, 4), [
      ['OBJECT_PID', '22384'],
      ['OBJECT_COMM', 'curl'],
    ]);
  });

  it('names IPv6 addresses OBJECT_IPV6_*', () => {
    const fields = new Map(
      tcpstatesJournalFields(sampleEvent({ family: 10, localAddress: '::1', remoteAddress: '::1', deltaNs: 0 }), {
        includeComm: false,
      }),
    );
    assert.equal(fields.get('OBJECT_IPV6_SOURCE_ADDRESS'), '::1');
    assert.equal(fields.get('OBJECT_IPV6_DESTINATION_ADDRESS'), '::1');
    assert.equal(fields.has('OBJECT_IPV4_SOURCE_ADDRESS'), false);
    assert.equal(fields.get('OBJECT_TCP_SPAN_TIME'), '0');
  });
});

describe('encodeJournalEntry', () => {
  it('writes NAME=value lines, UTF-8', () => {
    const datagram = encodeJournalEntry([
      ['PRIORITY', '5'],
      ['MESSAGE', 'a → b'],
    ]);
    assert.equal(Buffer.from(datagram).toString('utf8'), 'PRIORITY=5\nMESSAGE=a → b\n');
    assert.equal(datagram.length, 'PRIORITY=5\nMESSAGE=a '.length + 3 + ' b\n'.length);
  });

  it('uses the binary form for a value with a newline: NAME\\n, u64 LE byte length, bytes, \\n', () => {
    const datagram = encodeJournalEntry([
      ['OBJECT_COMM', 'a\nb'],
      ['MESSAGE', 'a\nb →'],
    ]);
    const expected = Buffer.concat([
      Buffer.from('OBJECT_COMM\n'),
      Buffer.from([3, 0, 0, 0, 0, 0, 0, 0]),
      Buffer.from('a\nb\n'),
      Buffer.from('MESSAGE\n'),
      Buffer.from([7, 0, 0, 0, 0, 0, 0, 0]), // "a\nb " is 4 bytes, the arrow 3
      Buffer.from('a\nb →\n'),
    ]);
    assert.deepEqual(Buffer.from(datagram), expected);
    assert.deepEqual(decodeJournalDatagram(datagram), [
      ['OBJECT_COMM', 'a\nb'],
      ['MESSAGE', 'a\nb →'],
    ]);
  });

  it('round-trips a whole tcpstates entry', () => {
    const fields = tcpstatesJournalFields(sampleEvent({ comm: 'evil\ncomm' }), { includeComm: true });
    assert.deepEqual(decodeJournalDatagram(encodeJournalEntry(fields)), fields);
  });

  it('rejects field names journald would drop', () => {
    for (const name of ['_SOURCE_REALTIME_TIMESTAMP', 'lower', '1DIGIT', 'A-B', '', 'X'.repeat(65)]) {
      assert.throws(() => encodeJournalEntry([[name, 'v']]), { message: `invalid journal field name "${name}"` });
    }
    assert.doesNotThrow(() => encodeJournalEntry([['X'.repeat(64), 'v']]));
  });
});
