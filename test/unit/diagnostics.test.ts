// SPDX-License-Identifier: MIT
// The one stderr path (io/diagnostics.ts): text lines as the tests of the
// tools pin them, one JSON object per line with --json (errors included),
// --verbose from the parsed options (bundled short flags too), and the mode
// set even by a command line that fails to parse.

import { describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Diagnostics, HELD_LINES_MAX } from '../../src/io/diagnostics.js';
import { parseTcpstatesArgs } from '../../src/cli/tcpstates.js';
import { parseTcplifeArgs } from '../../src/cli/tcplife.js';
import { UsageError, VerifierError } from '../../src/errors.js';

function collecting(tool = 'tcpstates'): { diagnostics: Diagnostics; lines: string[] } {
  const lines: string[] = [];
  return { diagnostics: new Diagnostics(tool, (line) => lines.push(line)), lines };
}

describe('Diagnostics', () => {
  test('text mode: "tool: message"; errors with their hint on a second line', () => {
    const { diagnostics, lines } = collecting();
    diagnostics.notice('lost 3 events', { lost: 3 });
    assert.equal(diagnostics.error(new UsageError('bad option', { hint: "run 'tcpstates -h' for usage" })), 2);
    assert.equal(diagnostics.error(new Error('oops')), 1);
    assert.deepEqual(lines, [
      'tcpstates: lost 3 events',
      "tcpstates: bad option\ntcpstates: run 'tcpstates -h' for usage",
      'tcpstates: unexpected error: oops',
    ]);
  });

  test('JSON mode: every line is one object, errors too', () => {
    const { diagnostics, lines } = collecting('tcplife');
    diagnostics.configure({ json: true, verbose: false });
    diagnostics.notice('lost 3 sessions', { lost: 3 });
    diagnostics.error(new UsageError('bad option', { hint: 'run it with -h' }));
    diagnostics.error(new Error('oops'));
    assert.deepEqual(
      lines.map((line) => JSON.parse(line)),
      [
        { tool: 'tcplife', message: 'lost 3 sessions', lost: 3 },
        { tool: 'tcplife', message: 'bad option', hint: 'run it with -h', exit_code: 2 },
        { tool: 'tcplife', message: 'unexpected error: oops', exit_code: 1 },
      ],
    );
  });

  test('verbose: libbpf lines shown only then; the verifier log and the stack in both modes', () => {
    const quiet = collecting();
    quiet.diagnostics.libbpf('libbpf: loading object');
    assert.deepEqual(quiet.lines, []);

    const text = collecting();
    text.diagnostics.configure({ json: false, verbose: true });
    text.diagnostics.libbpf('libbpf: loading object');
    text.diagnostics.error(new VerifierError('BPF program p', 13, ['0: r1 = 0', 'invalid access']));
    assert.equal(text.lines[0], 'libbpf: loading object');
    assert.ok(text.lines[1]!.startsWith('verifier: 0: r1 = 0\nverifier: invalid access\ntcpstates: failed to load BPF program p'));

    const json = collecting();
    json.diagnostics.configure({ json: true, verbose: true });
    json.diagnostics.libbpf('libbpf: loading object');
    json.diagnostics.error(new VerifierError('BPF program p', 13, ['0: r1 = 0', 'invalid access']));
    json.diagnostics.error(new Error('oops'));
    const [libbpf, verifier, unexpected] = json.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(libbpf, { tool: 'tcpstates', message: 'libbpf: loading object' });
    assert.deepEqual(verifier!['verifier_log'], ['0: r1 = 0', 'invalid access']);
    assert.equal(verifier!['exit_code'], 1);
    assert.match(String(unexpected!['stack']), /oops/);
  });

  test('the mode comes from the parsed options: --json, -v, bundled -Tv, --verbose', () => {
    const cases: [string[], { json: boolean; verbose: boolean }][] = [
      [[], { json: false, verbose: false }],
      [['--json'], { json: true, verbose: false }],
      [['-v'], { json: false, verbose: true }],
      [['-Tv'], { json: false, verbose: true }],
      [['--json', '--verbose'], { json: true, verbose: true }],
      // Not options: a port list is not -v.
      [['-L', '80'], { json: false, verbose: false }],
      // --json with a text layout is not a JSON run: the conflict is said in text.
      [['--json', '-s'], { json: false, verbose: false }],
      [['-wv', '--json'], { json: false, verbose: true }],
    ];
    for (const [argv, mode] of cases) {
      const { diagnostics } = collecting();
      try {
        parseTcpstatesArgs(argv, diagnostics);
      } catch (error) {
        assert.ok(error instanceof UsageError, argv.join(' '));
      }
      assert.deepEqual({ json: diagnostics.json, verbose: diagnostics.verbose }, mode, argv.join(' '));
    }
  });

  test('a command line that fails still sets the mode: with --json the usage error is JSON', () => {
    for (const argv of [['--json', '--bogus'], ['--json', '-L', 'abc'], ['--json', '-4', '-6']]) {
      const { diagnostics, lines } = collecting('tcplife');
      assert.throws(() => parseTcplifeArgs(argv, diagnostics), UsageError);
      assert.equal(diagnostics.json, true, argv.join(' '));
      try {
        parseTcplifeArgs(argv, diagnostics);
      } catch (error) {
        assert.equal(diagnostics.error(error), 2);
      }
      const record = JSON.parse(lines[0]!) as Record<string, unknown>;
      assert.equal(record['tool'], 'tcplife');
      assert.equal(record['exit_code'], 2);
    }
  });
});

describe('Diagnostics held while a full screen owns the terminal (tcplife --top)', () => {
  test('hold keeps lines back, release writes them in order; an error releases first', () => {
    const { diagnostics, lines } = collecting('tcplife');
    diagnostics.hold();
    diagnostics.notice('one');
    diagnostics.notice('two');
    assert.deepEqual(lines, []);
    diagnostics.release();
    assert.deepEqual(lines, ['tcplife: one', 'tcplife: two']);
    diagnostics.notice('three');
    assert.equal(lines.at(-1), 'tcplife: three', 'written at once after the release');
    diagnostics.hold();
    diagnostics.notice('held');
    diagnostics.error(new UsageError('bad'));
    assert.deepEqual(lines.slice(3), ['tcplife: held', 'tcplife: bad']);
  });

  test(`at most HELD_LINES_MAX held: the oldest dropped, and counted`, () => {
    const { diagnostics, lines } = collecting('tcplife');
    diagnostics.configure({ json: true, verbose: false });
    diagnostics.hold();
    for (let i = 0; i < HELD_LINES_MAX + 5; i++) diagnostics.notice(`n${i}`);
    diagnostics.release();
    assert.equal(lines.length, HELD_LINES_MAX + 1);
    assert.deepEqual(JSON.parse(lines[0] ?? ''), { tool: 'tcplife', message: '5 earlier lines were dropped while the screen was shown', dropped: 5 });
    assert.equal(JSON.parse(lines[1] ?? '').message, 'n5');
    assert.equal(JSON.parse(lines.at(-1) ?? '').message, `n${HELD_LINES_MAX + 4}`);
  });
});
