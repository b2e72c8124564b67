// SPDX-License-Identifier: MIT
// The two quick-start commands' set-up, run for real with apt-get,
// systemctl and npm replaced by recorders on the PATH, and every build or
// test tool hidden (so that everything looks missing): scripts/setup asks
// apt for what running needs and nothing a test needs, and leaves an
// enabled `prometheus` unit alone (it never calls systemctl); scripts/
// setup-tests (npm test's pretest) asks for the test packages with a
// policy-rc.d in place that forbids every service start while apt runs,
// and puts back the one that was there before. No package is installed:
// the recorders only write down what they were asked.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { REPO_ROOT } from '../../harness/system.js';

/** What running needs: scripts/packages.sh run_packages_missing's names. */
const RUN_PACKAGES = ['clang', 'llvm', 'bpftool', 'make', 'libbpf-dev', 'libbpf1'];
/** Packages only the tests use. */
const TEST_PACKAGES = ['libbpf-tools', 'sudo', 'groff-base', 'man-db', 'prometheus', 'iproute2', 'iptables', 'systemd', 'gcc', 'python3'];

/** Real commands the scripts may use (the rest of the PATH is hidden). */
const KEPT = ['bash', 'sh', 'dirname', 'grep', 'cat', 'cp', 'mv', 'rm', 'chmod', 'id', 'printf', 'env'];

interface Sandbox {
  readonly dir: string;
  readonly path: string;
  readonly log: string;
  readonly policy: string;
  run(script: string, env?: Record<string, string>): { status: number | null; stderr: string; calls: string[] };
  /** `bash -c CODE` in the repository, packages.sh sourced, under the scripts' own `set -euo pipefail`. */
  source(code: string): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };
  remove(): void;
}

function sandbox(): Sandbox {
  const dir = mkdtempSync(`${tmpdir()}/tcpstates-setup-`);
  const bin = `${dir}/bin`;
  mkdirSync(bin);
  const log = `${dir}/calls`;
  const policy = `${dir}/policy-rc.d`;
  for (const name of KEPT) {
    const which = spawnSync('bash', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
    if (which.startsWith('/')) symlinkSync(which, `${bin}/${name}`);
  }
  // The recorders: each writes its argv as one line. apt-get also writes
  // whether a policy forbids service starts while it runs (invoke-rc.d's
  // contract: the policy exits 101). systemctl says every unit is enabled,
  // as the user's Prometheus is.
  const recorder = (name: string, extra = '') =>
    writeFileSync(`${bin}/${name}`, `#!/bin/bash\necho "${name} $*" >> '${log}'\n${extra}exit 0\n`, { mode: 0o755 });
  recorder('apt-get', `if [ "$1" = install ]; then if [ -x '${policy}' ]; then '${policy}' x start; echo "policy-rc.d exit $?" >> '${log}'; else echo "policy-rc.d none" >> '${log}'; fi; fi\n`);
  recorder('systemctl');
  recorder('npm');
  recorder('ldconfig');
  // scripts/install-man's: the pages are not installed for real.
  recorder('install');
  recorder('mandb');
  chmodSync(bin, 0o755);
  return {
    dir,
    path: bin,
    log,
    policy,
    run(script, env = {}) {
      rmSync(log, { force: true });
      const result = spawnSync(`${REPO_ROOT}scripts/${script}`, [], {
        encoding: 'utf8',
        env: { PATH: bin, HOME: dir, TCPSTATES_POLICY_RC_D: policy, ...env },
      });
      const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
      return { status: result.status, stderr: result.stderr, calls };
    },
    source(code) {
      const result = spawnSync('bash', ['-c', `set -euo pipefail; . scripts/packages.sh; ${code}`], {
        encoding: 'utf8',
        cwd: REPO_ROOT,
        env: { PATH: bin, HOME: dir, TCPSTATES_POLICY_RC_D: policy },
      });
      return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The packages of the `apt-get install` calls in `calls`. */
function installed(calls: readonly string[]): string[] {
  return calls
    .filter((call) => call.startsWith('apt-get install '))
    .flatMap((call) => call.split(' ').slice(2))
    .filter((word) => !word.startsWith('-'));
}

test('a library in the linker cache is found, however long the cache: no SIGPIPE under pipefail', (t) => {
  // ldconfig -p lists libbpf.so.1 first, then 256 KiB more (a real cache
  // is 45 kB): piped into `grep -q`, which exits at the first line, the
  // rest would meet a closed pipe and the check report libbpf1 missing.
  const box = sandbox();
  t.after(box.remove);
  const cache = `${box.dir}/ld.so.cache.txt`;
  writeFileSync(cache, `${'\tlibfoo.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libfoo.so.1\n'.repeat(4096)}`);
  writeFileSync(`${box.path}/ldconfig`, `#!/bin/bash\nprintf '\\tlibbpf.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libbpf.so.1\\n'\ncat '${cache}'\n`, { mode: 0o755 });
  for (let i = 0; i < 20; i++) {
    const found = box.source('has_library libbpf.so.1 && echo found');
    assert.deepEqual({ status: found.status, stdout: found.stdout }, { status: 0, stdout: 'found\n' }, found.stderr);
  }
  const missing = box.source('has_library libbpf.so.2 || echo missing');
  assert.equal(missing.stdout, 'missing\n');
  assert.ok(!box.source('run_packages_missing').stdout.split('\n').includes('libbpf1'));
});

describe('set-up', { skip: process.getuid?.() !== 0 ? 'needs root (the scripts install only as root)' : false }, () => {
  test('scripts/setup: what running needs, no test package, no systemctl call (an enabled prometheus unit is left alone)', (t) => {
    const box = sandbox();
    t.after(box.remove);
    const { status, stderr, calls } = box.run('setup');
    assert.equal(status, 0, stderr);
    const packages = installed(calls);
    assert.deepEqual(packages, RUN_PACKAGES);
    for (const name of TEST_PACKAGES) assert.ok(!packages.includes(name), `setup installs no ${name}`);
    assert.deepEqual(calls.filter((call) => call.startsWith('systemctl')), []);
    // npm ci, then the build, then the man pages.
    assert.deepEqual(calls.filter((call) => call.startsWith('npm ')).map((call) => call.split(' ')[1]), ['ci', 'run']);
    assert.ok(calls.includes('install -m 644 man/tcpstates.8 man/tcplife.8 /usr/local/share/man/man8/'), calls.join('\n'));
    assert.ok(!existsSync(box.policy), 'no policy-rc.d left behind');
  });

  test('scripts/setup-tests: the test packages, with every service start forbidden while apt runs; a policy that was there is put back', (t) => {
    const box = sandbox();
    t.after(box.remove);
    const fresh = box.run('setup-tests');
    assert.equal(fresh.status, 0, fresh.stderr);
    const packages = installed(fresh.calls);
    for (const name of TEST_PACKAGES) assert.ok(packages.includes(name), `setup-tests installs ${name} when missing`);
    assert.ok(fresh.calls.includes('policy-rc.d exit 101'), fresh.calls.join('\n'));
    assert.deepEqual(fresh.calls.filter((call) => call.startsWith('systemctl')), []);
    assert.ok(!existsSync(box.policy), 'the policy is removed after the install');

    // A machine with a policy of its own (a container image's): it is back after.
    const own = '#!/bin/sh\nexit 0\n';
    writeFileSync(box.policy, own, { mode: 0o755 });
    const again = box.run('setup-tests');
    assert.equal(again.status, 0, again.stderr);
    assert.ok(again.calls.includes('policy-rc.d exit 101'));
    assert.equal(readFileSync(box.policy, 'utf8'), own);
  });

  test('scripts/setup-tests with a policy-rc.d that is a symlink: never written through, the link itself put back', (t) => {
    const box = sandbox();
    t.after(box.remove);
    const target = `${box.dir}/their-policy`;
    const theirs = '#!/bin/sh\n# the image\'s own\nexit 0\n';
    writeFileSync(target, theirs, { mode: 0o750 });
    symlinkSync(target, box.policy);
    const run = box.run('setup-tests');
    assert.equal(run.status, 0, run.stderr);
    assert.ok(run.calls.includes('policy-rc.d exit 101'), run.calls.join('\n'));
    assert.ok(lstatSync(box.policy).isSymbolicLink(), 'still a symlink');
    assert.equal(readlinkSync(box.policy), target);
    assert.equal(readFileSync(target, 'utf8'), theirs, 'its target untouched');
    assert.equal(lstatSync(target).mode & 0o7777, 0o750);
    assert.deepEqual(readdirSync(box.dir).filter((name) => name.startsWith('policy-rc.d')), ['policy-rc.d'], 'nothing left beside it');

    // A dangling link comes back dangling.
    rmSync(target);
    const dangling = box.run('setup-tests');
    assert.equal(dangling.status, 0, dangling.stderr);
    assert.ok(dangling.calls.includes('policy-rc.d exit 101'));
    assert.equal(readlinkSync(box.policy), target);
    assert.ok(!existsSync(target));
  });

  test('scripts/setup-tests after a run killed mid-install: the user\'s policy comes back, a leftover of ours goes', (t) => {
    const box = sandbox();
    t.after(box.remove);
    const killedDuringInstall = () => {
      const killed = box.source(`apt-get() { [ "$1" != install ] || kill -KILL $$; }; apt_install setup-tests tmux`);
      assert.equal(killed.signal, 'SIGKILL');
      assert.match(readFileSync(box.policy, 'utf8'), /exit 101/);
    };
    // With a policy of the user's: set aside, and ours in its place, when killed.
    const own = '#!/bin/sh\nexit 0\n';
    writeFileSync(box.policy, own, { mode: 0o755 });
    killedDuringInstall();
    assert.equal(readFileSync(`${box.policy}.tcpstates-saved`, 'utf8'), own);
    const next = box.run('setup-tests');
    assert.equal(next.status, 0, next.stderr);
    assert.ok(next.calls.includes('policy-rc.d exit 101'));
    assert.equal(readFileSync(box.policy, 'utf8'), own);
    assert.ok(!existsSync(`${box.policy}.tcpstates-saved`));
    // Without one: ours, left behind, is removed by the next run.
    rmSync(box.policy);
    killedDuringInstall();
    const after = box.run('setup-tests');
    assert.equal(after.status, 0, after.stderr);
    assert.ok(!existsSync(box.policy));
  });

  test('scripts/setup-tests when apt fails: the policy is put back all the same, and the failure is the exit code', (t) => {
    const box = sandbox();
    t.after(box.remove);
    writeFileSync(`${box.path}/apt-get`, '#!/bin/bash\nexit 100\n', { mode: 0o755 });
    const failed = box.run('setup-tests');
    assert.equal(failed.status, 100);
    assert.ok(!existsSync(box.policy));
  });
});
