// SPDX-License-Identifier: MIT
// The last rough edges of the CLI on the real kernel: a Ctrl-C during
// start-up, a stdout that fails every write (/dev/full), an unreadable
// kernel BTF, --no-header, repeated list options, and what -4 leaves out.

import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, closeSync, copyFileSync, linkSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { adopt } from '../../harness/children.js';
import { clientSession, startServer, testAddress, testPort } from '../../harness/loopback.js';
import { csvRows, TOOLS } from '../../harness/rows.js';
import { binPath, requireRoot, waitFor } from '../../harness/system.js';
import { TracerProcess } from '../../harness/tracer-process.js';

requireRoot();

const FINAL_LINE = (tool: string) => new RegExp(`^${tool}: \\d+ events read, \\d+ lost$`);

/** True once the process has mapped koffi's native library: module loading
 * is under way, before the tracing loop exists. */
function koffiMapped(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/maps`, 'utf8').includes('koffi.node');
  } catch {
    return false;
  }
}

for (const tool of TOOLS) {
  describe(`${tool.name}: Ctrl-C during start-up`, () => {
    // Five runs: on a tool that installs its handlers late, most of them die of the signal.
    for (let run = 1; run <= 5; run++) {
      test(`SIGINT while the modules load (run ${run}): exit 0, the final line, nothing else`, async () => {
        const tracer = TracerProcess.start(['-L', String(testPort(40))], process.env, { tool: tool.name });
        const deadline = Date.now() + 10_000;
        // A tight poll: the window between koffi's load and the tracing loop is ~20 ms.
        while (!koffiMapped(tracer.pid)) {
          assert.ok(Date.now() < deadline, 'koffi never mapped');
          await new Promise((resolve) => setImmediate(resolve));
        }
        tracer.child.kill('SIGINT');
        const { code, signal } = await tracer.exited;
        assert.deepEqual({ code, signal }, { code: 0, signal: null }, `stderr: ${tracer.stderrLines.join('\n')}`);
        const lines = tracer.stderrLines.join('\n').split('\n').filter(Boolean);
        assert.equal(lines.length, 1, tracer.stderrLines.join('\n'));
        assert.match(lines[0]!, FINAL_LINE(tool.name));
      });
    }
  });
}

/** Stops a tracer with SIGINT and returns its exit code. */
async function interrupt(tracer: TracerProcess): Promise<number | null> {
  tracer.child.kill('SIGINT');
  const { code } = await tracer.exited;
  return code;
}

/** Waits for the notice a tracer without a header prints once attached. */
async function waitForNotice(tracer: TracerProcess): Promise<void> {
  await waitFor(`${tracer.pid} to attach (stderr: ${tracer.stderrLines.join('\n')})`, () => tracer.stderrLines.join('\n').includes('Hit Ctrl-C to end.'), 15_000);
}

/** A temporary directory removed when the test process exits. */
function temporaryDirectory(prefix: string): string {
  const directory = mkdtempSync(`${tmpdir()}/${prefix}`);
  process.once('exit', () => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

for (const [toolIndex, tool] of TOOLS.entries()) {
  const address = testAddress(60 + toolIndex);

  describe(`${tool.name}: stdout that fails every write (/dev/full)`, () => {
    test('at the header: one "cannot write" line, the final line, exit 1', async () => {
      const full = openSync('/dev/full', 'w');
      const tracer = TracerProcess.start(['-L', String(testPort(210 + toolIndex))], process.env, { tool: tool.name, stdout: full });
      closeSync(full);
      const { code } = await tracer.exited;
      assert.equal(code, 1, tracer.stderrLines.join('\n'));
      const lines = tracer.stderrLines.join('\n').split('\n').filter(Boolean);
      assert.deepEqual(lines.slice(0, 1), [`${tool.name}: cannot write to stdout: ENOSPC`], tracer.stderrLines.join('\n'));
      assert.equal(lines.length, 2, tracer.stderrLines.join('\n'));
      assert.match(lines[1]!, FINAL_LINE(tool.name));
    });

    test('at the first row (--no-header): one "cannot write" line, the final line, exit 1', async () => {
      const port = testPort(212 + toolIndex);
      const server = await startServer(address, { port: port });
      const full = openSync('/dev/full', 'w');
      const tracer = TracerProcess.start(['--no-header', '-L', String(port)], process.env, { tool: tool.name, stdout: full });
      closeSync(full);
      try {
        await waitForNotice(tracer);
        await server.connections(1);
        const { code } = await tracer.exited;
        assert.equal(code, 1, tracer.stderrLines.join('\n'));
      } finally {
        tracer.child.kill('SIGKILL');
        await server.close();
      }
      const lines = tracer.stderrLines.join('\n').split('\n').filter(Boolean);
      assert.deepEqual(lines.filter((line) => line.includes('cannot write')), [`${tool.name}: cannot write to stdout: ENOSPC`]);
      assert.match(lines.at(-1)!, FINAL_LINE(tool.name));
      assert.equal(lines.length, 3, tracer.stderrLines.join('\n')); // the notice, the error, the final line
    });
  });

  describe(`${tool.name}: a kernel BTF file that is there but unreadable`, () => {
    const real = readFileSync('/sys/kernel/btf/vmlinux');
    const directory = temporaryDirectory('cli-edges-btf-');
    /** Runs the tool with `content` as /sys/kernel/btf/vmlinux, in a private mount namespace. */
    const runWithBtf = (name: string, content: Uint8Array) => {
      writeFileSync(`${directory}/${name}`, content);
      const result = spawnSync(
        'unshare',
        ['--mount', '--propagation', 'private', 'sh', '-ec', 'mount -t tmpfs none /sys/kernel/btf; cp "$SRC" /sys/kernel/btf/vmlinux; exec "$NODE" "$BIN"'],
        { encoding: 'utf8', timeout: 20_000, env: { ...process.env, SRC: `${directory}/${name}`, NODE: process.execPath, BIN: binPath(tool.name) } },
      );
      return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    };
    const HINT = `${tool.name}: it must be the running kernel's own: check that nothing is mounted over /sys/kernel/btf (findmnt /sys/kernel/btf), or boot a kernel built with CONFIG_DEBUG_INFO_BTF=y\n`;

    test('empty: says so and what to do, exit 1', () => {
      assert.deepEqual(runWithBtf('empty', new Uint8Array(0)), {
        status: 1,
        stdout: '',
        stderr: `${tool.name}: cannot read the kernel BTF at /sys/kernel/btf/vmlinux: the file is empty\n${HINT}`,
      });
    });

    test('not BTF at all: bad magic, exit 1', () => {
      assert.deepEqual(runWithBtf('garbage', new Uint8Array(4096).fill(0x5a)), {
        status: 1,
        stdout: '',
        stderr: `${tool.name}: cannot read the kernel BTF at /sys/kernel/btf/vmlinux: it is not BTF data (bad magic)\n${HINT}`,
      });
    });

    test('truncated: exit 1', () => {
      const result = runWithBtf('truncated', real.subarray(0, 1000));
      assert.equal(result.status, 1);
      assert.match(result.stderr, /: cannot read the kernel BTF at \/sys\/kernel\/btf\/vmlinux: it is truncated \(1000 bytes, the header says \d+\)\n/);
    });

    test('a sound header over scrambled types: libbpf\'s ESRCH comes with what it means, exit 1', () => {
      const scrambled = Uint8Array.from(real);
      for (let index = 24; index < scrambled.length; index++) scrambled[index] = (index * 2654435761) >>> 24;
      assert.deepEqual(runWithBtf('scrambled', scrambled), {
        status: 1,
        stdout: '',
        stderr:
          `${tool.name}: failed to load BPF object: ESRCH\n` +
          `${tool.name}: the kernel BTF (/sys/kernel/btf/vmlinux) could not be read or parsed: it must be the running kernel's own, from a kernel built with CONFIG_DEBUG_INFO_BTF=y; rerun with --verbose for libbpf's log\n`,
      });
    });
  });

  describe(`${tool.name}: --no-header and repeated -L`, () => {
    test('--no-header: rows only on stdout, from the first line', async () => {
      const port = testPort(220 + toolIndex);
      const server = await startServer(address, { port: port });
      const tracer = TracerProcess.start(['-s', '--no-header', '-L', String(port)], process.env, { tool: tool.name });
      try {
        await waitForNotice(tracer);
        await server.connections(2);
        // csvRows takes the first line as the header: prepend the real one.
        await waitFor('both connections', () => csvRows(`${tool.csvHeader}\n${tracer.stdoutLines.join('\n')}`).filter(tool.endsConnection).length >= 2);
        assert.equal(await interrupt(tracer), 0, tracer.stderrLines.join('\n'));
      } finally {
        tracer.child.kill('SIGKILL');
        await server.close();
      }
      const lines = tracer.stdoutLines.join('\n').split('\n').filter(Boolean);
      assert.ok(!lines.includes(tool.csvHeader), 'no header line');
      assert.equal(lines.length, 2 * tool.rowsPerConnection, tracer.stdoutLines.join('\n'));
      for (const line of lines) assert.ok(line.includes(`,${port},`), line);
    });

    test('-L p1 -L p2 traces both ports (the lists accumulate)', async () => {
      const ports = [testPort(230 + toolIndex), testPort(240 + toolIndex)];
      const servers = await Promise.all(ports.map((port) => startServer(address, { port: port })));
      const tracer = TracerProcess.start(['-s', '-L', String(ports[0]), '--localport', String(ports[1])], process.env, { tool: tool.name });
      try {
        await tracer.untilAttached();
        for (const server of servers) await server.connections(1);
        const ended = () => csvRows(tracer.stdoutLines.join('\n')).filter(tool.endsConnection);
        await waitFor('a connection on each port', () => ports.every((port) => ended().some((row) => row.LPORT === String(port))));
        assert.equal(await interrupt(tracer), 0, tracer.stderrLines.join('\n'));
      } finally {
        tracer.child.kill('SIGKILL');
        await Promise.all(servers.map((server) => server.close()));
      }
      const lports = new Set(csvRows(tracer.stdoutLines.join('\n')).map((row) => row.LPORT));
      assert.deepEqual([...lports].sort(), ports.map(String).sort());
    });
  });

  describe(`${tool.name}: -4 and a dual-stack listener`, () => {
    test('-4 leaves out the accepted end (IPv6, ::ffff:a.b.c.d); without -4 it is there with IP 6', async () => {
      const port = testPort(250 + toolIndex);
      // Listening on :: takes IPv4 connections too (net.ipv6.bindv6only=0).
      const server = await startServer('::', { port });
      const onlyV4 = TracerProcess.start(['-s', '-4', '-L', String(port)], process.env, { tool: tool.name });
      const both = TracerProcess.start(['-s', '-L', String(port)], process.env, { tool: tool.name });
      try {
        await Promise.all([onlyV4.untilAttached(), both.untilAttached()]);
        await clientSession(address, port, 0, '');
        await waitFor('the accepted end', () => csvRows(both.stdoutLines.join('\n')).some(tool.endsConnection));
        assert.equal(await interrupt(onlyV4), 0, onlyV4.stderrLines.join('\n'));
        assert.equal(await interrupt(both), 0, both.stderrLines.join('\n'));
      } finally {
        onlyV4.child.kill('SIGKILL');
        both.child.kill('SIGKILL');
        await server.close();
      }
      const accepted = csvRows(both.stdoutLines.join('\n')).filter((row) => row.LADDR === `::ffff:${address}`);
      assert.ok(accepted.length >= tool.rowsPerConnection, both.stdoutLines.join('\n'));
      for (const row of accepted) assert.equal(row.IP, '6');
      assert.deepEqual(csvRows(onlyV4.stdoutLines.join('\n')), [], '-4 shows none of the IPv6 end');
    });
  });
}

describe('tcpstates on a terminal: the colour conventions', () => {
  /** Runs tcpstates under script(1), a pseudo-terminal, until its first row
   * on our port; returns what the terminal got. */
  async function onTerminal(env: Record<string, string>, offset: number): Promise<string> {
    const port = testPort(260 + offset);
    const server = await startServer(address(offset), { port: port });
    const clean = { ...process.env };
    // node --test sets FORCE_COLOR=1 in its children when on a terminal.
    delete clean.FORCE_COLOR;
    delete clean.NO_COLOR;
    const child = adopt(
      spawn('script', ['-qec', `"${process.execPath}" "${binPath('tcpstates')}" --count 1 -L ${port}`, '/dev/null'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...clean, ...env },
      }),
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const exited = once(child, 'exit');
    try {
      await waitFor('the header on the terminal', () => out.includes('NEWSTATE'), 15_000);
      await server.connections(1);
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0, out);
    } finally {
      child.kill('SIGKILL');
      await server.close();
    }
    return out;
  }
  const address = (offset: number) => testAddress(70 + offset);
  const ESCAPE = '\x1b[';

  test('TERM=xterm: coloured (the test can tell)', async () => {
    assert.ok((await onTerminal({ TERM: 'xterm' }, 0)).includes(ESCAPE));
  });
  test('TERM=dumb: plain', async () => {
    assert.ok(!(await onTerminal({ TERM: 'dumb' }, 1)).includes(ESCAPE));
  });
  test('FORCE_COLOR=0: plain', async () => {
    assert.ok(!(await onTerminal({ TERM: 'xterm', FORCE_COLOR: '0' }, 2)).includes(ESCAPE));
  });
  test('NO_COLOR=1: plain', async () => {
    assert.ok(!(await onTerminal({ TERM: 'xterm', NO_COLOR: '1' }, 3)).includes(ESCAPE));
  });
  test('TERM=dumb FORCE_COLOR=1: coloured', async () => {
    assert.ok((await onTerminal({ TERM: 'dumb', FORCE_COLOR: '1' }, 4)).includes(ESCAPE));
  });
});

describe('sudo and a per-user Node', () => {
  test('node outside sudo\'s secure_path: the "needs root" message names sudo env "PATH=$PATH"', () => {
    // A node of its own, as nvm installs one under a home directory.
    const home = temporaryDirectory('cli-edges-nvm-');
    chmodSync(home, 0o755);
    const node = `${home}/node`;
    try {
      linkSync(process.execPath, node);
    } catch {
      copyFileSync(process.execPath, node);
      chmodSync(node, 0o755);
    }
    for (const tool of TOOLS) {
      const result = spawnSync(
        'setpriv',
        ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=+dac_read_search', '--ambient-caps=+dac_read_search', node, binPath(tool.name)],
        { encoding: 'utf8', timeout: 20_000 },
      );
      assert.deepEqual(
        { status: result.status, stdout: result.stdout, stderr: result.stderr },
        {
          status: 1,
          stdout: '',
          stderr:
            `${tool.name}: not permitted: loading eBPF programs needs root, or the CAP_BPF and CAP_PERFMON capabilities\n` +
            `${tool.name}: run it as root (sudo env "PATH=$PATH" ${tool.name}), or grant CAP_BPF and CAP_PERFMON\n`,
        },
      );
    }
  });
});
