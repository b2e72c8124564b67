// SPDX-License-Identifier: MIT
// Bad input, for every tool on the shared CLI machinery: each invalid option,
// value or argument gives exactly one message line and the usage hint on
// stderr, nothing on stdout, exit code 2. These run the real bin (they end
// before anything touches the kernel); -p is checked on the shared parser
// for tools that do not have it yet.

import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { buildCommand, parseArgs, validateCommon } from '../../src/cli/command.js';
import { PID_LIST_MAX, parsePidList, parsePortList } from '../../src/cli/options.js';
import { UsageError } from '../../src/errors.js';
import { TOOLS } from '../../harness/rows.js';
import { runTracerToExit } from '../../harness/tracer-process.js';

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the bin asynchronously, so the cases of one tool run side by side. */
async function run(tool: string, args: readonly string[]): Promise<Result> {
  const result = await runTracerToExit(args, process.env, 10_000, { tool });
  return { status: result.code, stdout: result.stdoutText, stderr: result.stderrText };
}

/** [argv, the message line without the "tool: " prefix]. Errors in the
 * command line's shape (unknown option, missing value, stray argument,
 * conflicting options) are followed by the usage hint; invalid values are not. */
const COMMON_CASES: readonly (readonly [readonly string[], string])[] = [
  // ports
  [['-L', 'abc'], '-L/--localport: invalid port "abc": not a positive integer'],
  [['-L', '0'], '-L/--localport: port 0 is out of range 1-65535'],
  [['-L', '65536'], '-L/--localport: port 65536 is out of range 1-65535'],
  [['-L', '99999999999999999999'], '-L/--localport: port 99999999999999999999 is out of range 1-65535'],
  [['-L', '-1'], '-L/--localport: invalid port "-1": not a positive integer'],
  [['--localport=-5'], '-L/--localport: invalid port "-5": not a positive integer'],
  [['-L', '80,-1'], '-L/--localport: invalid port "-1": not a positive integer'],
  [['-L', '1e3'], '-L/--localport: invalid port "1e3": not a positive integer'],
  [['-L', '0x50'], '-L/--localport: invalid port "0x50": not a positive integer'],
  [['-L', '8.5'], '-L/--localport: invalid port "8.5": not a positive integer'],
  [['-L', '80,,81'], '-L/--localport: empty port in list "80,,81"'],
  [['-L', '80,'], '-L/--localport: empty port in list "80,"'],
  [['-L', ''], '-L/--localport: empty port in list ""'],
  [['-D', 'x'], '-D/--remoteport: invalid port "x": not a positive integer'],
  [['-D', '1,2,65535,65536'], '-D/--remoteport: port 65536 is out of range 1-65535'],
  [['--remoteport', ',443'], '-D/--remoteport: empty port in list ",443"'],
  // families
  [['-4', '-6'], "option '-4, --ipv4' cannot be used with option '-6, --ipv6'"],
  [['-46'], "option '-4, --ipv4' cannot be used with option '-6, --ipv6'"],
  [['--ipv6', '--ipv4'], "option '-4, --ipv4' cannot be used with option '-6, --ipv6'"],
  // unknown options, missing values, stray arguments
  [['--bogus'], "unknown option '--bogus'"],
  [['-x'], "unknown option '-x'"],
  [['--durration', '1'], "unknown option '--durration' (did you mean --duration?)"],
  [['-L'], "option '-L, --localport <ports>' argument missing"],
  [['-L', '80', '-D'], "option '-D, --remoteport <ports>' argument missing"],
  [['--count'], "option '--count <rows>' argument missing"],
  [['foo'], 'unexpected argument "foo"'],
  [['-w', 'foo', 'bar'], 'unexpected arguments "foo" "bar"'],
  [['--', '-L'], 'unexpected argument "-L"'],
  // --duration, --count, --buffer-pages
  [['--duration', '0'], '--duration: invalid duration "0": not a positive number'],
  [['--duration', '-1'], '--duration: invalid duration "-1": not a positive number'],
  [['--duration', 'abc'], '--duration: invalid duration "abc": not a positive number'],
  [['--duration', 'inf'], '--duration: invalid duration "inf": not a positive number'],
  [['--duration', '1e3'], '--duration: invalid duration "1e3": not a positive number'],
  [['--duration', ''], '--duration: invalid duration "": not a positive number'],
  [['--count', '0'], '--count: invalid count "0": not a positive integer'],
  [['--count', '1.5'], '--count: invalid count "1.5": not a positive integer'],
  [['--count', '-3'], '--count: invalid count "-3": not a positive integer'],
  [['--buffer-pages', '3'], '--buffer-pages: page count 3 must be a power of two from 1 to 65536'],
  [['--buffer-pages', '0'], '--buffer-pages: page count 0 must be a power of two from 1 to 65536'],
  [['--buffer-pages', '131072'], '--buffer-pages: page count 131072 must be a power of two from 1 to 65536'],
  [['--buffer-pages', 'many'], '--buffer-pages: invalid page count "many": not a positive integer'],
];

const SHAPE_ERROR = /^(unknown option|option '|unexpected argument)/;

const PID_CASES: readonly (readonly [readonly string[], string])[] = [
  [['-p', 'abc'], '-p/--pid: invalid PID "abc": not a positive integer'],
  [['-p', '0'], '-p/--pid: PID 0 is out of range 1-4194304'],
  [['-p', '-7'], '-p/--pid: invalid PID "-7": not a positive integer'],
  [['-p', '4194305'], '-p/--pid: PID 4194305 is out of range 1-4194304'],
  [['-p', '99999999999999999999'], '-p/--pid: PID 99999999999999999999 is out of range 1-4194304'],
  [['-p', '12.5'], '-p/--pid: invalid PID "12.5": not a positive integer'],
  [['-p', '1,,2'], '-p/--pid: empty PID in list "1,,2"'],
  [['-p', ''], '-p/--pid: empty PID in list ""'],
  [['--pid', Array.from({ length: PID_LIST_MAX + 1 }, (_, index) => index + 1).join(',')], '-p/--pid: at most 1024 PIDs (got 1025)'],
];

for (const tool of TOOLS) {
  describe(`${tool.name}: invalid input`, { concurrency: 4 }, () => {
    const cases = [...COMMON_CASES, ...PID_CASES];
    for (const [args, message] of cases) {
      test(`${tool.name} ${args.join(' ').slice(0, 60)}`, async () => {
        const result = await run(tool.name, args);
        const hint = SHAPE_ERROR.test(message) ? `${tool.name}: run '${tool.name} -h' for usage\n` : '';
        assert.equal(result.stderr, `${tool.name}: ${message}\n${hint}`);
        assert.equal(result.stdout, '');
        assert.equal(result.status, 2);
      });
    }
  });

  test(`${tool.name} -h: usage and examples on stdout, exit 0`, async () => {
    const result = await run(tool.name, ['-h']);
    assert.equal(result.status, 0);
    assert.equal(result.stderr, '');
    assert.match(result.stdout, new RegExp(`^Usage: ${tool.name} \\[options\\]\\n`));
    for (const flag of ['-h, --help', '-v, --verbose', '--duration <seconds>', '--count <rows>', '-L, --localport <ports>']) {
      assert.ok(result.stdout.includes(flag), `help lists ${flag}`);
    }
    // The epilog, as bcc's tools have: "examples:" and indented command lines.
    const epilog = result.stdout.slice(result.stdout.indexOf('\nexamples:\n'));
    assert.ok(epilog.length > 0, 'has an examples epilog');
    const examples = epilog.split('\n').filter((line) => line.startsWith(`    ${tool.name}`));
    assert.ok(examples.length >= 5, `at least 5 examples, got ${examples.length}`);
  });
}

describe('the shared parser (command.ts) with -p', () => {
  const noWrite = { out: () => {}, err: () => {} };
  const parse = (argv: readonly string[]) => {
    const command = buildCommand({ name: 'tool', description: 'test', examples: 'examples:' }, noWrite);
    return parseArgs(command, argv, (raw) => validateCommon(raw, 'sessions'));
  };

  for (const [args, message] of PID_CASES) {
    test(`tool ${args.join(' ').slice(0, 40)}`, () => {
      assert.throws(
        () => parse(args),
        (error: unknown) =>
          error instanceof UsageError &&
          error.message === message &&
          error.hint === (SHAPE_ERROR.test(message) ? "run 'tool -h' for usage" : undefined) &&
          error.exitCode === 2,
      );
    });
  }

  test('valid PIDs and ports are parsed, duplicates dropped, spaces trimmed', () => {
    const parsed = parse(['-p', '1, 42,42', '-L', '80,443,80', '-D', '65535', '-4', '--duration', '1.5', '--count', '7']);
    assert.equal(parsed.kind, 'run');
    if (parsed.kind !== 'run') return;
    assert.deepEqual(parsed.options.trace.pids, [1, 42]);
    assert.deepEqual(parsed.options.trace.localPorts, [80, 443]);
    assert.deepEqual(parsed.options.trace.remotePorts, [65535]);
    assert.equal(parsed.options.trace.family, 2);
    assert.equal(parsed.options.durationMs, 1500);
    assert.equal(parsed.options.maxRows, 7);
  });

  test('a missing -p value is a shape error, with the hint', () => {
    assert.throws(
      () => parse(['-p']),
      (error: unknown) =>
        error instanceof UsageError &&
        error.message === "option '-p, --pid <pids>' argument missing" &&
        error.hint === "run 'tool -h' for usage",
    );
  });

  test('-h is an exit with code 0, not an error', () => {
    assert.deepEqual(parse(['-h']), { kind: 'exit', code: 0 });
  });
});

test('list parsers take the limits', () => {
  assert.deepEqual(parsePortList('1,65535', '-L'), [1, 65535]);
  assert.deepEqual(parsePidList('4194304', '-p'), [4194304]);
  const maxPids = Array.from({ length: PID_LIST_MAX }, (_, index) => index + 1);
  assert.equal(parsePidList(maxPids.join(','), '-p').length, PID_LIST_MAX);
});
