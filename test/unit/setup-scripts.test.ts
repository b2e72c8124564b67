// SPDX-License-Identifier: MIT
// The two quick-start commands' set-up, run for real with apt-get,
// systemctl and npm replaced by recorders on the PATH, every build or test
// tool hidden (so that everything looks missing), and a directory standing
// for / (TCPSTATES_ROOT: its policy-rc.d and /etc/systemd/system).
// scripts/setup asks apt for what running needs and nothing a test needs;
// scripts/setup-tests (npm test's pretest) asks for the test packages with
// a policy-rc.d in place that forbids every service start while apt runs,
// puts back the one that was there before, and disables at boot the units
// the install enabled (the fake apt-get makes the links Debian's
// maintainer scripts make), leaving the user's enabled units alone. Both
// ask apt for no recommended package. No package is installed: the
// recorders only write down what they were asked.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { REPO_ROOT } from '../../harness/system.js';

/** What running needs: scripts/packages.sh run_packages_missing's names. */
const RUN_PACKAGES = ['clang', 'llvm', 'bpftool', 'make', 'libbpf-dev', 'libbpf1'];
/** Packages only the tests use. */
const TEST_PACKAGES = [
  'libbpf-tools', 'sudo', 'groff-base', 'man-db', 'prometheus', 'iproute2', 'iptables', 'systemd', 'gcc', 'libc6-dev', 'python3',
  'redis-server', 'postgresql', 'tmux', 'procps',
];

/** Real commands the scripts may use (the rest of the PATH is hidden). */
const KEPT = ['bash', 'sh', 'dirname', 'grep', 'cat', 'cp', 'mv', 'rm', 'chmod', 'id', 'printf', 'env', 'readlink'];

/** The host's ln (for the fake apt-get; the scripts' PATH has none). */
const LN = spawnSync('bash', ['-c', 'command -v ln'], { encoding: 'utf8' }).stdout.trim();

/** The host's systemctl, if any. */
const systemctlPath = spawnSync('bash', ['-c', 'command -v systemctl'], { encoding: 'utf8' }).stdout.trim();

/**
 * The enablement links Debian's maintainer scripts make (deb-systemd-helper
 * enable) when each package is installed, relative to /etc/systemd/system,
 * with their targets: the three test packages whose services are enabled
 * at boot on install.
 */
const ENABLED_ON_INSTALL: Record<string, [string, string][]> = {
  prometheus: [['multi-user.target.wants/prometheus.service', '/lib/systemd/system/prometheus.service']],
  'redis-server': [
    ['multi-user.target.wants/redis-server.service', '/lib/systemd/system/redis-server.service'],
    ['redis.service', '/lib/systemd/system/redis-server.service'],
  ],
  postgresql: [['multi-user.target.wants/postgresql.service', '/lib/systemd/system/postgresql.service']],
};

/** The user's own: an enabled unit with an alias, and a mask. */
const USERS_LINKS: [string, string][] = [
  ['multi-user.target.wants/ssh.service', '/lib/systemd/system/ssh.service'],
  ['sshd.service', '/lib/systemd/system/ssh.service'],
  ['systemd-timesyncd.service', '/dev/null'],
];

interface Run {
  status: number | null;
  stderr: string;
  calls: string[];
}

interface Sandbox {
  readonly dir: string;
  readonly path: string;
  readonly log: string;
  /** The directory standing for /. */
  readonly root: string;
  /** Its /etc/systemd/system. */
  readonly units: string;
  readonly policy: string;
  run(script: string, env?: Record<string, string>): Run;
  /** `bash -c CODE` in the repository, packages.sh sourced, under the scripts' own `set -euo pipefail`. */
  source(code: string): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };
  /** The symlinks under /etc/systemd/system (relative), with their targets. */
  links(): Record<string, string>;
  remove(): void;
}

function sandbox(enabledOnInstall = ENABLED_ON_INSTALL): Sandbox {
  const dir = mkdtempSync(`${tmpdir()}/tcpstates-setup-`);
  const bin = `${dir}/bin`;
  mkdirSync(bin);
  const log = `${dir}/calls`;
  const root = `${dir}/root`;
  const units = `${root}/etc/systemd/system`;
  const policy = `${root}/usr/sbin/policy-rc.d`;
  mkdirSync(`${root}/usr/sbin`, { recursive: true });
  mkdirSync(`${units}/multi-user.target.wants`, { recursive: true });
  for (const [link, target] of USERS_LINKS) symlinkSync(target, `${units}/${link}`);
  for (const name of KEPT) {
    const which = spawnSync('bash', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
    if (which.startsWith('/')) symlinkSync(which, `${bin}/${name}`);
  }
  // What the fake apt-get enables, per package: files of "link target" lines.
  const enables = `${dir}/enables`;
  mkdirSync(enables);
  for (const [name, links] of Object.entries(enabledOnInstall)) {
    writeFileSync(`${enables}/${name}`, links.map(([link, target]) => `${link} ${target}\n`).join(''));
  }
  // The recorders: each writes its argv as one line. apt-get also writes
  // whether a policy forbids service starts while it runs (invoke-rc.d's
  // contract: the policy exits 101), then enables what the packages it
  // installs would (a link that is already there stays as it is).
  const recorder = (name: string, extra = '') =>
    writeFileSync(`${bin}/${name}`, `#!/bin/bash\necho "${name} $*" >> '${log}'\n${extra}exit 0\n`, { mode: 0o755 });
  recorder(
    'apt-get',
    `if [ "$1" = install ]; then if [ -x '${policy}' ]; then '${policy}' x start; echo "policy-rc.d exit $?" >> '${log}'; else echo "policy-rc.d none" >> '${log}'; fi\n` +
      `for package in "$@"; do [ -f '${enables}'/"$package" ] || continue; while read -r link target; do [ -L '${units}'/"$link" ] || ${LN} -s "$target" '${units}'/"$link"; done < '${enables}'/"$package"; done; fi\n`,
  );
  recorder('systemctl');
  recorder('npm');
  // A supported Node.js (scripts/setup asks it its version).
  writeFileSync(`${bin}/node`, '#!/bin/bash\necho 22.11.0\n', { mode: 0o755 });
  recorder('ldconfig');
  // scripts/install-man's: the pages are not installed for real.
  recorder('install');
  recorder('mandb');
  chmodSync(bin, 0o755);
  const env = { PATH: bin, HOME: dir, TCPSTATES_ROOT: root };
  return {
    dir,
    path: bin,
    log,
    root,
    units,
    policy,
    run(script, extra = {}) {
      rmSync(log, { force: true });
      const result = spawnSync(`${REPO_ROOT}scripts/${script}`, [], { encoding: 'utf8', env: { ...env, ...extra } });
      const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
      return { status: result.status, stderr: result.stderr, calls };
    },
    source(code) {
      const result = spawnSync('bash', ['-c', `set -euo pipefail; . scripts/packages.sh; ${code}`], { encoding: 'utf8', cwd: REPO_ROOT, env });
      return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
    },
    links() {
      const found: Record<string, string> = {};
      for (const entry of readdirSync(units, { recursive: true, withFileTypes: true })) {
        const path = `${entry.parentPath}/${entry.name}`;
        if (entry.isSymbolicLink()) found[path.slice(units.length + 1)] = readlinkSync(path);
      }
      return found;
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

test('scripts/setup without a supported Node.js or npm: one line saying what to do, exit 1, before anything else (root or not)', (t) => {
  const box = sandbox();
  t.after(box.remove);
  const cases: [string, () => void, RegExp][] = [
    ['no node', () => rmSync(`${box.path}/node`), /found no node on the PATH/],
    ['Debian 12\'s node', () => writeFileSync(`${box.path}/node`, '#!/bin/bash\necho 18.19.0\n', { mode: 0o755 }), /found Node\.js 18\.19\.0:/],
    ['a node without npm', () => {
      writeFileSync(`${box.path}/node`, '#!/bin/bash\necho 24.1.0\n', { mode: 0o755 });
      rmSync(`${box.path}/npm`);
    }, /found Node\.js 24\.1\.0 but no npm/],
  ];
  for (const [name, make, found] of cases) {
    make();
    const run = box.run('setup');
    assert.equal(run.status, 1, name);
    assert.deepEqual(run.calls, [], `${name}: nothing ran`);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, /^setup: needs Node\.js 20 or later with npm, /);
    assert.match(lines[0]!, found);
    assert.match(lines[0]!, /install Node\.js 22 or 24 /);
    assert.ok(!existsSync(box.policy));
  }
});

test('scripts/install-man, then --remove: the pages as plain files, then gone; the npm package\'s links left alone both ways', (t) => {
  // npm install -g links the package's pages into MANDIR/man8 and refuses
  // to replace files there (EEXIST): README's install removes scripts/
  // setup's copies first with --remove, which must never take npm's links.
  const dir = mkdtempSync(`${tmpdir()}/tcpstates-man-`);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const man8 = `${dir}/man8`;
  const installMan = (...args: string[]) => spawnSync(`${REPO_ROOT}scripts/install-man`, [...args, dir], { encoding: 'utf8' });
  const pages = ['tcpstates.8', 'tcplife.8'];

  assert.equal(installMan().status, 0);
  for (const page of pages) {
    assert.ok(lstatSync(`${man8}/${page}`).isFile(), page);
    assert.equal(readFileSync(`${man8}/${page}`, 'utf8'), readFileSync(`${REPO_ROOT}man/${page}`, 'utf8'));
  }
  const removed = installMan('--remove');
  assert.equal(removed.status, 0, removed.stderr);
  assert.deepEqual(readdirSync(man8), []);
  assert.equal(installMan('--remove').status, 0, 'nothing to remove is fine');

  // The package's links (npm's, relative, into its folder).
  const packageMan = `${dir}/lib/node_modules/tcpstates/man`;
  mkdirSync(packageMan, { recursive: true });
  for (const page of pages) {
    writeFileSync(`${packageMan}/${page}`, 'the package\'s page\n');
    symlinkSync(`../lib/node_modules/tcpstates/man/${page}`, `${man8}/${page}`);
  }
  const links = () => pages.map((page) => [lstatSync(`${man8}/${page}`).isSymbolicLink(), readFileSync(`${man8}/${page}`, 'utf8')]);
  const before = links();
  const installed = installMan();
  assert.equal(installed.status, 0, installed.stderr);
  assert.match(installed.stderr, /tcpstates\.8 is a link \(the npm package's page\): left as it is/);
  assert.deepEqual(links(), before);
  assert.equal(installMan('--remove').status, 0);
  assert.deepEqual(links(), before);
  assert.deepEqual(before.map(([link]) => link), [true, true]);
});

/** The user's links, as USERS_LINKS makes them. */
const USERS = Object.fromEntries(USERS_LINKS);

/** The units the fake install enables. */
const NEW_UNITS = ['redis-server.service', 'postgresql.service', 'prometheus.service'];

describe('set-up', { skip: process.getuid?.() !== 0 ? 'needs root (the scripts install only as root)' : false }, () => {
  test('scripts/setup: what running needs and none of its recommends, no test package, no systemctl call, the user\'s units untouched', (t) => {
    const box = sandbox();
    t.after(box.remove);
    const { status, stderr, calls } = box.run('setup');
    assert.equal(status, 0, stderr);
    const packages = installed(calls);
    assert.deepEqual(packages, RUN_PACKAGES);
    assert.deepEqual(calls.filter((call) => call.startsWith('apt-get install ')), [`apt-get install -y -qq --no-install-recommends ${RUN_PACKAGES.join(' ')}`]);
    for (const name of TEST_PACKAGES) assert.ok(!packages.includes(name), `setup installs no ${name}`);
    assert.deepEqual(calls.filter((call) => call.startsWith('systemctl')), []);
    assert.deepEqual(box.links(), USERS);
    // npm ci, then the build, then the man pages.
    assert.deepEqual(calls.filter((call) => call.startsWith('npm ')).map((call) => call.split(' ')[1]), ['ci', 'run']);
    assert.ok(calls.includes('install -m 644 man/tcpstates.8 man/tcplife.8 /usr/local/share/man/man8/'), calls.join('\n'));
    assert.ok(!existsSync(box.policy), 'no policy-rc.d left behind');
  });

  test('scripts/setup-tests: the test packages without their recommends, every service start forbidden while apt runs; a policy that was there is put back', (t) => {
    const box = sandbox();
    t.after(box.remove);
    const fresh = box.run('setup-tests');
    assert.equal(fresh.status, 0, fresh.stderr);
    const packages = installed(fresh.calls);
    for (const name of TEST_PACKAGES) assert.ok(packages.includes(name), `setup-tests installs ${name} when missing`);
    const installs = fresh.calls.filter((call) => call.startsWith('apt-get install '));
    assert.equal(installs.length, 1);
    assert.match(installs[0]!, /^apt-get install -y -qq --no-install-recommends /);
    assert.ok(fresh.calls.includes('policy-rc.d exit 101'), fresh.calls.join('\n'));
    assert.ok(!existsSync(box.policy), 'the policy is removed after the install');

    // A machine with a policy of its own (a container image's): it is back after.
    const own = '#!/bin/sh\nexit 0\n';
    writeFileSync(box.policy, own, { mode: 0o755 });
    const again = box.run('setup-tests');
    assert.equal(again.status, 0, again.stderr);
    assert.ok(again.calls.includes('policy-rc.d exit 101'));
    assert.equal(readFileSync(box.policy, 'utf8'), own);
  });

  test('scripts/setup-tests: what the install enabled at boot is disabled (systemctl disable, offline form), the user\'s enabled units and masks are not', (t) => {
    const box = sandbox();
    t.after(box.remove);
    const run = box.run('setup-tests');
    assert.equal(run.status, 0, run.stderr);
    const systemctl = run.calls.filter((call) => call.startsWith('systemctl'));
    assert.equal(systemctl.length, 1, run.calls.join('\n'));
    const [words, units] = systemctl[0]!.split(' -- ');
    assert.equal(words, `systemctl --root=${box.root} disable --quiet`);
    assert.deepEqual(units!.split(' ').sort(), [...NEW_UNITS].sort());
    // systemctl is a recorder here: the links it would have removed are
    // removed all the same, and only those.
    assert.deepEqual(box.links(), USERS);
    assert.match(run.stderr, /^setup-tests: disabling at boot what the install enabled .*: (\S+\.service ?){3}$/m);
    for (const unit of NEW_UNITS) assert.ok(run.stderr.includes(unit), unit);
  });

  test('scripts/setup-tests without systemctl (no systemd, say): the links the install made are removed', (t) => {
    const box = sandbox();
    t.after(box.remove);
    rmSync(`${box.path}/systemctl`);
    const run = box.run('setup-tests');
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(box.links(), USERS);
  });

  test('scripts/setup-tests with the real systemctl on a stand-in root: the new units are disabled, the user\'s still enabled', { skip: systemctlPath === '' ? 'no systemctl here' : false }, (t) => {
    const box = sandbox();
    t.after(box.remove);
    rmSync(`${box.path}/systemctl`);
    symlinkSync(systemctlPath, `${box.path}/systemctl`);
    const lib = `${box.root}/lib/systemd/system`;
    mkdirSync(lib, { recursive: true });
    const unit = (name: string, install: string) =>
      writeFileSync(`${lib}/${name}`, `[Unit]\nDescription=${name}\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n${install}`);
    unit('prometheus.service', '');
    unit('postgresql.service', '');
    unit('redis-server.service', 'Alias=redis.service\n');
    unit('ssh.service', 'Alias=sshd.service\n');
    const run = box.run('setup-tests');
    assert.equal(run.status, 0, run.stderr);
    // systemctl had nothing to say: our two lines only.
    assert.deepEqual(run.stderr.trim().split('\n').map((line) => line.split(' ').slice(0, 2).join(' ')), ['setup-tests: installing', 'setup-tests: disabling']);
    assert.deepEqual(box.links(), USERS);
    const state = (name: string) => spawnSync(systemctlPath, [`--root=${box.root}`, 'is-enabled', name], { encoding: 'utf8' }).stdout.trim();
    for (const name of NEW_UNITS) assert.equal(state(name), 'disabled', name);
    assert.equal(state('ssh.service'), 'enabled');
  });

  test('scripts/setup-tests when the install adds a link to a unit enabled before: only that link goes, the unit stays enabled', (t) => {
    // An upgrade pulled in by the install whose unit gained a WantedBy.
    const box = sandbox({ ...ENABLED_ON_INSTALL, tmux: [['sockets.target.wants/ssh.service', '/lib/systemd/system/ssh.service']] });
    t.after(box.remove);
    mkdirSync(`${box.units}/sockets.target.wants`);
    const run = box.run('setup-tests');
    assert.equal(run.status, 0, run.stderr);
    const systemctl = run.calls.filter((call) => call.startsWith('systemctl'));
    assert.equal(systemctl.length, 1);
    assert.ok(!systemctl[0]!.includes('ssh.service'), systemctl[0]);
    assert.deepEqual(box.links(), USERS);
  });

  test('scripts/setup: nothing newly enabled, nothing to disable (and no systemctl call)', (t) => {
    const box = sandbox({ clang: [] });
    t.after(box.remove);
    const run = box.run('setup');
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.calls.filter((call) => call.startsWith('systemctl')), []);
    assert.doesNotMatch(run.stderr, /disabling/);
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
    assert.deepEqual(readdirSync(`${box.root}/usr/sbin`), ['policy-rc.d'], 'nothing left beside it');

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

  test('scripts/setup-tests when apt fails: the policy is put back and what it enabled disabled all the same, and the failure is the exit code', (t) => {
    const box = sandbox();
    t.after(box.remove);
    // It enabled postgresql before failing (its update went well).
    writeFileSync(`${box.path}/apt-get`, `#!/bin/bash\n[ "$1" = install ] || exit 0\n${LN} -s /lib/systemd/system/postgresql.service '${box.units}/multi-user.target.wants/'\nexit 100\n`, { mode: 0o755 });
    const failed = box.run('setup-tests');
    assert.equal(failed.status, 100);
    assert.ok(!existsSync(box.policy));
    assert.deepEqual(box.links(), USERS);
    assert.match(failed.stderr, /disabling at boot .*: postgresql\.service$/m);
  });
});
