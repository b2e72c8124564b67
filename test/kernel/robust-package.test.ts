// SPDX-License-Identifier: MIT
// Installable like a real npm tool: `npm pack` (its prepack builds) gives a
// tarball with the compiled BPF object and no build leftovers; `npm install
// -g` of it into a temporary prefix runs a real trace with no clang on PATH,
// from a working directory that holds a bogus dist/bpf/tcpstates.bpf.o.
// Without libbpf.so.1 the installed tool says which package to install.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { testAddress, testPort } from '../../harness/loopback.js';
import { csvRows, TOOLS } from '../../harness/rows.js';
import { REPO_ROOT as ROOT, requireRoot } from '../../harness/system.js';
import { TracerProcess, traceConnections } from '../../harness/tracer-process.js';

requireRoot();

const temporary: string[] = [];
after(() => {
  for (const directory of temporary) rmSync(directory, { recursive: true, force: true });
});

/** A working directory with a garbage BPF object where a cwd-relative
 * lookup would find it. */
function bogusWorkingDirectory(): string {
  const directory = mkdtempSync(`${tmpdir()}/robust-cwd-`);
  temporary.push(directory);
  mkdirSync(`${directory}/dist/bpf`, { recursive: true });
  writeFileSync(`${directory}/dist/bpf/tcpstates.bpf.o`, 'not an ELF object\n');
  mkdirSync(`${directory}/bpf`);
  writeFileSync(`${directory}/bpf/tcpstates.bpf.o`, 'not an ELF object\n');
  return directory;
}

/** Traces two connections on a port of our own with `bin`, from `cwd`. */
async function traceTwoConnections(
  tool: (typeof TOOLS)[number],
  index: number,
  options: { bin?: string; exec?: boolean; cwd: string; env?: NodeJS.ProcessEnv },
) {
  const start = (args: readonly string[]) => TracerProcess.start(args, options.env ?? process.env, { tool: tool.name, ...options });
  const { code, stdout, stderr } = await traceConnections(tool, testAddress(80 + index), testPort(400 + index), start, 2);
  assert.equal(code, 0, stderr);
  assert.equal(stdout.split('\n')[0], tool.csvHeader);
  assert.equal(csvRows(stdout).filter(tool.endsConnection).length, 2);
}

for (const [index, tool] of TOOLS.entries()) {
  test(`${tool.name} from another working directory with a bogus ./dist/bpf/tcpstates.bpf.o loads its own object`, async () => {
    await traceTwoConnections(tool, index, { cwd: bogusWorkingDirectory() });
  });
}

describe('npm pack, then npm install -g into a temporary prefix', () => {
  const work = mkdtempSync(`${tmpdir()}/robust-package-`);
  temporary.push(work);
  const prefix = `${work}/prefix`;
  const nodeOnly = `${work}/node-only`;
  let tarball = '';
  let packed: string[] = [];

  before(() => {
    const pack = spawnSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
    assert.equal(pack.status, 0, pack.stderr);
    // prepack's build output comes first on stdout; the JSON is the rest.
    const result = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[\n'))) as { filename: string; files: { path: string }[] }[];
    tarball = `${work}/${result[0]!.filename}`;
    packed = result[0]!.files.map((file) => file.path);

    const install = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], {
      encoding: 'utf8',
      cwd: work,
    });
    assert.equal(install.status, 0, install.stderr);
    // A PATH with node and nothing else from /usr/bin: no clang, no make.
    mkdirSync(nodeOnly);
    symlinkSync(process.execPath, `${nodeOnly}/node`);
  });

  test('the tarball holds the built object, the sources and the docs, and no build leftovers', () => {
    for (const path of ['dist/bpf/tcpstates.bpf.o', 'bpf/tcpstates.bpf.c', 'bpf/tcpstates.h', 'bpf/nesting.h', 'bpf/owner.h', 'README.md', 'LICENSE', 'package.json', 'dist/src/cli/main.js']) {
      assert.ok(packed.includes(path), `packs ${path}`);
    }
    for (const tool of TOOLS) assert.ok(packed.includes(`bin/${tool.name}`), `packs bin/${tool.name}`);
    const leftovers = packed.filter((path) => /^(dist\/test|dist\/bench|dist\/harness|src\/|test\/|harness\/|node_modules\/|scripts\/)|vmlinux\.h$|\.tgz$/.test(path));
    assert.deepEqual(leftovers, []);
  });

  const env = () => ({ PATH: `${prefix}/bin:${nodeOnly}`, HOME: work, LANG: 'C' });

  test('the PATH of the installed tools has no clang', () => {
    const clang = spawnSync('/bin/sh', ['-c', 'command -v clang || command -v make || echo none'], { env: env(), encoding: 'utf8' });
    assert.equal(clang.stdout, 'none\n');
  });

  for (const [index, tool] of TOOLS.entries()) {
    test(`the installed ${tool.name} traces real connections, from a bogus working directory`, async () => {
      await traceTwoConnections(tool, 10 + index, { bin: `${prefix}/bin/${tool.name}`, exec: true, cwd: bogusWorkingDirectory(), env: env() });
    });

    test(`the installed ${tool.name} without libbpf.so.1 names the package to install`, () => {
      const library = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' })
        .stdout.split('\n')
        .find((line) => line.trim().startsWith('libbpf.so.1 ('))
        ?.split(' => ')[1]
        ?.trim();
      assert.ok(library !== undefined, 'libbpf.so.1 is in the ld.so cache');
      const result = spawnSync(
        'unshare',
        ['--mount', '--propagation', 'private', '/bin/sh', '-ec', `mount --bind /dev/null '${library}'; exec "$BIN"`],
        { encoding: 'utf8', env: { ...env(), BIN: `${prefix}/bin/${tool.name}`, PATH: `${env().PATH}:/usr/bin:/bin` } },
      );
      assert.deepEqual(
        { status: result.status, stdout: result.stdout, stderr: result.stderr },
        {
          status: 1,
          stdout: '',
          stderr:
            `${tool.name}: cannot load libbpf.so.1: the libbpf shared library (version 1.x) is missing\n` +
            `${tool.name}: install it: apt-get install libbpf1 (Debian/Ubuntu), dnf install libbpf (Fedora) or apk add libbpf (Alpine)\n`,
        },
      );
    });
  }
});
