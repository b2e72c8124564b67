// SPDX-License-Identifier: MIT
// Checks made before touching libbpf, so that the common failures get a
// message that says what is missing and what to do, instead of an errno.

import { existsSync, readFileSync } from 'node:fs';
import { PreflightError } from '../errors.js';

// from include/uapi/linux/capability.h
const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

export const VMLINUX_BTF_PATH = '/sys/kernel/btf/vmlinux';

/** The effective capability set of this process, from /proc/self/status. */
export function effectiveCapabilities(status: string): bigint {
  const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return match ? BigInt(`0x${match[1]}`) : 0n;
}

export function hasTracingCapabilities(capabilities: bigint): boolean {
  const has = (cap: bigint) => ((capabilities >> cap) & 1n) === 1n;
  return (has(CAP_BPF) && has(CAP_PERFMON)) || has(CAP_SYS_ADMIN);
}

/** @throws PreflightError without CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN). */
export function checkPrivileges(tool: string, status = readFileSync('/proc/self/status', 'utf8')): void {
  if (!hasTracingCapabilities(effectiveCapabilities(status))) {
    throw new PreflightError('not permitted: loading eBPF programs needs root, or the CAP_BPF and CAP_PERFMON capabilities', {
      hint: `run it as root (sudo ${tool}), or grant CAP_BPF and CAP_PERFMON`,
    });
  }
}

/** @throws PreflightError when the kernel exposes no BTF (CO-RE needs it). */
export function checkKernel(btfPath = VMLINUX_BTF_PATH): void {
  if (!existsSync(btfPath)) {
    throw new PreflightError(`kernel BTF not found at ${btfPath}: the kernel was built without BTF type information`, {
      hint: 'this needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (the default in most distributions since Linux 5.4)',
    });
  }
}

/** The oldest kernel the program runs on: BTF-typed tracepoints with socket
 * storage from a tracing program (bpf_sk_storage_get) came in Linux 5.11. */
export const MIN_KERNEL: readonly [number, number] = [5, 11];

/** [major, minor] of a `uname -r` release ("6.18.0-1-amd64"), or null. */
export function parseKernelRelease(release: string): [number, number] | null {
  const match = /^(\d+)\.(\d+)/.exec(release);
  return match ? [Number(match[1]), Number(match[2])] : null;
}

/** @throws PreflightError on a kernel older than MIN_KERNEL. */
export function checkKernelVersion(release = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()): void {
  const version = parseKernelRelease(release);
  if (version === null) return; // unknown scheme: let the load decide
  const [major, minor] = version;
  if (major < MIN_KERNEL[0] || (major === MIN_KERNEL[0] && minor < MIN_KERNEL[1])) {
    throw new PreflightError(`kernel ${release} is too old: this tool needs Linux ${MIN_KERNEL.join('.')} or later (BTF-typed tracepoints with socket storage)`, {
      hint: 'run it on Linux 5.11 or later, or use bcc\'s tcpstates/tcplife on this kernel',
    });
  }
}
