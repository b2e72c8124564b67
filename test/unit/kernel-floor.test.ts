// SPDX-License-Identifier: MIT
// The kernel floor (Linux 5.11: BTF-typed tracepoints with socket storage):
// an older kernel gets one clear line before anything is loaded.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { checkKernelVersion, MIN_KERNEL, parseKernelRelease } from '../../src/bpf/preflight.js';
import { PreflightError } from '../../src/errors.js';

test('kernel releases parse to [major, minor]', () => {
  assert.deepEqual(parseKernelRelease('6.18.0-1-amd64'), [6, 18]);
  assert.deepEqual(parseKernelRelease('5.10.0-28-cloud-amd64'), [5, 10]);
  assert.deepEqual(parseKernelRelease('4.19.322'), [4, 19]);
  assert.equal(parseKernelRelease('unknown'), null);
  assert.deepEqual(MIN_KERNEL, [5, 11]);
});

test('5.11 and later pass; older kernels fail with one line that names the floor', () => {
  for (const release of ['5.11.0', '5.15.0-91-generic', '6.1.0-18-amd64', '6.18.0', 'weird']) {
    assert.doesNotThrow(() => checkKernelVersion(release), release);
  }
  for (const release of ['5.10.0-28-amd64', '4.19.0', '3.10.0-1160.el7.x86_64']) {
    assert.throws(
      () => checkKernelVersion(release),
      (error: unknown) =>
        error instanceof PreflightError &&
        error.message === `kernel ${release} is too old: this tool needs Linux 5.11 or later (BTF-typed tracepoints with socket storage)` &&
        !error.message.includes('\n'),
      release,
    );
  }
});
