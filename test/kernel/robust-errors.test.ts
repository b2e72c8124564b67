// SPDX-License-Identifier: MIT
// What a user sees when the machine cannot run the tracer: no privileges,
// no BTF, no libbpf, no tracepoint, a verifier rejection. Each is produced
// for real (setpriv, a private mount namespace, a broken BPF object through
// the loader's own code path) and must give its exact message, exit 1, and
// leave nothing loaded.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { constants } from 'node:os';
import { explainLoadFailure, KERNEL_FEATURES, KERNEL_FLOOR, probeKernelFeatures } from '../../src/bpf/features.js';
import { openTrace } from '../../src/bpf/loader.js';
import type { SizedTraceConfig } from '../../src/bpf/config.js';
import { formatError } from '../../src/cli/main.js';
import { BpfError, PreflightError, VerifierError } from '../../src/errors.js';
import { bindLibbpf } from '../../src/ffi/libbpf.js';
import { testAddress, testPort } from '../../harness/loopback.js';
import { TOOLS } from '../../harness/rows.js';
import { make } from '../../harness/build.js';
import { binPath, bpfObjectsOf, requireRoot } from '../../harness/system.js';
import { TracerProcess, runTracerToExit, traceConnections } from '../../harness/tracer-process.js';

requireRoot();

/** test/fixtures/<name>.bpf.c, built by make: the real object with its
 * handle_set_state replaced (or the probe object with probes no kernel
 * has), for the tests that feed the loader a
 * deliberately broken program. */
function fixtureObject(name: string): string {
  return make(`dist/test/fixtures/${name}.bpf.o`)[0]!;
}

/**
 * setpriv as an unprivileged user, like nobody but a uid of this run's own:
 * the kernel's allowance of locked memory for perf rings is per user
 * (perf_event_mlock_kb), so a tracer that another run (another checkout's
 * tests, a user) has running as nobody would use it up and make ours fail
 * with EPERM. CAP_DAC_READ_SEARCH only lets it read the checkout wherever it
 * is (CI may clone under /root); it grants nothing for BPF, which needs
 * CAP_BPF+CAP_PERFMON or CAP_SYS_ADMIN.
 */
const UNPRIVILEGED_UID = 200_000 + (process.pid % 100_000);
const AS_NOBODY = ['setpriv', `--reuid=${UNPRIVILEGED_UID}`, '--regid=nogroup', '--clear-groups'];
const readAnywhere = (caps: string[] = []) => {
  const list = ['+dac_read_search', ...caps.map((cap) => `+${cap}`)].join(',');
  return [`--inh-caps=${list}`, `--ambient-caps=${list}`];
};

const NOT_PERMITTED = (tool: string) =>
  `${tool}: not permitted: loading eBPF programs needs root, or the CAP_BPF and CAP_PERFMON capabilities\n` +
  `${tool}: run it as root (sudo ${tool}), or grant CAP_BPF and CAP_PERFMON\n`;

async function runAs(wrapper: readonly string[], tool: string, args: readonly string[] = []) {
  const result = await runTracerToExit(args, process.env, 20_000, { tool, wrapper });
  return { status: result.code, stdout: result.stdoutText, stderr: result.stderrText };
}

/** Runs `script` (fixed text, no user input) in a private mount namespace:
 * mounts made there vanish with it. $NODE and $BIN are the tool to run. */
function inMountNamespace(script: string, tool: string) {
  const result = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec', script], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, NODE: process.execPath, BIN: binPath(tool) },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function libbpfPath(): string {
  const line = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' })
    .stdout.split('\n')
    .find((entry) => entry.trim().startsWith('libbpf.so.1 ('));
  const path = line?.split(' => ')[1]?.trim();
  if (path === undefined) throw new Error('libbpf.so.1 not in the ld.so cache');
  return path;
}

const TRANSITIONS: SizedTraceConfig = { mode: 'transitions', localPorts: null, remotePorts: null, family: 0, pids: null, netnsIno: null, cgroup: null, bufferPages: 8 };

for (const tool of TOOLS) {
  describe(`${tool.name}: privileges`, () => {
    test('as nobody: says it needs root or CAP_BPF+CAP_PERFMON, exit 1', async () => {
      const result = await runAs([...AS_NOBODY, ...readAnywhere()], tool.name);
      assert.deepEqual(result, { status: 1, stdout: '', stderr: NOT_PERMITTED(tool.name) });
    });

    test('as root without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN: the same', async () => {
      const result = await runAs(['setpriv', '--inh-caps=-all', '--bounding-set=-bpf,-perfmon,-sys_admin'], tool.name);
      assert.deepEqual(result, { status: 1, stdout: '', stderr: NOT_PERMITTED(tool.name) });
    });

    test('with CAP_BPF and CAP_PERFMON but rings past RLIMIT_MEMLOCK: says to lift it or use smaller rings, exit 1', async () => {
      // No CAP_IPC_LOCK, a 1 MiB limit (lowering it needs no privilege), 16 MiB per CPU asked for.
      const result = await runAs(['prlimit', '--memlock=1048576', 'setpriv', '--inh-caps=-all', '--bounding-set=-all,+bpf,+perfmon'], tool.name, [
        '--buffer-pages',
        '4096',
      ]);
      assert.deepEqual(result, {
        status: 1,
        stdout: '',
        stderr:
          `${tool.name}: failed to create perf buffer (4096 pages per CPU): EPERM\n` +
          `${tool.name}: the perf rings need more locked memory than RLIMIT_MEMLOCK allows: lift it (ulimit -l unlimited, LimitMEMLOCK=infinity, docker run --ulimit memlock=-1), run as root, or use smaller rings (--buffer-pages)\n`,
      });
    });

    test('as nobody with only CAP_BPF and CAP_PERFMON: traces (the advice is right)', async () => {
      const capped = (args: readonly string[]) => spawnTracerAs([...AS_NOBODY, ...readAnywhere(['bpf', 'perfmon'])], tool.name, args);
      const { code, stderr } = await traceConnections(tool, testAddress(11), testPort(11), capped, 2);
      assert.equal(code, 0, stderr);
      assert.match(stderr, new RegExp(`^${tool.name}: \\d+ events read, 0 lost\\n$`, 'm'));
    });
  });

  describe(`${tool.name}: missing kernel and library support`, () => {
    test('kernel without BTF: names CONFIG_DEBUG_INFO_BTF, exit 1', () => {
      // An empty tmpfs over /sys/kernel/btf, seen by this namespace only.
      const result = inMountNamespace('mount -t tmpfs none /sys/kernel/btf; exec "$NODE" "$BIN"', tool.name);
      assert.deepEqual(result, {
        status: 1,
        stdout: '',
        stderr:
          `${tool.name}: kernel BTF not found at /sys/kernel/btf/vmlinux: the kernel was built without BTF type information\n` +
          `${tool.name}: this needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (the default in most distributions since Linux 5.4)\n`,
      });
    });

    test('libbpf.so.1 missing: names the package, exit 1', () => {
      // /dev/null over the library, seen by this namespace only: dlopen fails.
      const result = inMountNamespace(`mount --bind /dev/null '${libbpfPath()}'; exec "$NODE" "$BIN"`, tool.name);
      assert.deepEqual(result, {
        status: 1,
        stdout: '',
        stderr:
          `${tool.name}: cannot load libbpf.so.1: the libbpf shared library (version 1.x) is missing\n` +
          `${tool.name}: install it: apt-get install libbpf1 (Debian/Ubuntu), dnf install libbpf (Fedora) or apk add libbpf (Alpine)\n`,
      });
    });
  });
}

for (const tool of TOOLS) {
  describe(`${tool.name}: start-up errors name their real cause, in one line`, () => {
    test('as nobody with --metrics: "not permitted" and nothing served or printed before it, exit 1', async () => {
      const result = await runAs([...AS_NOBODY, ...readAnywhere()], tool.name, ['--metrics', '0']);
      assert.deepEqual(result, { status: 1, stdout: '', stderr: NOT_PERMITTED(tool.name) });
    });

    test('under ulimit -n 19: the descriptor limit, exit 1', async () => {
      const result = await runTracerToExit([], process.env, 20_000, { tool: tool.name, exec: true, wrapper: ['prlimit', '--nofile=19'] });
      assert.deepEqual({ code: result.code, stdout: result.stdoutText, stderr: result.stderrText }, {
        code: 1,
        stdout: '',
        stderr: `${tool.name}: too few file descriptors (ulimit -n 19): Node and the tracer need 48 or more: raise the limit, e.g. ulimit -n 1024\n`,
      });
    });

    test('under ulimit -v 900000: the address-space limit, not "libbpf.so.1 is missing" nor BTF, exit 1', async () => {
      const result = await runTracerToExit([], process.env, 20_000, { tool: tool.name, exec: true, wrapper: ['prlimit', `--as=${900_000 * 1024}`] });
      assert.deepEqual({ code: result.code, stdout: result.stdoutText, stderr: result.stderrText }, {
        code: 1,
        stdout: '',
        stderr: `${tool.name}: the address-space limit (ulimit -v 900000 KiB) is below the 1 GiB that Node and libbpf need: lift it (ulimit -v unlimited)\n`,
      });
    });

    test('-N: not a network namespace (by the kernel\'s type) or no live one: one line, exit 2; one this user may not open: exit 1', async () => {
      for (const [args, code, line] of [
        [['-N', '/proc/self/ns/uts'], 2, '-N/--netns: "/proc/self/ns/uts" is a uts namespace, not a network namespace'],
        [['-N', String(process.pid)], 2, `-N/--netns: no network namespace has inode ${process.pid} (none of /proc/*/ns/net or /run/netns/* that this user can see)`],
        [['-N', '/etc/hostname'], 2, '-N/--netns: "/etc/hostname" is not a namespace file (such as /proc/PID/ns/net or /run/netns/NAME)'],
        [['-N', `/x\n\x1b[2J${'y'.repeat(120_000)}`], 2, `-N/--netns: cannot open namespace "/x\\n\\u001b[2J${'y'.repeat(33)}..." (120007 characters): ENAMETOOLONG`],
      ] as const) {
        const result = await runTracerToExit(args, process.env, 20_000, { tool: tool.name });
        assert.equal(result.code, code, result.stderrText);
        assert.equal(result.stderrText.split('\n')[0], `${tool.name}: ${line}`);
        assert.ok(result.stderrText.length < 400 && !/[\u0000-\u0009\u000b-\u001f]/.test(result.stderrText), result.stderrText.slice(0, 400));
      }
      const denied = await runAs([...AS_NOBODY, ...readAnywhere()], tool.name, ['-N', '/proc/1/ns/net']);
      assert.equal(denied.status, 1, denied.stderr);
      assert.match(denied.stderr, new RegExp(`^${tool.name}: -N/--netns: cannot open namespace "/proc/1/ns/net": EACCES\n`));
    });
  });
}

function spawnTracerAs(wrapper: readonly string[], tool: string, args: readonly string[]) {
  return TracerProcess.start(args, process.env, { tool, wrapper });
}

describe('the loader on broken objects', () => {
  test('bindLibbpf with a library that is not there: PreflightError naming the package', () => {
    assert.throws(
      () => bindLibbpf('libbpf.so.0-robust-test-missing'),
      (error: unknown) =>
        error instanceof PreflightError &&
        error.message === 'cannot load libbpf.so.0-robust-test-missing: the libbpf shared library (version 1.x) is missing' &&
        error.hint === 'install it: apt-get install libbpf1 (Debian/Ubuntu), dnf install libbpf (Fedora) or apk add libbpf (Alpine)' &&
        error.exitCode === 1,
    );
  });

  test('a verifier rejection: the last lines in the message, the whole log with --verbose, nothing left loaded', () => {
    const objectPath = fixtureObject('verifier-rejected');
    const libbpfLines: string[] = [];
    let caught: unknown;
    try {
      openTrace(bindLibbpf(), TRANSITIONS, { objectPath, onLibbpfMessage: (line) => libbpfLines.push(line) });
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof VerifierError, `got ${String(caught)}`);
    const error = caught;
    const messageLines = error.message.split('\n');
    assert.equal(messageLines[0], 'failed to load BPF program handle_set_state: EACCES');
    assert.equal(messageLines.length, 4);
    assert.match(messageLines[1]!, /^ {2}verifier: ; return ctx\[1000\] \+ sum; @ verifier-rejected\.bpf\.c:\d+$/);
    assert.match(messageLines[2]!, /^ {2}verifier: \d+: \(79\) r\d = \*\(u64 \*\)\(r\d \+8000\)$/);
    assert.equal(messageLines[3], '  verifier: invalid bpf_context access off=8000 size=8');
    assert.equal(error.hint, 'the kernel verifier rejected the program; rerun with --verbose for the whole log');
    assert.equal(error.exitCode, 1);

    // The whole log, from the first instruction to the summary line: far
    // more than libbpf's print path would carry.
    const log = error.verifierLog;
    assert.equal(log[0], '0: R1=ctx() R10=fp0');
    assert.match(log.at(-1)!, /^processed \d+ insns \(limit 1000000\)/);
    assert.ok(log.join('\n').length > 64 * 1024, `log is ${log.join('\n').length} bytes`);
    // It is not also streamed through libbpf's messages (no double printing).
    assert.ok(!libbpfLines.some((line) => line.includes('BEGIN PROG LOAD LOG')));
    assert.ok(libbpfLines.includes("libbpf: prog 'handle_set_state': BPF program load failed: Permission denied"));

    const quiet = formatError('tcpstates', error, false).join('\n').split('\n');
    assert.deepEqual(quiet, [
      'tcpstates: failed to load BPF program handle_set_state: EACCES',
      ...messageLines.slice(1),
      'tcpstates: the kernel verifier rejected the program; rerun with --verbose for the whole log',
    ]);
    const verbose = formatError('tcpstates', error, true).join('\n').split('\n');
    assert.deepEqual(verbose, [...log.map((line) => `verifier: ${line}`), ...quiet]);

    const left = bpfObjectsOf(process.pid);
    assert.deepEqual({ progs: left.progs.length, links: left.links.length, maps: left.maps.length }, { progs: 0, links: 0, maps: 0 });
  });

  test('a kernel without the tracepoint: the attach step names it and the kernel option, nothing left loaded', () => {
    const objectPath = fixtureObject('missing-tracepoint');
    assert.throws(
      () => openTrace(bindLibbpf(), TRANSITIONS, { objectPath }),
      (error: unknown) =>
        error instanceof BpfError &&
        !(error instanceof VerifierError) &&
        error.message === 'failed to attach raw tracepoint: ENOENT' &&
        error.hint === `the kernel lacks the sock:inet_sock_set_state tracepoint (CONFIG_BPF_EVENTS=y): the tools need ${KERNEL_FLOOR}`,
    );
    const left = bpfObjectsOf(process.pid);
    assert.deepEqual({ progs: left.progs.length, links: left.links.length, maps: left.maps.length }, { progs: 0, links: 0, maps: 0 });
  });

  test('the kernel floor by feature: this kernel has every one, each probe loaded alone, nothing left loaded', () => {
    const probes = probeKernelFeatures(bindLibbpf());
    assert.deepEqual(
      probes.map((probe) => [probe.feature.program, probe.errno]),
      KERNEL_FEATURES.map((feature) => [feature.program, 0]),
    );
    const left = bpfObjectsOf(process.pid);
    assert.deepEqual({ progs: left.progs.length, links: left.links.length, maps: left.maps.length }, { progs: 0, links: 0, maps: 0 });
    // The kernel has everything: a failed load is explained by its own error.
    const failure = new BpfError('load', 'BPF object', constants.errno.EINVAL);
    assert.equal(explainLoadFailure(failure, bindLibbpf()), failure);
  });

  test('a kernel without some features: a failed load names exactly those, with the floor', () => {
    const objectPath = fixtureObject('missing-features');
    const failure = new BpfError('load', 'BPF object', constants.errno.EINVAL);
    const explained = explainLoadFailure(failure, bindLibbpf(), objectPath);
    assert.ok(explained instanceof PreflightError);
    assert.equal(
      explained.message,
      'this kernel lacks what the tools need: socket cookies from tracing programs (bpf_get_socket_cookie), mainline 5.12; the TCP socket iterator (iter/tcp), mainline 5.9',
    );
    assert.equal(explained.hint, `the tools need ${KERNEL_FLOOR}`);
    assert.equal(explained.cause, failure);
    // Privileges are not a feature: EPERM is left as it is.
    const denied = new BpfError('load', 'BPF object', constants.errno.EPERM);
    assert.equal(explainLoadFailure(denied, bindLibbpf(), objectPath), denied);
    const left = bpfObjectsOf(process.pid);
    assert.deepEqual({ progs: left.progs.length, links: left.links.length, maps: left.maps.length }, { progs: 0, links: 0, maps: 0 });
  });
});
