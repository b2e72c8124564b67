// SPDX-License-Identifier: MIT
// Checks made before touching libbpf, so that the common failures get a
// message that says what is missing and what to do, instead of an errno.

import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { PreflightError } from '../errors.js';

// from include/uapi/linux/capability.h
const CAP_SYS_ADMIN = 21n;
const CAP_IPC_LOCK = 14n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

export const VMLINUX_BTF_PATH = '/sys/kernel/btf/vmlinux';

/** The effective capability set of this process, from /proc/self/status. */
export function effectiveCapabilities(status: string): bigint {
  const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return match ? BigInt(`0x${match[1]}`) : 0n;
}

/**
 * Whether this process may lock memory beyond RLIMIT_MEMLOCK, as perf rings
 * past kernel.perf_event_mlock_kb need: CAP_IPC_LOCK (root has it), or that
 * limit lifted (`ulimit -l unlimited`, LimitMEMLOCK=infinity). From
 * /proc/self/status and /proc/self/limits.
 */
export function canLockMemory(status: string, limits: string): boolean {
  if (hasCapability(effectiveCapabilities(status), CAP_IPC_LOCK)) return true;
  return /^Max locked memory\s+unlimited\s/m.test(limits);
}

function hasCapability(capabilities: bigint, cap: bigint): boolean {
  return ((capabilities >> cap) & 1n) === 1n;
}

export function hasTracingCapabilities(capabilities: bigint): boolean {
  const has = (cap: bigint) => hasCapability(capabilities, cap);
  return (has(CAP_BPF) && has(CAP_PERFMON)) || has(CAP_SYS_ADMIN);
}

/** The directories sudo searches by default (Debian's and Ubuntu's
 * secure_path): a node found elsewhere is not found under sudo. */
const SUDO_SECURE_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin', '/snap/bin'];

/**
 * The command that runs `tool` as root. With Node installed per user (nvm,
 * fnm, volta, a home directory), sudo's secure_path has no node in it and
 * `sudo tool` fails with "env: node: No such file or directory": keeping the
 * user's PATH makes both the tool and node found.
 */
export function sudoCommand(tool: string, execPath: string = process.execPath): string {
  const nodeDirectory = execPath.slice(0, execPath.lastIndexOf('/')) || '/';
  return SUDO_SECURE_PATH.includes(nodeDirectory) ? `sudo ${tool}` : `sudo env "PATH=$PATH" ${tool}`;
}

/** @throws PreflightError without CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN). */
export function checkPrivileges(
  tool: string,
  status = readFileSync('/proc/self/status', 'utf8'),
  execPath: string = process.execPath,
): void {
  if (!hasTracingCapabilities(effectiveCapabilities(status))) {
    throw new PreflightError('not permitted: loading eBPF programs needs root, or the CAP_BPF and CAP_PERFMON capabilities', {
      hint: `run it as root (${sudoCommand(tool, execPath)}), or grant CAP_BPF and CAP_PERFMON`,
    });
  }
}

/** struct btf_header (include/uapi/linux/btf.h): 24 bytes, magic 0xeB9F. */
const BTF_MAGIC = 0xeb9f;
const BTF_HEADER_BYTES = 24;

/**
 * What is wrong with the BTF in `bytes` (its first bytes) of a file of
 * `fileBytes`, or null when its header is sound: libbpf only says ESRCH
 * ("no kernel BTF") for an empty, truncated or foreign file.
 */
export function btfHeaderProblem(bytes: Uint8Array, fileBytes: number): string | null {
  if (fileBytes === 0) return 'the file is empty';
  if (bytes.length < BTF_HEADER_BYTES) return `the file is too short for BTF (${fileBytes} bytes)`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The kernel writes it in its own byte order, which is ours.
  if (view.getUint16(0, true) !== BTF_MAGIC && view.getUint16(0, false) !== BTF_MAGIC) return 'it is not BTF data (bad magic)';
  const little = view.getUint16(0, true) === BTF_MAGIC;
  const headerBytes = view.getUint32(4, little);
  const typeEnd = headerBytes + view.getUint32(8, little) + view.getUint32(12, little);
  const stringEnd = headerBytes + view.getUint32(16, little) + view.getUint32(20, little);
  if (headerBytes < BTF_HEADER_BYTES || view.getUint32(12, little) === 0 || view.getUint32(20, little) === 0) return 'its BTF header is invalid';
  if (typeEnd > fileBytes || stringEnd > fileBytes) return `it is truncated (${fileBytes} bytes, the header says ${Math.max(typeEnd, stringEnd)})`;
  return null;
}

/** @throws PreflightError when the kernel exposes no BTF (CO-RE needs it),
 * or BTF that cannot be read. */
export function checkKernel(btfPath = VMLINUX_BTF_PATH): void {
  if (!existsSync(btfPath)) {
    throw new PreflightError(`kernel BTF not found at ${btfPath}: the kernel was built without BTF type information`, {
      hint: 'this needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (the default in most distributions since Linux 5.4)',
    });
  }
  let problem: string | null;
  try {
    const fd = openSync(btfPath, 'r');
    try {
      const header = new Uint8Array(BTF_HEADER_BYTES);
      const read = readSync(fd, header, 0, BTF_HEADER_BYTES, 0);
      problem = btfHeaderProblem(header.subarray(0, read), fstatSync(fd).size);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    problem = `${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  }
  if (problem !== null) {
    throw new PreflightError(`cannot read the kernel BTF at ${btfPath}: ${problem}`, {
      hint: `it must be the running kernel's own: check that nothing is mounted over /sys/kernel/btf (findmnt /sys/kernel/btf), or boot a kernel built with CONFIG_DEBUG_INFO_BTF=y`,
    });
  }
}

/** The sock:sk_data_ready tracepoint, which tcplife's listener-waiter
 * program needs; without it (mainline before 6.3) that program is not loaded. */
export const DATA_READY_TRACEPOINT = 'sk_data_ready';

/** The type the kernel's BTF has for it (btf_trace_<event>, what libbpf
 * looks up to attach a tp_btf program). */
export const DATA_READY_TRACEPOINT_TYPE = `btf_trace_${DATA_READY_TRACEPOINT}`;

/** The string section of a BTF blob whose first bytes are `header`: [offset, bytes]. */
function btfStringSection(header: Uint8Array): [number, number] {
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const little = view.getUint16(0, true) === BTF_MAGIC;
  return [view.getUint32(4, little) + view.getUint32(16, little), view.getUint32(20, little)];
}

/** Whether `strings` (a BTF string section: NUL-separated) holds `name`
 * whole, pure. Kernel BTF strings are the names of its types and members,
 * so a typedef's name is there only when the typedef is. */
export function btfStringsHave(strings: Uint8Array, name: string): boolean {
  return Buffer.from(strings.buffer, strings.byteOffset, strings.byteLength).includes(`\0${name}\0`);
}

/** The kernel BTF's string section, read alone (not the types; some 4 ms,
 * so start-up asks the kernel first: Libbpf.rawTracepointExists); null when
 * it cannot be read (the load then says why). */
function kernelBtfStrings(btfPath: string): Buffer | null {
  try {
    const fd = openSync(btfPath, 'r');
    try {
      const header = new Uint8Array(BTF_HEADER_BYTES);
      if (readSync(fd, header, 0, BTF_HEADER_BYTES, 0) < BTF_HEADER_BYTES || btfHeaderProblem(header, fstatSync(fd).size) !== null) return null;
      const [offset, bytes] = btfStringSection(header);
      const strings = Buffer.alloc(bytes);
      // sysfs hands a binary attribute out a page or so per read.
      let filled = 0;
      for (let read = 1; read > 0 && filled < bytes; filled += read) read = readSync(fd, strings, filled, bytes - filled, offset + filled);
      return filled === bytes ? strings : null;
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
}

/** Whether the kernel BTF names `name`; false when it cannot be read. */
export function kernelBtfHasName(name: string, btfPath = VMLINUX_BTF_PATH): boolean {
  const strings = kernelBtfStrings(btfPath);
  return strings !== null && btfStringsHave(strings, name);
}

/** What --existing and --interval load: the iterator targets (their
 * bpf_iter_<target> functions in the kernel BTF) and the helper that finds a
 * file's socket. All came by Linux 5.11. */
export const ITERATOR_SYMBOLS: readonly string[] = ['bpf_iter_tcp', 'bpf_iter_task_file', 'bpf_sock_from_file'];

/** The symbols of ITERATOR_SYMBOLS that a BTF string section lacks, pure. */
export function missingIteratorSymbols(strings: Uint8Array): string[] {
  return ITERATOR_SYMBOLS.filter((name) => !btfStringsHave(strings, name));
}

/** @throws PreflightError when the kernel lacks what `option` needs. */
export function checkIterators(option: string, btfPath = VMLINUX_BTF_PATH): void {
  const strings = kernelBtfStrings(btfPath);
  if (strings === null) return; // checkKernel reports an unreadable BTF
  const missing = missingIteratorSymbols(strings);
  if (missing.length > 0) {
    // One line, no hint: the message says what to do.
    throw new PreflightError(`${option}: this kernel lacks the BPF iterators it needs (${missing.join(', ')}; Linux 5.11 or later): run without ${option}`);
  }
}
