// SPDX-License-Identifier: MIT
// The last rough edges of the CLI on the real kernel: a Ctrl-C during
// start-up, a stdout that fails every write (/dev/full), an unreadable
// kernel BTF, --no-header, repeated list options, and what -4 leaves out.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { LoopbackServer, TOOLS, binPath, csvRows, sleep, startTracer, testAddress, testPort, waitFor, waitForAttach } from './robust-helpers.js';

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
        const tracer = startTracer(tool.name, ['-L', String(testPort(40))]);
        const deadline = Date.now() + 10_000;
        // A tight poll: the window between koffi's load and the tracing loop is ~20 ms.
        while (!koffiMapped(tracer.pid)) {
          assert.ok(Date.now() < deadline, 'koffi never mapped');
          await new Promise((resolve) => setImmediate(resolve));
        }
        tracer.child.kill('SIGINT');
        const [code, signal] = await tracer.exited;
        assert.deepEqual({ code, signal }, { code: 0, signal: null }, `stderr: ${tracer.stderr()}`);
        const lines = tracer.stderr().split('\n').filter(Boolean);
        assert.equal(lines.length, 1, tracer.stderr());
        assert.match(lines[0]!, FINAL_LINE(tool.name));
      });
    }
  });
}
