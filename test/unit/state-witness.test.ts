// SPDX-License-Identifier: MIT
// The state witness's parser (harness/state-witness.ts), on lines as
// this kernel's trace buffer prints them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWitnessTrace } from '../../harness/state-witness.js';

const TRACE = [
  '# tracer: nop',
  '#',
  '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION',
  ' tokio-rt-worker-81      [000] ..s1.  1013.455887: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=57827 dport=54228 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_FIN_WAIT1 newstate=TCP_FIN_WAIT2',
  '       tssrv0804-20191   [001] .....  1013.455889: inet_sock_set_state: family=AF_INET6 protocol=IPPROTO_TCP sport=43965 dport=33072 saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=::1 daddrv6=::1 oldstate=TCP_CLOSE_WAIT newstate=TCP_LAST_ACK',
  ' my-comm-with-dash-7     [001] .....  1013.5: inet_sock_set_state: family=AF_INET protocol=IPPROTO_DCCP sport=1 dport=2 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::1 daddrv6=::1 oldstate=TCP_CLOSE newstate=TCP_LISTEN',
  '',
].join('\n');

test('parses transitions with the current thread, skips headers and other protocols', () => {
  assert.deepEqual(parseWitnessTrace(TRACE), [
    {
      tid: 81,
      comm: 'tokio-rt-worker',
      cpu: 0,
      family: 4,
      sport: 57827,
      dport: 54228,
      saddr: '127.0.0.1',
      daddr: '127.0.0.1',
      oldstate: 'FIN_WAIT1',
      newstate: 'FIN_WAIT2',
    },
    {
      tid: 20191,
      comm: 'tssrv0804',
      cpu: 1,
      family: 6,
      sport: 43965,
      dport: 33072,
      saddr: '::1',
      daddr: '::1',
      oldstate: 'CLOSE_WAIT',
      newstate: 'LAST_ACK',
    },
  ]);
});

test('a comm with dashes keeps them; the tid is the last number', () => {
  const [transition] = parseWitnessTrace(TRACE.replace('IPPROTO_DCCP', 'IPPROTO_TCP')).slice(2);
  assert.equal(transition?.comm, 'my-comm-with-dash');
  assert.equal(transition?.tid, 7);
});
