// SPDX-License-Identifier: MIT
// The perf rings' size (root, real kernel): without --buffer-pages, a ring
// per online CPU sized to the machine and to what the process may lock
// (bpf/config.ts machineRingPages: root has CAP_IPC_LOCK, which a container
// may drop); with it, exactly the pages asked for.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { machineRingPages } from '../../src/bpf/config.js';
import { canLockMemory } from '../../src/bpf/preflight.js';
import { requireRoot } from '../../harness/system.js';
import { TracerProcess } from '../../harness/tracer-process.js';

requireRoot();

const PAGE_BYTES = 4096;
/** The tracer inherits this process's capabilities and limits. */
const MAY_LOCK = canLockMemory(readFileSync('/proc/self/status', 'utf8'), readFileSync('/proc/self/limits', 'utf8'));

/** Sizes in bytes of the perf rings mapped by `pid` (a header page and the data pages each). */
function perfMappingBytes(pid: number): number[] {
  return readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .filter((line) => line.endsWith('anon_inode:[perf_event]'))
    .map((line) => {
      const [start, end] = (line.split(' ')[0] ?? '').split('-').map((hex) => Number.parseInt(hex, 16));
      return (end ?? 0) - (start ?? 0);
    });
}

for (const [args, pages, what] of [
  [[], machineRingPages(cpus().length, PAGE_BYTES, MAY_LOCK), `no --buffer-pages: sized to the machine${MAY_LOCK ? ', may lock memory' : ''}`],
  [['--buffer-pages', '16'], 16, '--buffer-pages 16'],
] as const) {
  test(`${what}: ${cpus().length} rings of ${pages} pages`, async () => {
    const tracer = await TracerProcess.attach('tcpstates', args);
    try {
      assert.deepEqual(perfMappingBytes(tracer.pid), Array.from({ length: cpus().length }, () => (pages + 1) * PAGE_BYTES));
    } finally {
      await tracer.stop();
    }
  });
}
