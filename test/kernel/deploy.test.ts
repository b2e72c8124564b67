// SPDX-License-Identifier: MIT
// The deployment files, exercised here: no container runtime can build on
// this machine (no registry for the Node base image), and it runs no
// systemd. So:
//  - the Dockerfile's stages are replayed step by step in temp directories
//    (its COPY lines, its RUN commands; the apt-get lines are checked as
//    installed packages instead of run), then its ENTRYPOINT runs with only
//    the capabilities every documented `docker run` grants (the
//    Dockerfile's, docs/deploy.md's, the README's), and is scraped;
//  - the systemd unit's Nice=, limits, user and capabilities are applied
//    with nice, prlimit and setpriv (an unprivileged uid with exactly its
//    AmbientCapabilities) to a copy of the package where that user can
//    read it, and the tool serves metrics that way at the reader's
//    priority. systemd-analyze verify runs on the unit after the
//    documented install (test/kernel/install-clash.test.ts).
// A runtime that can build (docker/podman with registry access) would run
// the same Dockerfile for real; the steps here are the same commands.

import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { READER_NICE } from '../../src/trace/run.js';
import { DEFAULT_METRICS_PORTS } from '../../src/metrics/ports.js';
import { procStatFields } from '../../src/sys/proc-stat.js';
import { REPO_ROOT, requireRoot } from '../../harness/system.js';
import { TracerProcess, type Finished } from '../../harness/tracer-process.js';

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

/** The nice value of every thread of `pid`. */
function threadNices(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => Number(procStatFields(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'))[16]));
}

/**
 * Runs tcpstates (`bin`: another copy of bin/tcpstates) as a deployment
 * does: under `setpriv` with these options (after `before`, e.g. nice),
 * with the memlock limit lifted when it can be, serving metrics on
 * loopback and tracing nothing. Returns the nice values its threads had
 * once it was tracing, and how it ended.
 */
async function runDeployed(
  setpriv: readonly string[],
  options: { bin?: string; node?: string; before?: readonly string[] } = {},
): Promise<{ nices: number[]; run: Finished }> {
  const memlock = memlockPrefix();
  const tracer = await TracerProcess.attach('tcpstates', ['--metrics', '127.0.0.1:0', '-L', '1', ...memlock.toolArgs], {
    wrapper: [...memlock.argv, ...(options.before ?? []), 'setpriv', ...setpriv],
    ...(options.bin === undefined ? {} : { command: [options.node ?? process.execPath, options.bin] }),
  });
  const nices = threadNices(tracer.pid);
  return { nices, run: await tracer.finish() };
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
  for (const path of ['bin', 'dist/src', 'dist/bpf/tcpstates.bpf.o', 'dist/bpf/probe.bpf.o', 'package.json', ...runtime.map((dir) => dir.slice(REPO_ROOT.length))]) {
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

/** The `docker run` commands a document gives (continuation lines joined). */
function dockerRunLines(text: string): string[] {
  return text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.replace(/^#\s*/, '').trim())
    .filter((line) => line.startsWith('docker run ') && !line.includes(' ... '));
}

interface DockerRun {
  readonly capabilities: string[];
  readonly memlockUnlimited: boolean;
  readonly publishedPorts: number[];
}

/** What a `docker run` line grants and publishes. */
function parseDockerRun(line: string): DockerRun {
  const words = line.split(/\s+/);
  const after = (flag: string) => words.flatMap((word, i) => (word === flag ? [words[i + 1]!] : []));
  assert.ok(words.includes('--cap-drop') && after('--cap-drop').includes('ALL'), `${line}: --cap-drop ALL`);
  return {
    capabilities: after('--cap-add').map((cap) => cap.toLowerCase()),
    memlockUnlimited: after('--ulimit').includes('memlock=-1'),
    publishedPorts: after('-p').map((mapping) => Number(mapping.split(':').at(-1))),
  };
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
      // The official Node image, on a supported LTS release.
      assert.match(args, /^node:(22|24)-bookworm-slim\b/, 'built from the official Node image of an LTS release');
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

test('the Dockerfile builds (its steps replayed, the start-up bundle too) and its image runs as the documented docker run says', { timeout: 300_000 }, async (t) => {
  const root = mkdtempSync(`${tmpdir()}/tcpstates-image-`);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const stages = replayDockerfile(root);
  assert.equal(stages.length, 2);
  const image = stages[1]!;
  assert.deepEqual(image.entrypoint, ['/opt/tcpstates/bin/tcpstates']);
  assert.deepEqual(image.cmd, ['--metrics', `0.0.0.0:${DEFAULT_METRICS_PORTS.tcpstates}`]);
  // No compiler in the run stage: only the built objects, code and bundle.
  for (const file of ['dist/bpf/tcpstates.bpf.o', 'dist/bpf/probe.bpf.o', 'dist/src/bundle/tools.cjs', 'dist/src/bundle/tools.cache']) {
    assert.ok(statSync(join(image.dir, file)).size > 0, `the image has ${file}`);
  }
  const entrypoint = join(image.dir, image.entrypoint[0]!.slice(image.workdir.length));
  // Every documented `docker run` (the Dockerfile's, docs/deploy.md's, the
  // README's): root with only the capabilities it adds, no limit on locked
  // memory, the tool's port published; then the image runs so: serves
  // metrics, and with SYS_NICE at the reader's priority.
  const documents = ['Dockerfile', 'docs/deploy.md', 'README.md'].map((name) => readFileSync(`${REPO_ROOT}${name}`, 'utf8'));
  const runs = documents.flatMap(dockerRunLines).map(parseDockerRun);
  assert.ok(runs.length >= 2, 'the Dockerfile and docs/deploy.md give a docker run line');
  for (const run of runs) {
    assert.ok(run.memlockUnlimited, 'docker run lifts the memlock limit');
    assert.ok(run.publishedPorts.every((port) => Object.values(DEFAULT_METRICS_PORTS).includes(port as 19440)), `published ${run.publishedPorts}`);
  }
  const capabilities = [...new Set(runs.map((run) => run.capabilities.sort().join(',')))];
  assert.deepEqual(capabilities, ['bpf,perfmon,sys_nice']);
  const deployed = await runDeployed([`--bounding-set=-all,${capabilities[0]!.split(',').map((cap) => `+${cap}`).join(',')}`, '--inh-caps=-all'], {
    bin: entrypoint,
  });
  assertServedMetrics(deployed.run);
  assert.deepEqual([...new Set(deployed.nices)], [READER_NICE], 'every thread at the reader\'s priority');
});

test('the systemd template unit: systemd-analyze verify is in the install test; its user, capabilities and priority serve metrics', async (t) => {
  const root = mkdtempSync(`${tmpdir()}/tcpstates-unit-`);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const installed = installedCopy(root);
  const unit = readFileSync(`${REPO_ROOT}deploy/systemd/tcpstates-metrics@.service`, 'utf8');
  const settings = (key: string): string[] => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((match) => match[1]!);
  const setting = (key: string): string => {
    const values = settings(key);
    assert.equal(values.length, 1, `${key} is set once`);
    return values[0]!;
  };
  const capabilities = setting('AmbientCapabilities').split(/\s+/);
  assert.deepEqual(capabilities, ['CAP_BPF', 'CAP_PERFMON']);
  assert.equal(setting('CapabilityBoundingSet'), 'CAP_BPF CAP_PERFMON');
  assert.equal(setting('DynamicUser'), 'yes');
  assert.equal(setting('NoNewPrivileges'), 'yes');
  assert.equal(setting('ProtectSystem'), 'strict');
  assert.equal(setting('LimitMEMLOCK'), 'infinity');
  assert.equal(setting('ExecStart'), '/usr/local/bin/%i $TCPSTATES_OPTIONS');
  assert.equal(setting('EnvironmentFile'), '-/etc/tcpstates/%i.env');
  assert.deepEqual(settings('Environment'), ['TCPSTATES_OPTIONS=--metrics', 'NO_COLOR=1']);
  const nice = Number(setting('Nice'));
  assert.equal(nice, READER_NICE);
  const nofile = Number(setting('LimitNOFILE'));
  assert.ok(nofile >= 4096);
  // The example option files name each tool's own port.
  for (const [tool, port] of Object.entries(DEFAULT_METRICS_PORTS)) {
    assert.match(readFileSync(`${REPO_ROOT}deploy/systemd/${tool}.env`, 'utf8'), new RegExp(`^#TCPSTATES_OPTIONS=--metrics 0\\.0\\.0\\.0:${port}$`, 'm'));
  }
  // As systemd starts it: Nice= and the limits set, then an unprivileged
  // user with exactly the ambient capabilities.
  const caps = capabilities.map((cap) => `+${cap.slice(4).toLowerCase()}`).join(',');
  const deployed = await runDeployed(
    [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      `--inh-caps=-all,${caps}`,
      `--ambient-caps=-all,${caps}`,
      `--bounding-set=-all,${caps}`,
      '--no-new-privs',
    ],
    { before: ['prlimit', `--nofile=${nofile}`, 'nice', '-n', String(nice)], bin: installed.bin, node: installed.node },
  );
  assertServedMetrics(deployed.run);
  assert.deepEqual([...new Set(deployed.nices)], [READER_NICE]);
});
