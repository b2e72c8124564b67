// SPDX-License-Identifier: MIT
// tcplife --top's command line (src/cli/command.ts): the interval (1 s
// unless --interval says), the sessions open at start included, and the
// options about rows refused beside it with one line.

import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { parseTcplifeArgs } from '../../src/cli/tcplife.js';
import { UsageError } from '../../src/errors.js';

describe('tcplife --top options', () => {
  test('every second by default, or every --interval; every session; those open at start too', () => {
    for (const [argv, intervalMs] of [
      [['--top'], 1000],
      [['--top', '--interval', '2.5'], 2500],
      [['-p', '42', '--top', '-6'], 1000],
    ] as const) {
      const parsed = parseTcplifeArgs(argv);
      assert.ok(parsed.kind === 'run', argv.join(' '));
      assert.deepEqual(parsed.options.openSessions, { intervalMs, all: true, top: true }, argv.join(' '));
      assert.equal(parsed.options.existing, true);
    }
    const plain = parseTcplifeArgs(['--interval', '3']);
    assert.ok(plain.kind === 'run' && plain.options.openSessions?.top === false && !plain.options.existing);
  });

  test('options about rows are refused beside it: one line naming the option', () => {
    for (const [extra, flag] of [
      [['--json'], '--json'],
      [['-s'], '-s/--csv'],
      [['-T'], '-T/--time'],
      [['-t'], '-t/--timestamp'],
      [['-w'], '-w/--wide'],
      [['--count', '5'], '--count'],
      [['--all'], '--all'],
      [['--metrics', '0'], '--metrics'],
      [['--container'], '--container'],
      [['--no-header'], '--no-header'],
    ] as const) {
      assert.throws(() => parseTcplifeArgs(['--top', ...extra]), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.equal(error.message, `--top: not with ${flag} (it draws its own screen)`);
        return true;
      });
    }
    assert.throws(() => parseTcplifeArgs(['--top', '--interval', '0']), UsageError);
  });
});
