// SPDX-License-Identifier: MIT
// Dev harness for tcplife --top: the real driver and terminal on this
// process's stdin/stdout, fed by the synthetic source. Run it in a terminal:
//   node dist/harness/top-harness.js [--interval MS] [--idle N] [--crash-after N] [--fail-after N]
// --crash-after N throws an uncaught exception after N snapshots (the
// terminal must still be restored); --fail-after N makes the source reject.
// It stops on q, Ctrl-C, SIGINT, SIGTERM and SIGHUP, as the tool does.

import { parseArgs } from 'node:util';
import { runTopOnTerminal } from '../src/top/driver.js';
import { fakeSource } from './fake-sessions.js';

const { values } = parseArgs({
  options: {
    interval: { type: 'string', default: '1000' },
    idle: { type: 'string', default: '0' },
    'crash-after': { type: 'string' },
    'fail-after': { type: 'string' },
  },
});
const intervalMs = Number(values.interval);
const fake = fakeSource(intervalMs, Number(values.idle));
const crashAfter = values['crash-after'] === undefined ? Infinity : Number(values['crash-after']);
const failAfter = values['fail-after'] === undefined ? Infinity : Number(values['fail-after']);
let calls = 0;
const source = () => {
  calls++;
  if (calls > failAfter) return Promise.reject(new Error('harness source failed'));
  if (calls > crashAfter) setImmediate(() => {
    throw new Error('harness crash');
  });
  return fake();
};

const stop = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => stop.abort());
try {
  await runTopOnTerminal(source, intervalMs, stop.signal);
  process.stderr.write('top harness: stopped\n');
} catch (error) {
  process.stderr.write(`top harness: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
