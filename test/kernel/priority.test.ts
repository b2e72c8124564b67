// SPDX-License-Identifier: MIT
// The reader's priority (root, real kernel): started at nice 0, a tool gives
// itself READER_NICE so a burst from many busy processes cannot starve it
// while the rings fill; started at another nice value, it keeps that one.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { procStatFields } from '../../bench/parse.js';
import { READER_NICE } from '../../src/trace/run.js';
import { requireRoot } from '../../harness/system.js';
import { TracerProcess } from '../../harness/tracer-process.js';

requireRoot();

/** The nice value of a process's main thread (field 19 of /proc/PID/stat),
 * or of one of its threads (/proc/PID/task/TID/stat). */
function niceOf(pid: number, tid = pid): number {
  return Number(procStatFields(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'))[16]);
}

for (const tool of ['tcpstates', 'tcplife']) {
  test(`${tool} started at nice 0 reads at nice ${READER_NICE}`, async () => {
    const tracer = await TracerProcess.attach(tool, [], { wrapper: ['nice', '-n', '0'] });
    try {
      assert.equal(niceOf(tracer.pid), READER_NICE);
      // Every thread: a nice value is per thread, and V8's compiler threads
      // left behind compiled the warm-up's code late under load.
      const threads = readdirSync(`/proc/${tracer.pid}/task`).map(Number);
      assert.ok(threads.length > 1, `${threads.length} threads`);
      assert.deepEqual(
        threads.map((tid) => niceOf(tracer.pid, tid)),
        threads.map(() => READER_NICE),
      );
    } finally {
      await tracer.stop();
    }
  });
}

test('a tool started at another nice value keeps it', async () => {
  const tracer = await TracerProcess.attach('tcpstates', [], { wrapper: ['nice', '-n', '5'] });
  try {
    assert.equal(niceOf(tracer.pid), 5);
  } finally {
    await tracer.stop();
  }
});
