// SPDX-License-Identifier: MIT
// A longer run over many short loopback connections, for every tool: the
// kernel maps are bounded (per-socket state in a hash whose entries go at
// each socket's CLOSE; the listeners hash sized for real servers), the tracer's RSS
// stays flat, and a reused struct sock address never shows a duration from
// the socket that had it before (every new socket's first row is 0.000, no
// duration exceeds the time the test ran).

import { strict as assert } from 'node:assert';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { startServer, testAddress, testPort } from '../../harness/loopback.js';
import { csvRows, TOOLS } from '../../harness/rows.js';
import { bpfObjectsOf, mapName, requireRoot, rssKiB, sleep } from '../../harness/system.js';
import { TracerProcess, type Exit } from '../../harness/tracer-process.js';

requireRoot();

const CONNECTIONS = 25_000;
// from include/uapi/linux/bpf.h: enum bpf_map_type
const BPF_MAP_TYPE_HASH = 1;

for (const [toolIndex, tool] of TOOLS.entries()) {
  describe(`${tool.name}: a long run over ${CONNECTIONS} connections`, () => {
    test('bounded maps, flat RSS, and no duration from a reused socket address', async (t) => {
      const address = testAddress(60 + toolIndex);
      const port = testPort(300 + toolIndex);
      const directory = mkdtempSync(`${tmpdir()}/robust-longrun-`);
      const server = await startServer(address, { port: port });
      // -L sees the server's sockets, -D the clients': every kind of socket,
      // and no other helper's traffic.
      const sides = ['-L', '-D'].map((option) => {
        const file = `${directory}/${option}.csv`;
        const fd = openSync(file, 'w');
        const tracer = TracerProcess.start(['-s', option, String(port)], process.env, { tool: tool.name, stdout: fd });
        closeSync(fd);
        return { option, file, tracer };
      });
      const started = performance.now();
      const rss: number[][] = sides.map(() => []);
      let sampling = true;
      let sampler: Promise<void> = Promise.resolve();
      let stopped: Exit[] = [];
      try {
        for (const { tracer, file } of sides) await waitForFileHeader(tracer, file);
        sampler = (async () => {
          while (sampling) {
            sides.forEach(({ tracer }, index) => rss[index]!.push(rssKiB(tracer.pid)));
            await sleep(250);
          }
        })();

        // Per-socket state is a hash (MAX_SOCKETS, entries allocated as used
        // and deleted at CLOSE); the listeners hash is sized for real servers and its
        // refusals are counted (tcplife; tcpstates tracks no owner: one entry);
        // the PID filter map is only written from user space.
        const maps = bpfObjectsOf(sides[0]!.tracer.pid).maps.map((map) => ({ ...map, name: mapName(map.id) }));
        const byName = (name: string) => maps.find((map) => map.name === name);
        assert.deepEqual(
          ['sk_info', 'listeners', 'pids'].map((name) => [name, Number(byName(name)?.info.map_type), Number(byName(name)?.info.max_entries)]),
          [
            ['sk_info', BPF_MAP_TYPE_HASH, 262144],
            ['listeners', BPF_MAP_TYPE_HASH, tool.name === 'tcplife' ? 131072 : 1],
            ['pids', BPF_MAP_TYPE_HASH, 1024],
          ],
        );

        await server.connections(CONNECTIONS);
        await server.close();
        await sleep(100);
        const elapsedMs = performance.now() - started;
        sampling = false;
        await sampler;
        for (const { tracer } of sides) tracer.child.kill('SIGINT');
        stopped = await Promise.all(sides.map(({ tracer }) => tracer.exited));
        assert.deepEqual(stopped, sides.map(() => ({ code: 0, signal: null })));

        for (const [index, { option, file, tracer }] of sides.entries()) {
          const rows = csvRows(readFileSync(file, 'utf8'));
          const durationsMs = rows.map((row) => Number(row.MS));
          assert.ok(durationsMs.every((ms) => Number.isFinite(ms) && ms >= 0), `${option}: every MS is a number`);
          const longest = durationsMs.reduce((max, ms) => Math.max(max, ms), 0);
          assert.ok(longest <= elapsedMs, `${option}: longest duration ${longest} ms exceeds the ${elapsedMs} ms the test ran`);
          // By address too: another process's ephemeral port may equal ours.
          const served = rows.filter((row) => row.LADDR === address && tool.endsConnection(row));
          if (option === '-L') assert.equal(served.length, CONNECTIONS, 'every connection reported');
          if (tool.opensSocket !== undefined) {
            const opening = rows.filter(tool.opensSocket);
            const notZero = opening.filter((row) => row.MS !== '0.000');
            assert.deepEqual(notZero, [], `${option}: first rows of new sockets show 0.000`);
            // The point of the test: struct sock addresses were reused.
            const addresses = new Set(opening.map((row) => row.SKADDR));
            assert.ok(opening.length >= CONNECTIONS, `${option}: ${opening.length} sockets opened`);
            assert.ok(addresses.size < opening.length / 2, `${option}: ${opening.length} sockets on ${addresses.size} addresses`);
            t.diagnostic(`${option}: ${opening.length} sockets on ${addresses.size} struct sock addresses, longest duration ${longest} ms`);
          }
          assert.match(tracer.stderr.text, new RegExp(`^${tool.name}: \\d+ events read, 0 lost$`, 'm'));

          // RSS after warm-up (the first quarter) stays flat.
          const samples = rss[index]!;
          const settled = samples.slice(Math.floor(samples.length / 4));
          const growthKiB = Math.max(...settled) - settled[0]!;
          t.diagnostic(
            `${option}: ${rows.length} rows in ${(elapsedMs / 1000).toFixed(1)} s; RSS ${samples[0]} -> ${samples.at(-1)} KiB, ` +
              `after warm-up ${settled[0]} -> max ${Math.max(...settled)} KiB (${samples.length} samples)`,
          );
          assert.ok(samples.length >= 10, 'RSS was sampled through the run');
          // 125k rows (tcpstates): a leak of 100 bytes a row would pass 12 MiB.
          // V8's own heap steps stay well under it in a run this short.
          assert.ok(growthKiB < 12 * 1024, `${option}: RSS grew ${growthKiB} KiB after warm-up`);
        }
      } finally {
        sampling = false;
        for (const { tracer } of sides) tracer.child.kill('SIGKILL');
        await server.close();
        rmSync(directory, { recursive: true, force: true });
      }
    });
  });
}

/** The tracer writes to a file: its header there says it attached. */
async function waitForFileHeader(tracer: TracerProcess, file: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!readFileSync(file, 'utf8').includes('\n')) {
    if (Date.now() > deadline) throw new Error(`no header from ${tracer.pid}: ${tracer.stderr.text}`);
    await sleep(10);
  }
}
