// SPDX-License-Identifier: MIT
// The deployment files, exercised here: no container runtime can build on
// this machine (no registry for the Node base image), and it runs no
// systemd. So:
//  - the Dockerfile's stages are replayed step by step in temp directories
//    (its COPY lines, its RUN commands; the apt-get lines are checked as
//    installed packages instead of run), then its ENTRYPOINT runs with only
//    the capabilities the documented `docker run` grants, and is scraped;
//  - the systemd unit's user and capabilities are applied with setpriv (an
//    unprivileged uid with exactly its AmbientCapabilities) to a copy of the
//    package where that user can read it, and the tool serves metrics.
// A runtime that can build (docker/podman with registry access) would run
// the same Dockerfile for real; the steps here are the same commands.

import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, requireRoot } from '../../harness/system.js';
import { runTracerToExit, type Finished } from '../../harness/tracer-process.js';

requireRoot();

/**
 * How to start a process as the deployments do: with no limit on locked
 * memory (`--ulimit memlock=-1`, LimitMEMLOCK=infinity) when this test may
 * raise it. Without CAP_SYS_RESOURCE (this sandbox) it cannot: the tool then
 * runs with rings of 16 pages per CPU, which fit in any RLIMIT_MEMLOCK.
 * (Without CAP_IPC_LOCK, perf rings beyond kernel.perf_event_mlock_kb per
 * user count against RLIMIT_MEMLOCK, and every root process shares one
 * user's budget: that is why the deployments lift the limit.)
 */
function memlockPrefix(): { argv: string[]; toolArgs: string[] } {
  const raise = spawnSync('prlimit', ['--memlock=unlimited', 'true']);
  return raise.status === 0
    ? { argv: ['prlimit', '--memlock=unlimited'], toolArgs: [] }
    : { argv: [], toolArgs: ['--buffer-pages', '16'] };
}

/**
 * Runs tcpstates (`bin`: another copy of bin/tcpstates) as a deployment
 * does: under `setpriv` with these options, with the memlock limit lifted
 * when it can be, serving metrics on loopback for 2 s and tracing nothing.
 */
function runDeployed(setpriv: readonly string[], bin?: string, node: string = process.execPath): Promise<Finished> {
  const memlock = memlockPrefix();
  return runTracerToExit(['--metrics', '127.0.0.1:0', '--duration', '2', '-L', '1', ...memlock.toolArgs], process.env, 30_000, {
    wrapper: [...memlock.argv, 'setpriv', ...setpriv],
    ...(bin === undefined ? {} : { command: [node, bin] }),
  });
}

/**
 * The tool as an installed package is (bin/, dist/src, the BPF object,
 * package.json and the runtime dependencies), and node, copied to a
 * directory every user can read: as a package installed under /usr, and
 * unlike a clone, which may be in a private folder (/root is 0700 on
 * Debian, so is `mktemp -d`) that the unit's unprivileged user cannot enter.
 */
function installedCopy(root: string): { bin: string; node: string } {
  chmodSync(root, 0o755);
  const runtime = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: REPO_ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((path) => path.startsWith(`${join(REPO_ROOT, 'node_modules')}/`));
  for (const path of ['bin', 'dist/src', 'dist/bpf/tcpstates.bpf.o', 'package.json', ...runtime.map((dir) => dir.slice(REPO_ROOT.length))]) {
    cpSync(join(REPO_ROOT, path), join(root, path), { recursive: true });
  }
  const node = join(root, 'node');
  copyFileSync(process.execPath, node);
  chmodSync(node, 0o755);
  // Readable and searchable by all, as an installed package.
  execFileSync('chmod', ['-R', 'a+rX', root]);
  return { bin: join(root, 'bin', 'tcpstates'), node };
}

/** What a deployed tcpstates that served metrics and traced nothing says. */
function assertServedMetrics(run: Finished): void {
  assert.equal(run.code, 0, run.stderrText);
  assert.match(run.stderrText, /^tcpstates: serving metrics on http:\/\/127\.0\.0\.1:\d+\/metrics$/m);
  assert.match(run.stderrText, /^tcpstates: 0 events read, 0 lost$/m);
}

interface Stage {
  readonly name: string;
  readonly dir: string;
  workdir: string;
  entrypoint: string[];
  cmd: string[];
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(text: string): [string, string][] {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const space = line.indexOf(' ');
      return [line.slice(0, space).toUpperCase(), line.slice(space + 1).trim()];
    });
}

/** Packages an `apt-get install` segment names. */
function aptPackages(segment: string): string[] {
  return segment
    .split(/\s+/)
    .slice(2)
    .filter((word) => !word.startsWith('-') && word !== 'install');
}

function replayDockerfile(root: string): Stage[] {
  const stages: Stage[] = [];
  let stage: Stage | undefined;
  const hostPath = (containerPath: string, current: Stage): string => {
    // A path inside an image: under some stage's WORKDIR, or relative to the current one.
    for (const s of [current, ...stages]) {
      if (containerPath === s.workdir || containerPath.startsWith(`${s.workdir}/`)) return join(s.dir, containerPath.slice(s.workdir.length));
    }
    return join(current.dir, containerPath);
  };
  for (const [instruction, args] of instructions(readFileSync(`${REPO_ROOT}Dockerfile`, 'utf8'))) {
    if (instruction === 'FROM') {
      const [, , name] = args.split(/\s+/);
      stage = { name: name ?? `stage${stages.length}`, dir: join(root, `stage${stages.length}`), workdir: '/', entrypoint: [], cmd: [] };
      mkdirSync(stage.dir);
      stages.push(stage);
      assert.match(args, /^node:20-bookworm-slim\b/, 'built from the official Node image');
      continue;
    }
    assert.ok(stage !== undefined, `${instruction} before FROM`);
    if (instruction === 'WORKDIR') stage.workdir = args;
    else if (instruction === 'COPY') {
      const words = args.split(/\s+/);
      const from = words[0]!.startsWith('--from=') ? stages.find((s) => s.name === words.shift()!.slice('--from='.length)) : undefined;
      const destination = words.pop()!;
      for (const source of words) {
        const sourcePath = from === undefined ? join(REPO_ROOT, source) : hostPath(source, from);
        const target = destination.endsWith('/') ? join(hostPath(destination, stage), source.split('/').pop()!) : hostPath(destination, stage);
        mkdirSync(dirname(target), { recursive: true });
        cpSync(sourcePath, target, { recursive: true });
      }
    } else if (instruction === 'RUN') {
      for (const segment of args.split('&&').map((s) => s.trim())) {
        if (segment.startsWith('apt-get install')) {
          for (const pkg of aptPackages(segment)) {
            const status = spawnSync('dpkg-query', ['-W', '-f', '${Status}', pkg], { encoding: 'utf8' });
            assert.equal(status.stdout, 'install ok installed', `${pkg} (apt-get install in the Dockerfile) is installed here`);
          }
        } else if (segment.startsWith('apt-get') || segment.startsWith('rm -rf /var/lib/apt')) {
          continue; // the package lists: the image's business
        } else {
          execFileSync('sh', ['-c', segment], { cwd: hostPath(stage.workdir, stage), stdio: ['ignore', 'ignore', 'pipe'] });
        }
      }
    } else if (instruction === 'ENTRYPOINT') stage.entrypoint = JSON.parse(args) as string[];
    else if (instruction === 'CMD') stage.cmd = JSON.parse(args) as string[];
  }
  return stages;
}

test('the Dockerfile builds (its steps replayed) and its image runs with CAP_BPF and CAP_PERFMON only', { timeout: 300_000 }, async (t) => {
  const root = mkdtempSync(`${tmpdir()}/tcpstates-image-`);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const stages = replayDockerfile(root);
  assert.equal(stages.length, 2);
  const image = stages[1]!;
  assert.deepEqual(image.entrypoint, ['/opt/tcpstates/bin/tcpstates']);
  assert.deepEqual(image.cmd, ['--metrics', '0.0.0.0:9100']);
  // No compiler in the run stage: only the built object and code.
  assert.ok(readFileSync(join(image.dir, 'dist/bpf/tcpstates.bpf.o')).length > 0);
  const entrypoint = join(image.dir, image.entrypoint[0]!.slice(image.workdir.length));
  // `docker run --cap-drop ALL --cap-add BPF --cap-add PERFMON --ulimit memlock=-1`:
  // root with only those two capabilities, and no limit on locked memory.
  const dockerfile = readFileSync(`${REPO_ROOT}Dockerfile`, 'utf8');
  assert.match(dockerfile, /--cap-drop ALL --cap-add BPF --cap-add PERFMON \\\n#\s+--ulimit memlock=-1 /);
  assertServedMetrics(await runDeployed(['--bounding-set=-all,+bpf,+perfmon', '--inh-caps=-all'], entrypoint));
});

test('the systemd unit: an unprivileged user with its AmbientCapabilities serves metrics', async (t) => {
  const root = mkdtempSync(`${tmpdir()}/tcpstates-unit-`);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const installed = installedCopy(root);
  const unit = readFileSync(`${REPO_ROOT}deploy/tcpstates-metrics.service`, 'utf8');
  const setting = (key: string): string => {
    const match = new RegExp(`^${key}=(.*)$`, 'm').exec(unit);
    assert.ok(match !== null, `${key} is set`);
    return match[1]!;
  };
  const capabilities = setting('AmbientCapabilities').split(/\s+/);
  assert.deepEqual(capabilities, ['CAP_BPF', 'CAP_PERFMON']);
  assert.equal(setting('CapabilityBoundingSet'), 'CAP_BPF CAP_PERFMON');
  assert.equal(setting('DynamicUser'), 'yes');
  assert.equal(setting('NoNewPrivileges'), 'yes');
  assert.equal(setting('ProtectSystem'), 'strict');
  assert.match(setting('ExecStart'), /^\/usr\/bin\/tcpstates --metrics 127\.0\.0\.1:9100$/);
  const caps = capabilities.map((cap) => `+${cap.slice(4).toLowerCase()}`).join(',');
  assert.equal(setting('LimitMEMLOCK'), 'infinity');
  assertServedMetrics(
    await runDeployed([
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      `--inh-caps=-all,${caps}`,
      `--ambient-caps=-all,${caps}`,
      `--bounding-set=-all,${caps}`,
      '--no-new-privs',
    ], installed.bin, installed.node),
  );
});
