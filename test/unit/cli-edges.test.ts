// SPDX-License-Identifier: MIT
// The last rough edges of the command line, without the kernel: -V, write
// errors on -h and -V, long and control-character values in messages,
// repeated list options, --no-header, the colour conventions, the sudo
// advice for a per-user Node, and the kernel BTF header check.

import { strict as assert } from 'node:assert';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { btfHeaderProblem, checkPrivileges, DATA_READY_TRACEPOINT_TYPE, kernelBtfHasName, sudoCommand } from '../../src/bpf/preflight.js';
import { buildCommand, parseArgs, validateCommon } from '../../src/cli/command.js';
import { packageVersion } from '../../src/cli/version.js';
import { UsageError } from '../../src/errors.js';
import { colorizerFor, colorLevel } from '../../src/format/color.js';
import { TOOLS } from '../../harness/rows.js';
import { REPO_ROOT as ROOT } from '../../harness/system.js';
import { runTracerToExit } from '../../harness/tracer-process.js';
import { btfWith } from '../../harness/btf.js';

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the bin to its end; `stdoutPath` redirects its stdout to that file. */
async function run(tool: string, args: readonly string[], stdoutPath?: string): Promise<Result> {
  const fd = stdoutPath === undefined ? null : openSync(stdoutPath, 'w');
  // runTracerToExit spawns before its first await: the child has the fd once it returns.
  const running = runTracerToExit(args, process.env, 10_000, { tool, ...(fd === null ? {} : { stdout: fd }) });
  if (fd !== null) closeSync(fd);
  const result = await running;
  return { status: result.code, stdout: result.stdoutText, stderr: result.stderrText };
}

const PACKAGE = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { name: string; version: string };

/** The shared parser, with help output swallowed. */
function parse(argv: readonly string[]) {
  const noWrite = { out: () => {}, err: () => {} };
  const command = buildCommand({ name: 'tool', description: 'test', examples: 'examples:' }, noWrite);
  return parseArgs(command, argv, (raw) => validateCommon(raw, 'sessions'));
}

function parsed(argv: readonly string[]) {
  const result = parse(argv);
  assert.equal(result.kind, 'run');
  if (result.kind !== 'run') throw new Error('unreachable');
  return result.options;
}

for (const tool of TOOLS) {
  describe(`${tool.name}: version and write errors`, () => {
    for (const flag of ['-V', '--version']) {
      test(`${tool.name} ${flag}: "${tool.name} <package.json version>" on stdout, exit 0`, async () => {
        assert.deepEqual(await run(tool.name, [flag]), { status: 0, stdout: `${tool.name} ${PACKAGE.version}\n`, stderr: '' });
      });
    }

    test(`${tool.name} -V with NODE_EXTRA_CA_CERTS naming a missing file: no warning from Node, which never read it`, async () => {
      // Node 20 reads that file at every start (35 ms for Debian's bundle)
      // and warns when it cannot; the bin's sh line drops the variable.
      const env = { ...process.env, NODE_EXTRA_CA_CERTS: '/nonexistent/tcpstates-test-ca.pem' };
      // Run as a user runs it: the kernel reads the bin's #! line.
      const result = await runTracerToExit(['-V'], env, 10_000, { tool: tool.name, exec: true });
      assert.deepEqual(
        { status: result.code, stdout: result.stdoutText, stderr: result.stderrText },
        { status: 0, stdout: `${tool.name} ${PACKAGE.version}\n`, stderr: '' },
      );
    });

    for (const args of [['-h'], ['-V']]) {
      test(`${tool.name} ${args.join(' ')} > /dev/full: one write-error line, exit 1`, async () => {
        const result = await run(tool.name, args, '/dev/full');
        assert.deepEqual(result, { status: 1, stdout: '', stderr: `${tool.name}: cannot write to stdout: ENOSPC\n` });
      });
    }
  });

  describe(`${tool.name}: long and odd values in error messages`, { concurrency: 4 }, () => {
    const long = '9'.repeat(131000);
    const cases: readonly (readonly [string, readonly string[]])[] = [
      ['a 131000-digit port', ['-L', long]],
      ['a 131000-character port', ['-D', 'x'.repeat(131000)]],
      ['a 131000-character PID list item', ['-p', `1,${'y'.repeat(131000)}`]],
      ['a 131000-character empty-item list', ['-L', `${'1,'.repeat(65500)}`]],
      ['a 131000-character duration', ['--duration', 'z'.repeat(131000)]],
      ['a 131000-character page count', ['--buffer-pages', long]],
      ['a 131000-character unknown option', [`--${'o'.repeat(131000)}`]],
      ['a 131000-character stray argument', ['a'.repeat(131000)]],
      ['10000 stray arguments', Array.from({ length: 10000 }, (_, index) => `arg${index}`)],
    ];
    for (const [what, args] of cases) {
      test(`${what}: short lines, the length said, exit 2`, async () => {
        const result = await run(tool.name, args);
        assert.equal(result.status, 2);
        assert.equal(result.stdout, '');
        const lines = result.stderr.split('\n').filter(Boolean);
        assert.ok(lines.length >= 1 && lines.length <= 2, result.stderr.slice(0, 500));
        for (const line of lines) assert.ok(line.length <= 160, `line of ${line.length} characters: ${line.slice(0, 200)}`);
        assert.match(lines[0]!, /\.\.\." \(\d+ characters\)|\.\.\. \(\d+ (characters|arguments)\)/);
      });
    }

    test('a newline or an escape in a value stays escaped on one line', async () => {
      const newline = await run(tool.name, ['-L', '8\n0']);
      assert.deepEqual(newline, { status: 2, stdout: '', stderr: `${tool.name}: -L/--localport: invalid port "8\\n0": not a positive integer\n` });
      const escape = await run(tool.name, ['--dur\x1b[31m']);
      assert.equal(escape.status, 2);
      assert.equal(escape.stderr.split('\n')[0], `${tool.name}: unknown option "--dur\\u001b[31m"`);
      // An apostrophe in the text: commander's quotes no longer pair.
      const apostrophe = await run(tool.name, ["--x'\x1b]0;T\x07\x1b[2J'"]);
      assert.equal(apostrophe.status, 2);
      assert.equal(apostrophe.stderr.split('\n')[0], `${tool.name}: unknown option '--x'\\u001b]0;T\\u0007\\u001b[2J''`);
      const csi = await run(tool.name, ['-D', '8\u009b0']);
      assert.equal(csi.stderr, `${tool.name}: -D/--remoteport: invalid port "8\\u009b0": not a positive integer\n`);
      const del = await run(tool.name, ['-L', '8\u007f0']);
      assert.equal(del.stderr, `${tool.name}: -L/--localport: invalid port "8\\u007f0": not a positive integer\n`);
    });
  });
}

describe('repeated list options accumulate (the union), other options keep the last', () => {
  test('-L 80 -L 81 traces both; duplicates across repeats dropped', () => {
    assert.deepEqual(parsed(['-L', '80', '-L', '81']).trace.localPorts, [80, 81]);
    assert.deepEqual(parsed(['-L', '80,443', '--localport', '443,8080', '-L', '80']).trace.localPorts, [80, 443, 8080]);
  });

  test('-D and -p too', () => {
    const options = parsed(['-D', '53', '-D', '853', '-p', '1', '--pid', '2,3', '-p', '1']);
    assert.deepEqual(options.trace.remotePorts, [53, 853]);
    assert.deepEqual(options.trace.pids, [1, 2, 3]);
  });

  test('a bad value in a later repeat is named as itself', () => {
    assert.throws(() => parse(['-L', '80', '-L', '80,']), (error: unknown) => error instanceof UsageError && error.message === '-L/--localport: empty port in list "80,"');
  });

  test('the PID limit is on the union', () => {
    const half = (from: number) => Array.from({ length: 513 }, (_, index) => from + index).join(',');
    assert.throws(() => parse(['-p', half(1), '-p', half(1000)]), (error: unknown) => error instanceof UsageError && error.message === '-p/--pid: at most 1024 PIDs (got 1026)');
  });

  test('--duration and --count given twice: the last counts', () => {
    const options = parsed(['--duration', '5', '--duration', '2', '--count', '9', '--count', '3']);
    assert.equal(options.durationMs, 2000);
    assert.equal(options.maxRows, 3);
  });

  test('--no-header turns the header off; it is on by default', () => {
    assert.equal(parsed([]).header, true);
    assert.equal(parsed(['--no-header']).header, false);
    assert.equal(parsed(['-s', '--no-header', '-T']).header, false);
  });

  test('-V is an exit with code 0', () => {
    assert.deepEqual(parse(['-V']), { kind: 'exit', code: 0 });
    assert.equal(packageVersion(), PACKAGE.version);
  });
});

describe('colour: NO_COLOR, FORCE_COLOR, TERM=dumb, and only on a terminal', () => {
  const cases: readonly (readonly [boolean, NodeJS.ProcessEnv, number])[] = [
    [true, {}, 1],
    [true, { TERM: 'xterm-256color' }, 1],
    [true, { TERM: 'dumb' }, 0],
    [true, { FORCE_COLOR: '0' }, 0],
    [true, { FORCE_COLOR: 'false' }, 0],
    [true, { FORCE_COLOR: '0', TERM: 'xterm' }, 0],
    [true, { FORCE_COLOR: '1', TERM: 'dumb' }, 1],
    [true, { FORCE_COLOR: '', TERM: 'dumb' }, 1],
    [true, { FORCE_COLOR: 'true' }, 1],
    [true, { FORCE_COLOR: '2' }, 2],
    [true, { FORCE_COLOR: '3' }, 3],
    [true, { FORCE_COLOR: '9' }, 3],
    [true, { FORCE_COLOR: 'bogus' }, 1],
    [true, { FORCE_COLOR: 'bogus', TERM: 'dumb' }, 0],
    [true, { NO_COLOR: '', FORCE_COLOR: '1' }, 0],
    [true, { NO_COLOR: '1' }, 0],
    [false, {}, 0],
    [false, { FORCE_COLOR: '1' }, 0],
    [false, { FORCE_COLOR: '3' }, 0],
  ];
  for (const [isTTY, env, level] of cases) {
    test(`${isTTY ? 'terminal' : 'pipe'} ${JSON.stringify(env)}: level ${level}`, async () => {
      assert.equal(colorLevel(isTTY, env), level);
      const colorizer = await colorizerFor(isTTY, env);
      assert.equal(colorizer === null ? 0 : colorizer.level, level);
    });
  }
});

describe('sudo with a per-user Node', () => {
  test('node in a system directory: sudo tool', () => {
    for (const node of ['/usr/bin/node', '/usr/local/bin/node', '/bin/node', '/snap/bin/node']) assert.equal(sudoCommand('tcpstates', node), 'sudo tcpstates');
  });

  test('node of nvm, volta, fnm or a home directory: sudo env "PATH=$PATH" tool', () => {
    for (const node of ['/home/ann/.nvm/versions/node/v20.11.0/bin/node', '/root/.volta/tools/image/node/20.0.0/bin/node', '/opt/node-v20/bin/node']) {
      assert.equal(sudoCommand('tcplife', node), 'sudo env "PATH=$PATH" tcplife');
    }
  });

  test('the "needs root" message names that command', () => {
    const status = 'CapEff:\t0000000000000000\n';
    assert.throws(
      () => checkPrivileges('tcpstates', status, '/home/ann/.nvm/versions/node/v20.11.0/bin/node'),
      (error: unknown) => (error as Error & { hint?: string }).hint === 'run it as root (sudo env "PATH=$PATH" tcpstates), or grant CAP_BPF and CAP_PERFMON',
    );
  });
});

describe('the kernel BTF header check', () => {
  const real = readFileSync('/sys/kernel/btf/vmlinux');
  const header = real.subarray(0, 24);

  test('the running kernel\'s BTF is sound', () => {
    assert.equal(btfHeaderProblem(header, real.length), null);
  });

  test('empty, short, foreign and truncated files are named', () => {
    assert.equal(btfHeaderProblem(new Uint8Array(0), 0), 'the file is empty');
    assert.equal(btfHeaderProblem(header.subarray(0, 10), 10), 'the file is too short for BTF (10 bytes)');
    assert.equal(btfHeaderProblem(new Uint8Array(24).fill(0x41), 4096), 'it is not BTF data (bad magic)');
    assert.match(btfHeaderProblem(header, 1000) ?? '', /^it is truncated \(1000 bytes, the header says \d+\)$/);
    const zeroed = Uint8Array.from(header);
    zeroed.fill(0, 8);
    assert.equal(btfHeaderProblem(zeroed, real.length), 'its BTF header is invalid');
  });
});

describe('a name in the kernel BTF (the sk_data_ready feature check)', () => {
  test('whole names of the string section only; an unreadable or foreign file has none', (t) => {
    const dir = mkdtempSync(`${tmpdir()}/tcpstates-btf-`);
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = `${dir}/vmlinux`;
    writeFileSync(path, btfWith(['sock', 'btf_trace_sk_data_ready']));
    assert.equal(kernelBtfHasName(DATA_READY_TRACEPOINT_TYPE, path), true);
    assert.equal(kernelBtfHasName('btf_trace_sk_data_rea', path), false);
    assert.equal(kernelBtfHasName('ock', path), false);
    writeFileSync(path, btfWith(['sock']));
    assert.equal(kernelBtfHasName(DATA_READY_TRACEPOINT_TYPE, path), false);
    writeFileSync(path, btfWith(['sock', DATA_READY_TRACEPOINT_TYPE]).subarray(0, 40));
    assert.equal(kernelBtfHasName(DATA_READY_TRACEPOINT_TYPE, path), false, 'truncated');
    assert.equal(kernelBtfHasName(DATA_READY_TRACEPOINT_TYPE, `${dir}/missing`), false);
  });

  test('the running kernel has the tracepoint the tools attach to', () => {
    assert.equal(kernelBtfHasName('btf_trace_inet_sock_set_state'), true);
    assert.equal(kernelBtfHasName('btf_trace_tcpstates_no_such_tracepoint'), false);
  });
});
