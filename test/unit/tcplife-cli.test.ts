// SPDX-License-Identifier: MIT
// bin/tcplife's argument handling: bad input is one clear line on stderr and
// exit 2 (never a stack trace), -h shows bcc's option set and examples.
// Parsing happens before anything touches the kernel.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { parseTcplifeArgs } from '../../src/cli/tcplife.js';
import { runTracerToExit } from '../../harness/tracer-process.js';

async function run(args: readonly string[]) {
  const result = await runTracerToExit(args, process.env, 15_000, { tool: 'tcplife' });
  return { code: result.code, stdout: result.stdoutText, stderr: result.stderrText };
}

test('invalid values: one line naming the option and the text, exit 2', async () => {
  const cases: [string[], string][] = [
    [['-p', 'abc'], 'tcplife: -p/--pid: invalid PID "abc": not a positive integer\n'],
    [['-p', '0'], 'tcplife: -p/--pid: PID 0 is out of range 1-4194304\n'],
    [['--pid', '12,,13'], 'tcplife: -p/--pid: empty PID in list "12,,13"\n'],
    [['-L', '70000'], 'tcplife: -L/--localport: port 70000 is out of range 1-65535\n'],
    [['-D', '80,x'], 'tcplife: -D/--remoteport: invalid port "x": not a positive integer\n'],
  ];
  for (const [args, stderr] of cases) {
    assert.deepEqual(await run(args), { code: 2, stdout: '', stderr }, args.join(' '));
  }
});

test('commander errors: the error and where to look, exit 2', async () => {
  assert.deepEqual(await run(['-4', '-6']), {
    code: 2,
    stdout: '',
    stderr: "tcplife: option '-4, --ipv4' cannot be used with option '-6, --ipv6'\ntcplife: run 'tcplife -h' for usage\n",
  });
  assert.deepEqual(await run(['-p']), {
    code: 2,
    stdout: '',
    stderr: "tcplife: option '-p, --pid <pids>' argument missing\ntcplife: run 'tcplife -h' for usage\n",
  });
});

test('-h: exit 0, bcc options and the examples epilog', async () => {
  const { code, stdout, stderr } = await run(['-h']);
  assert.equal(code, 0);
  assert.equal(stderr, '');
  for (const option of ['-T, --time', '-t, --timestamp', '-w, --wide', '-s, --csv', '-p, --pid <pids>', '-L, --localport <ports>', '-D, --remoteport <ports>', '-4, --ipv4', '-6, --ipv6', '-h, --help']) {
    assert.ok(stdout.includes(`  ${option}`), option);
  }
  assert.ok(stdout.includes('examples:\n    tcplife           # trace all TCP connect()s\n'));
  assert.ok(stdout.includes('    tcplife -p 181,182  # only trace PIDs 181 and 182\n'));
});

test('options become the sessions-mode trace config', () => {
  const parsed = parseTcplifeArgs(['-p', '7,8,7', '-L', '80', '-D', '443,8443', '-6', '-stTw']);
  assert.equal(parsed.kind, 'run');
  if (parsed.kind !== 'run') return;
  assert.deepEqual(parsed.options.trace, {
    mode: 'sessions',
    localPorts: [80],
    remotePorts: [443, 8443],
    family: 10,
    pids: [7, 8],
    netnsIno: null,
    cgroup: null,
    bufferPages: null,
  });
  assert.deepEqual(
    [parsed.options.csv, parsed.options.timestamp, parsed.options.time, parsed.options.wide],
    [true, true, true, true],
  );
});
