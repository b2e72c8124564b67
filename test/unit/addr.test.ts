// SPDX-License-Identifier: MIT
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipv4ToString, ipv6ToString } from '../../src/decode/addr.js';

function v6(text: string): DataView {
  // Expand a full 8-group address (no ::) into bytes.
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  text.split(':').forEach((group, i) => view.setUint16(i * 2, parseInt(group, 16), false));
  return view;
}

test('IPv4 dotted quad from network-order bytes', () => {
  assert.equal(ipv4ToString(new DataView(new Uint8Array([127, 0, 0, 1]).buffer), 0), '127.0.0.1');
  assert.equal(ipv4ToString(new DataView(new Uint8Array([0, 10, 1, 2, 255]).buffer), 1), '10.1.2.255');
});

// Expected strings are what glibc's inet_ntop (Python's socket.inet_ntop) prints.
const cases: [string, string][] = [
  ['0:0:0:0:0:0:0:1', '::1'],
  ['0:0:0:0:0:0:0:0', '::'],
  ['fe80:0:0:0:0:0:0:1', 'fe80::1'],
  ['fe80:0:0:0:0:0:0:0', 'fe80::'],
  ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
  ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
  ['0:0:0:0:0:ffff:7f00:1', '::ffff:127.0.0.1'],
  ['0:0:0:0:0:0:7f00:1', '::127.0.0.1'],
  ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
  ['abcd:ef01:2345:6789:abcd:ef01:2345:6789', 'abcd:ef01:2345:6789:abcd:ef01:2345:6789'],
];
for (const [full, expected] of cases) {
  test(`IPv6 ${full} prints as ${expected}`, () => {
    assert.equal(ipv6ToString(v6(full), 0), expected);
  });
}
