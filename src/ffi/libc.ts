// SPDX-License-Identifier: MIT
// The C library through koffi, bound once for the process: poll, fcntl,
// vsnprintf, sysconf, mallopt, ioctl and the socket calls (socket, connect,
// sendto, close). libbpf.ts and unix-dgram.ts take their libc calls from
// here; the helpers below (isHungUp, signalOnWakeup, systemPageSize,
// pinMallocThresholds, namespaceType) are the few things the rest of the program asks of
// libc directly.

import { koffi } from './koffi.js';

type CFunction = ReturnType<ReturnType<typeof koffi.load>['func']>;

export interface LibcCalls {
  readonly poll: CFunction;
  readonly fcntl: CFunction;
  readonly vsnprintf: CFunction;
  readonly sysconf: CFunction;
  readonly mallopt: CFunction;
  readonly socket: CFunction;
  readonly connect: CFunction;
  readonly sendto: CFunction;
  readonly close: CFunction;
  readonly setns: CFunction;
  readonly ioctl: CFunction;
}

let calls: LibcCalls | null = null;

/** The libc functions, bound on first use (koffi type names are process-wide). */
export function libc(): LibcCalls {
  if (calls !== null) return calls;
  const lib = koffi.load('libc.so.6');
  calls = {
    poll: lib.func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)'),
    fcntl: lib.func('int fcntl(int fd, int cmd, ...)'),
    vsnprintf: lib.func('int vsnprintf(_Out_ uint8_t *buf, size_t size, const char *fmt, void *ap)'),
    sysconf: lib.func('long sysconf(int name)'),
    mallopt: lib.func('int mallopt(int param, int value)'),
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    connect: lib.func('int connect(int fd, const void *addr, uint32_t addrlen)'),
    sendto: lib.func('long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)'),
    close: lib.func('int close(int fd)'),
    setns: lib.func('int setns(int fd, int nstype)'),
    ioctl: lib.func('int ioctl(int fd, unsigned long request, ...)'),
  };
  return calls;
}

/** errno as the last failing libc call left it. */
export function lastErrno(): number {
  return koffi.errno();
}

// from include/uapi/linux/sched.h
const CLONE_NEWNET = 0x40000000;

/**
 * Moves the calling thread (Node's main thread: the only one that runs JS)
 * into the network namespace `fd` refers to. Returns 0, or the errno.
 */
export function enterNetworkNamespace(fd: number): number {
  return (libc().setns(fd, CLONE_NEWNET) as number) === 0 ? 0 : koffi.errno();
}

// from bits/confname.h
const SC_PAGESIZE = 30;
let pageSize = 0;

/** The machine's page size (the perf rings' header page, their data pages). */
export function systemPageSize(): number {
  if (pageSize === 0) pageSize = Number(libc().sysconf(SC_PAGESIZE));
  return pageSize;
}

// from include/uapi/asm-generic/poll.h
const POLLERR = 0x8;
const POLLHUP = 0x10;
const pollFds = new Uint8Array(8); // struct pollfd { int fd; short events; short revents; }
const pollView = new DataView(pollFds.buffer);

/**
 * True when `fd` is a pipe whose reader is gone, or a socket or terminal that
 * hung up: poll(2) reports POLLERR/POLLHUP without writing anything. This is
 * how a tracer on a quiet system notices `| head -5` has exited, instead of
 * waiting for the next event to fail with EPIPE. Regular files never report it.
 */
export function isHungUp(fd: number): boolean {
  const { poll } = libc();
  pollView.setInt32(0, fd, true);
  pollView.setInt16(4, 0, true); // POLLERR and POLLHUP are always reported
  pollView.setInt16(6, 0, true);
  if ((poll(pollFds, 1, 0) as number) <= 0) return false;
  return (pollView.getInt16(6, true) & (POLLERR | POLLHUP)) !== 0;
}

// from include/uapi/asm-generic/fcntl.h
const F_GETFL = 3;
const F_SETFL = 4;
const F_SETOWN = 8;
const F_SETSIG = 10;
const O_ASYNC = 0o20000;

/**
 * Asks the kernel to send this process `signal` whenever one of the perf
 * event `fds` wakes its readers (its ring passed the wakeup watermark):
 * O_ASYNC with F_SETOWN and F_SETSIG. Node's own signal handling then wakes
 * the event loop, so a filling ring is read at once instead of at the next
 * timer tick, with no thread and no FFI call per wakeup. Returns false
 * (and leaves the timer alone to do the reading) if the kernel refuses.
 */
export function signalOnWakeup(fds: readonly number[], signal: number): boolean {
  const { fcntl } = libc();
  const set = (fd: number, command: number, argument: number): number => fcntl(fd, command, 'int', argument) as number;
  for (const fd of fds) {
    if (set(fd, F_SETOWN, process.pid) < 0 || set(fd, F_SETSIG, signal) < 0) return false;
    const flags = set(fd, F_GETFL, 0);
    if (flags < 0 || set(fd, F_SETFL, flags | O_ASYNC) < 0) return false;
  }
  return true;
}

// from malloc/malloc.h (glibc)
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
/** glibc's default for both thresholds. */
const MALLOC_THRESHOLD_BYTES = 128 << 10;

/**
 * Pins glibc's malloc thresholds at their defaults, 128 KiB. By default
 * glibc raises them whenever a block it had mmap'd is freed: the mmap
 * threshold to the block's size, the trim threshold to twice that. Loading
 * the BPF object frees libbpf's 5 MB copy of the kernel BTF, and from then
 * on no heap (the JIT's compiler threads each have one) gave memory back to
 * the system until some 10 MB of it were free at its top: the compilers'
 * scratch memory of the warm-up, freed, stayed resident for good, some 7 MB
 * of peak RSS. Pinned, a heap's free top beyond 128 KiB is handed back, and
 * blocks of 128 KiB or more are mmap'd and unmapped on free (the hot path
 * allocates none). Call it before the load. False if mallopt refused.
 */
export function pinMallocThresholds(): boolean {
  const { mallopt } = libc();
  // Setting either also stops glibc from moving both (no_dyn_threshold).
  const mmapPinned = (mallopt(M_MMAP_THRESHOLD, MALLOC_THRESHOLD_BYTES) as number) === 1;
  const trimPinned = (mallopt(M_TRIM_THRESHOLD, MALLOC_THRESHOLD_BYTES) as number) === 1;
  return mmapPinned && trimPinned;
}

// from include/uapi/linux/nsfs.h: _IO(0xb7, 0x3)
const NS_GET_NSTYPE = 0xb703;

/**
 * The type of the namespace that the open namespace file `fd` refers to, as
 * the kernel says (a CLONE_NEW* flag: CLONE_NEWNET for a network namespace),
 * or null when `fd` is no namespace file (ENOTTY) or the kernel refuses.
 */
export function namespaceType(fd: number): number | null {
  const type = libc().ioctl(fd, NS_GET_NSTYPE) as number;
  return type < 0 ? null : type;
}
