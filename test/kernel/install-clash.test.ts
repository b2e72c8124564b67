// SPDX-License-Identifier: MIT
// The documented install beside libbpf-tools, whose /usr/sbin/tcpstates and
// /usr/sbin/tcplife are other programs: the package installed as
// docs/deploy.md says (npm pack, then `sudo npm install -g --prefix
// /usr/local` of the tarball) puts ours in /usr/local/bin, which comes
// before /usr/sbin in sudo's secure_path and root's PATH, so `sudo
// tcpstates` runs ours, and libbpf-tools' is untouched; the systemd
// template unit verifies clean against that install. Whatever was at the
// install's paths before (a user's own install) is moved aside for the
// test and put back after.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, test } from 'node:test';
import { packageVersion } from '../../src/cli/version.js';
import { REPO_ROOT, requireRoot } from '../../harness/system.js';

const PREFIX = '/usr/local';
/** What the install makes under the prefix. */
const INSTALLED = [
  `${PREFIX}/lib/node_modules/tcpstates`,
  `${PREFIX}/bin/tcpstates`,
  `${PREFIX}/bin/tcplife`,
  `${PREFIX}/share/man/man8/tcpstates.8`,
  `${PREFIX}/share/man/man8/tcplife.8`,
];

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', env, maxBuffer: 64 << 20, cwd: tmpdir() });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

requireRoot();

const work = mkdtempSync(`${tmpdir()}/tcpstates-install-`);
const aside = `${work}/aside`;
const moved: string[] = [];
let tarball = '';

before(() => {
  assert.ok(existsSync('/usr/sbin/tcpstates'), 'libbpf-tools is installed (scripts/setup-tests installs it)');
  assert.equal(run('sudo', ['-V']).status, 0, 'sudo is installed (scripts/setup-tests installs it)');
  run('mkdir', ['-p', aside]);
  INSTALLED.forEach((path, index) => {
    if (!exists(path)) return;
    renameSync(path, `${aside}/${index}`);
    moved.push(path);
  });
  const pack = spawnSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(pack.status, 0, pack.stderr);
  const result = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[\n'))) as { filename: string }[];
  tarball = `${work}/${result[0]!.filename}`;
});

after(() => {
  run('npm', ['uninstall', '-g', '--prefix', PREFIX, '--no-audit', '--no-fund', 'tcpstates']);
  for (const path of INSTALLED) {
    const index = INSTALLED.indexOf(path);
    if (!moved.includes(path)) continue;
    rmSync(path, { recursive: true, force: true });
    renameSync(`${aside}/${index}`, path);
  }
  rmSync(work, { recursive: true, force: true });
});

test('after the documented install, sudo tcpstates and sudo tcplife run ours, libbpf-tools\' stay as they were', { timeout: 180_000 }, () => {
  const version = packageVersion();
  const before = run('/usr/sbin/tcpstates', ['-V']);
  // The line docs/deploy.md gives, as root runs it through sudo.
  const install = run('sudo', ['npm', 'install', '-g', '--prefix', PREFIX, '--no-audit', '--no-fund', tarball]);
  assert.equal(install.status, 0, install.stderr);

  for (const tool of ['tcpstates', 'tcplife']) {
    const viaSudo = run('sudo', [tool, '-V']);
    assert.equal(viaSudo.stdout, `${tool} ${version}\n`, `sudo ${tool} -V: ${viaSudo.stderr}`);
    // root's login shell (Debian's /etc/profile PATH for root).
    const login = run('bash', ['-l', '-c', `command -v ${tool}; ${tool} -V`], { HOME: '/root', TERM: 'dumb' });
    assert.equal(login.stdout, `${PREFIX}/bin/${tool}\n${tool} ${version}\n`, login.stderr);
    // man finds ours (libbpf-tools ships no page), through npm's link.
    const page = run('man', ['-w', tool]);
    assert.equal(page.stdout.trim(), `${PREFIX}/lib/node_modules/tcpstates/man/${tool}.8`, page.stderr);
  }
  // libbpf-tools' own command is still there and still itself.
  assert.deepEqual(run('/usr/sbin/tcpstates', ['-V']), before);

  // The systemd template unit, verified against this install: its
  // ExecStart (/usr/local/bin/%i) and its man pages exist, and systemd has
  // nothing to say about it (systemd-analyze verify, for both instances).
  const units = `${work}/units`;
  run('mkdir', ['-p', units]);
  copyFileSync(`${REPO_ROOT}deploy/systemd/tcpstates-metrics@.service`, `${units}/tcpstates-metrics@.service`);
  for (const tool of ['tcpstates', 'tcplife']) {
    const verify = run('systemd-analyze', ['verify', `${units}/tcpstates-metrics@${tool}.service`]);
    assert.deepEqual({ status: verify.status, output: `${verify.stdout}${verify.stderr}` }, { status: 0, output: '' }, tool);
  }

  // And ours traces through sudo: attaches, runs, ends with its final line.
  const traced = run('sudo', ['tcplife', '--duration', '0.5', '-L', '1']);
  assert.equal(traced.status, 0, traced.stderr);
  assert.match(traced.stderr, /^tcplife: 0 events read, 0 lost$/m);
});
