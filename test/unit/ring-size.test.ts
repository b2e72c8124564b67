// SPDX-License-Identifier: MIT
// The perf rings' size when --buffer-pages is not given (bpf/config.ts
// machineRingPages), and whether the process may lock memory for bigger
// ones (bpf/preflight.ts canLockMemory).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { machineRingPages, RING_BASE_BYTES } from '../../src/bpf/config.js';
import { canLockMemory } from '../../src/bpf/preflight.js';

const PAGE = 4096;

test('without the right to lock memory: 4 MiB per CPU whatever the CPU count', () => {
  for (const cpus of [1, 2, 4, 64, 256]) assert.equal(machineRingPages(cpus, PAGE, false), 1024, `${cpus} CPUs`);
});

test('with it: the CPUs share 16 MiB, each ring 4 to 16 MiB, a power of two', () => {
  const expected: [number, number][] = [
    [1, 4096],
    [2, 2048],
    [3, 1024], // 5.3 MiB each: the power of two below
    [4, 1024],
    [8, 1024], // 2 MiB each would be below the base
    [128, 1024],
  ];
  for (const [cpus, pages] of expected) assert.equal(machineRingPages(cpus, PAGE, true), pages, `${cpus} CPUs`);
});

test('64 KiB pages: the same bytes in fewer pages', () => {
  assert.equal(machineRingPages(2, 65536, false), RING_BASE_BYTES / 65536);
  assert.equal(machineRingPages(2, 65536, true), 128);
});

const STATUS_ROOT = 'Name:\tnode\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n';
// CAP_BPF (39) and CAP_PERFMON (38) only, as the container and the systemd unit run it.
const STATUS_BPF_ONLY = 'Name:\tnode\nCapEff:\t000000c000000000\n';
const LIMITS_8MIB = 'Limit                     Soft Limit           Hard Limit           Units     \nMax locked memory         8388608              8388608              bytes     \n';
const LIMITS_UNLIMITED = 'Limit                     Soft Limit           Hard Limit           Units     \nMax locked memory         unlimited            unlimited            bytes     \n';

test('may lock memory: CAP_IPC_LOCK, or RLIMIT_MEMLOCK lifted', () => {
  assert.equal(canLockMemory(STATUS_ROOT, LIMITS_8MIB), true);
  assert.equal(canLockMemory(STATUS_BPF_ONLY, LIMITS_8MIB), false);
  assert.equal(canLockMemory(STATUS_BPF_ONLY, LIMITS_UNLIMITED), true);
  assert.equal(canLockMemory('', ''), false);
});
