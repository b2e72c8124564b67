// SPDX-License-Identifier: MIT
// The BPF object's lifecycle: open -> configure (.rodata, autoload, log
// buffers) -> load -> fill filter maps -> create the perf rings -> attach
// (the rings first, so that no event is emitted before they exist). Each step that
// fails throws a BpfError naming the step, its errno and what to do;
// whatever was already created is released in reverse order.

import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { BpfError, PreflightError, VerifierError } from '../errors.js';
import type { Libbpf, Pointer } from '../ffi/libbpf.js';
import { PerfReader } from '../reader/perf-reader.js';
import { encodeConfig, type SizedTraceConfig } from './config.js';

/** Names in bpf/tcpstates.bpf.c. */
export const PROGRAM_SET_STATE = 'handle_set_state';
/** Covers the runs of handle_set_state that the kernel skips (nesting). */
export const PROGRAM_SET_STATE_NESTED = 'handle_set_state_nested';
/** tcplife only: owner by use, at the end of every sendmsg/recvmsg. */
export const PROGRAM_SEND = 'handle_send';
export const PROGRAM_RECV = 'handle_recv';
/** --existing: the seed (bpf/open_sessions.h). */
export const PROGRAM_SEED_FILES = 'seed_from_files';
export const PROGRAM_SEED_TCP = 'seed_without_files';
/** Open-session passes (tcplife --interval). */
export const PROGRAM_DUMP = 'dump_open_sessions';
/** The seed's socket -> owner notes (1 entry unless --existing). */
export const MAP_FILE_OWNERS = 'file_owners';
/** Sockets the seed can note the owner of: more are seeded without one (counted). */
export const FILE_OWNERS_MAX = 1 << 19;
export const MAP_EVENTS = 'events';
export const MAP_COUNTERS = 'counters';
export const MAP_PIDS = 'pids';
export const MAP_RODATA = '.rodata';

/** The object ships inside the package (dist/bpf); it is never looked up in
 * the working directory or through the environment. */
export const BPF_OBJECT_PATH = fileURLToPath(new URL('../../bpf/tcpstates.bpf.o', import.meta.url));

/** Indexes of the `counters` map (enum counter_index in bpf/tcpstates.h),
 * checked by the constants test; COUNTER_MAX is the map's size. */
export const COUNTER_INDEX = {
  COUNTER_EMITTED: 0,
  COUNTER_OUTPUT_FAILED: 1,
  COUNTER_TRACKING_FAILED: 2,
  COUNTER_LISTENER_FAILED: 3,
  COUNTER_NESTED: 4,
  COUNTER_EMITTED_NESTED: 5,
  COUNTER_SEEDED: 6,
  COUNTER_SEED_FAILED: 7,
  COUNTER_SEED_FILES: 8,
  COUNTER_SEED_FILES_REACHED: 9,
  COUNTER_MAX: 10,
} as const;
const {
  COUNTER_EMITTED,
  COUNTER_OUTPUT_FAILED,
  COUNTER_TRACKING_FAILED,
  COUNTER_LISTENER_FAILED,
  COUNTER_NESTED,
  COUNTER_EMITTED_NESTED,
  COUNTER_SEEDED,
  COUNTER_SEED_FAILED,
  COUNTER_SEED_FILES,
  COUNTER_SEED_FILES_REACHED,
} = COUNTER_INDEX;

// from include/uapi/linux/bpf.h: struct bpf_prog_info
const PROG_INFO_SIZE = 232;
const PROG_INFO_RECURSION_MISSES_OFFSET = 208;

export interface KernelCounters {
  /** Events the program wrote to the perf rings. */
  readonly emitted: number;
  /** Events the program could not write: the ring was full. */
  readonly outputFailed: number;
  /** Sockets whose storage could not be allocated (no memory). */
  readonly trackingFailed: number;
  /** Listening ports the listeners map refused (full). */
  readonly listenerFailed: number;
  /** Times a program did not run because it was already running on the CPU
   * and no other program did its work (all programs). */
  readonly recursionMisses: number;
  /** Of those, state changes: transitions not seen. */
  readonly transitionMisses: number;
  /** State changes whose skipped run handle_set_state_nested made up for. */
  readonly nestedCovered: number;
  /** --existing: open sockets the seed gave storage. */
  readonly seeded: number;
  /** --existing: open sockets the seed could not give storage (no memory),
   * or whose owner it could not note. */
  readonly seedFailed: number;
  /** --existing: TCP sockets found in processes' files... */
  readonly seedFiles: number;
  /** ...and of those, found again in a namespace's TCP tables. */
  readonly seedFilesReached: number;
}

export const ZERO_COUNTERS: KernelCounters = {
  emitted: 0,
  outputFailed: 0,
  trackingFailed: 0,
  listenerFailed: 0,
  recursionMisses: 0,
  transitionMisses: 0,
  nestedCovered: 0,
  seeded: 0,
  seedFailed: 0,
  seedFiles: 0,
  seedFilesReached: 0,
};

/** Per-program verifier log buffer, touched only when a load fails. Since
 * Linux 6.4 the kernel keeps the end of an overlong log, which is the part
 * that says why; the pages are not committed unless written. */
export const VERIFIER_LOG_BYTES = 4 << 20;

const { EACCES, EINVAL, ENOENT, EPERM, ESRCH } = constants.errno;

/** The hints that turn an errno into something to do. */
function hintFor(step: string, errno: number): string | undefined {
  // Perf rings past kernel.perf_event_mlock_kb count against RLIMIT_MEMLOCK
  // (without CAP_IPC_LOCK), and mmap says EPERM when they do not fit.
  if (step === 'create' && errno === EPERM) {
    return 'the perf rings need more locked memory than RLIMIT_MEMLOCK allows: lift it (ulimit -l unlimited, LimitMEMLOCK=infinity, docker run --ulimit memlock=-1), run as root, or use smaller rings (--buffer-pages)';
  }
  if (errno === EPERM || errno === EACCES) {
    return 'run as root (e.g. with sudo), or grant CAP_BPF and CAP_PERFMON';
  }
  if (step === 'attach' && errno === ENOENT) {
    return 'the kernel lacks the sock:inet_sock_set_state tracepoint: it needs Linux 4.16 or later built with CONFIG_BPF_EVENTS=y';
  }
  // ESRCH: libbpf found no usable kernel BTF.
  if (step === 'load' && errno === ESRCH) {
    return 'the kernel BTF (/sys/kernel/btf/vmlinux) could not be read or parsed: it must be the running kernel\'s own, from a kernel built with CONFIG_DEBUG_INFO_BTF=y; rerun with --verbose for libbpf\'s log';
  }
  if (step === 'load' && errno === EINVAL) {
    return 'the kernel may lack BTF (CONFIG_DEBUG_INFO_BTF=y) or be older than this program needs; rerun with --verbose for libbpf\'s log';
  }
  return undefined;
}

function withHint(error: unknown): unknown {
  if (error instanceof BpfError && error.hint === undefined) {
    const hint = hintFor(error.step, error.errno);
    if (hint !== undefined) return new BpfError(error.step, error.object, error.errno, { hint, cause: error });
  }
  return error;
}

/** The attached iterators of bpf/open_sessions.h (what OpenTraceOptions.iterators asked for). */
export interface IteratorLinks {
  /** iter/task_file: one instance seeds the sockets of every process. */
  readonly seedFiles: Pointer | null;
  /** iter/tcp: one instance per network namespace (the creating thread's). */
  readonly seedTcp: Pointer | null;
  /** iter/tcp: one instance per network namespace per pass. */
  readonly dump: Pointer | null;
}

export interface TraceSession {
  readonly reader: PerfReader;
  /** null (or absent) unless OpenTraceOptions.iterators asked for some. */
  readonly iterators?: IteratorLinks | null;
  readCounters(): KernelCounters;
  /** Detaches the programs: no new events after this, while the rings and
   * maps stay readable, so a last drain sees everything that was emitted. */
  detach(): void;
  /** Detaches and frees everything; safe to call more than once. */
  close(): void;
}

export interface OpenTraceOptions {
  readonly objectPath?: string;
  /** Receives every libbpf message as it comes (for --verbose). The verifier
   * log is not among them: it comes whole in VerifierError.verifierLog. */
  readonly onLibbpfMessage?: (line: string) => void;
  /** Load and attach the iterator programs: the seed (--existing), the
   * open-session dump (--interval). Off by default: not even loaded. */
  readonly iterators?: { readonly seed: boolean; readonly dump: boolean };
}

/**
 * Loads and attaches the tracer. Throws PreflightError, BpfError or
 * VerifierError; on any failure nothing stays loaded or attached.
 */
export function openTrace(libbpf: Libbpf, config: SizedTraceConfig, options: OpenTraceOptions = {}): TraceSession {
  const { onLibbpfMessage } = options;
  // No sink, no printing: a load has some 400 messages, each a call into JS
  // and a vsnprintf.
  libbpf.setPrint(
    onLibbpfMessage === undefined
      ? null
      : (_level, message) => {
          for (const line of message.replace(/\n$/, '').split('\n')) onLibbpfMessage(line);
        },
  );

  const cleanups: (() => void)[] = [];
  const links: (() => void)[] = [];
  const release = (list: (() => void)[]) => {
    while (list.length > 0) {
      try {
        list.pop()?.();
      } catch {
        // Keep releasing the rest: a failed free must not leave links attached.
      }
    }
  };
  const detachAll = () => release(links);
  const closeAll = () => {
    detachAll();
    release(cleanups);
  };

  try {
    const objectPath = options.objectPath ?? BPF_OBJECT_PATH;
    let object: Pointer;
    try {
      object = libbpf.openObject(objectPath);
    } catch (error) {
      if (error instanceof BpfError && error.errno === ENOENT) {
        throw new PreflightError(`BPF object not found: ${objectPath}`, {
          hint: 'build it first: npm run build (needs clang and bpftool)',
          cause: error,
        });
      }
      throw error;
    }
    cleanups.push(() => libbpf.closeObject(object));

    // configure: everything the verifier should see as constants.
    const rodata = libbpf.findMap(object, MAP_RODATA);
    const encoded = encodeConfig(config);
    const rodataSize = libbpf.mapValueSize(rodata);
    if (rodataSize !== encoded.length) {
      throw new BpfError('configure', `.rodata (object has ${rodataSize} bytes, expected ${encoded.length}: rebuild)`, 22);
    }
    libbpf.setInitialValue(rodata, encoded);
    const setState = libbpf.findProgram(object, PROGRAM_SET_STATE);
    const findOptional = (name: string): Pointer | null => {
      try {
        return libbpf.findProgram(object, name);
      } catch {
        return null; // an object without it (test fixtures)
      }
    };
    const nested = findOptional(PROGRAM_SET_STATE_NESTED);
    // The owner-by-use programs run on all socket I/O: tcpstates does not
    // need them, so they are neither loaded nor attached for it.
    const ownerPrograms = [PROGRAM_SEND, PROGRAM_RECV].flatMap((name) => {
      const program = findOptional(name);
      if (program === null) return [];
      libbpf.setAutoload(program, config.mode === 'sessions');
      return config.mode === 'sessions' ? [{ name, program }] : [];
    });

    // The iterators: loaded only when asked for, so a plain run loads as before.
    const wanted = options.iterators ?? { seed: false, dump: false };
    const iteratorPrograms = (
      [
        [PROGRAM_SEED_FILES, wanted.seed],
        [PROGRAM_SEED_TCP, wanted.seed],
        [PROGRAM_DUMP, wanted.dump],
      ] as const
    ).map(([name, on]) => {
      const program = findOptional(name);
      if (program !== null) libbpf.setAutoload(program, on);
      if (on && program === null) throw new BpfError('find', `program ${name} (rebuild the BPF object)`, ENOENT);
      return { name, program: on ? program : null };
    });
    if (wanted.seed) libbpf.setMaxEntries(libbpf.findMap(object, MAP_FILE_OWNERS), FILE_OWNERS_MAX);

    const stateChangePrograms = [{ name: PROGRAM_SET_STATE, program: setState }];
    if (nested !== null) stateChangePrograms.push({ name: PROGRAM_SET_STATE_NESTED, program: nested });
    const loadedIterators = iteratorPrograms.flatMap(({ name, program }) => (program === null ? [] : [{ name, program }]));
    const logBuffers = [...stateChangePrograms, ...ownerPrograms, ...loadedIterators].map(({ name, program }) => ({
      name,
      buffer: libbpf.setLogBuffer(program, VERIFIER_LOG_BYTES),
    }));
    try {
      libbpf.loadObject(object);
    } catch (error) {
      if (error instanceof BpfError) {
        const rejected = logBuffers.find(({ buffer }) => buffer.read().length > 0);
        if (rejected !== undefined) {
          const verifierLog = rejected.buffer.read().replace(/\n+$/, '').split('\n');
          throw new VerifierError(`BPF program ${rejected.name}`, error.errno, verifierLog, {
            hint: 'the kernel verifier rejected the program; rerun with --verbose for the whole log',
          });
        }
      }
      throw error;
    } finally {
      // libbpf is done with the buffers once the load returns.
      for (const { buffer } of logBuffers) buffer.free();
    }

    if (config.pids !== null) {
      const pidsFd = libbpf.mapFd(libbpf.findMap(object, MAP_PIDS));
      const key = new Uint8Array(4);
      const one = new Uint8Array([1]);
      for (const pid of config.pids) {
        new DataView(key.buffer).setUint32(0, pid, true);
        libbpf.update(pidsFd, key, one);
      }
    }

    const eventsFd = libbpf.mapFd(libbpf.findMap(object, MAP_EVENTS));
    const countersFd = libbpf.mapFd(libbpf.findMap(object, MAP_COUNTERS));
    const pageBytes = libbpf.pageSize();
    // Rings are read on a timer, so a wakeup is useless work for the kernel:
    // ask for one only when a ring is half full.
    const rings = libbpf.openPerfRings(eventsFd, config.bufferPages, (config.bufferPages * pageBytes) / 2);
    const reader = new PerfReader(rings);
    cleanups.push(() => reader.close());

    // In this order: on one tracepoint, programs run in the order attached,
    // and handle_set_state_nested must run after handle_set_state.
    const programs = [...stateChangePrograms, ...ownerPrograms].map(({ program }) => program);
    const programFds = programs.map((program) => libbpf.programFd(program));
    for (const program of programs) {
      const link = libbpf.attach(program, 'raw tracepoint');
      links.push(() => libbpf.destroyLink(link));
    }

    // After the tracepoints: a socket the seed finds is then either seeded
    // or already seen by the tracepoint; none falls between.
    const attachIterator = (index: number): Pointer | null => {
      const program = iteratorPrograms[index]!.program;
      if (program === null) return null;
      const link = libbpf.attachIterator(program);
      links.push(() => libbpf.destroyLink(link));
      return link;
    };
    const iterators: IteratorLinks | null =
      wanted.seed || wanted.dump
        ? {
            seedFiles: attachIterator(0),
            seedTcp: attachIterator(1),
            dump: attachIterator(2),
          }
        : null;

    const cpus = libbpf.possibleCpus();
    const perCpu = new Uint8Array(cpus * 8);
    const perCpuView = new DataView(perCpu.buffer);
    const key = new Uint8Array(4);
    const sumCounter = (index: number): number => {
      new DataView(key.buffer).setUint32(0, index, true);
      if (!libbpf.lookup(countersFd, key, perCpu)) return 0;
      let total = 0;
      for (let cpu = 0; cpu < cpus; cpu++) total += Number(perCpuView.getBigUint64(cpu * 8, true));
      return total;
    };
    const info = new Uint8Array(PROG_INFO_SIZE);
    const infoView = new DataView(info.buffer);
    const missesOf = (fd: number): number => {
      info.fill(0);
      const filled = libbpf.objectInfo(fd, info);
      return filled > PROG_INFO_RECURSION_MISSES_OFFSET ? Number(infoView.getBigUint64(PROG_INFO_RECURSION_MISSES_OFFSET, true)) : 0;
    };

    let closed = false;
    return {
      reader,
      iterators,
      readCounters: () => {
        if (closed) return ZERO_COUNTERS;
        const misses = programFds.map(missesOf);
        const nestedCovered = sumCounter(COUNTER_NESTED);
        // handle_set_state's skipped runs, less those made up for; the nested
        // program's own skips are not losses (handle_set_state ran then).
        const transitionMisses = Math.max(0, (misses[0] ?? 0) - nestedCovered);
        const ownerMisses = misses.slice(stateChangePrograms.length).reduce((total, value) => total + value, 0);
        return {
          // Two counters: the first program's usual runs count without an atomic.
          emitted: sumCounter(COUNTER_EMITTED) + sumCounter(COUNTER_EMITTED_NESTED),
          outputFailed: sumCounter(COUNTER_OUTPUT_FAILED),
          trackingFailed: sumCounter(COUNTER_TRACKING_FAILED),
          listenerFailed: sumCounter(COUNTER_LISTENER_FAILED),
          recursionMisses: transitionMisses + ownerMisses,
          transitionMisses,
          nestedCovered,
          seeded: sumCounter(COUNTER_SEEDED),
          seedFailed: sumCounter(COUNTER_SEED_FAILED),
          seedFiles: sumCounter(COUNTER_SEED_FILES),
          seedFilesReached: sumCounter(COUNTER_SEED_FILES_REACHED),
        };
      },
      detach: detachAll,
      close() {
        closed = true;
        closeAll();
      },
    };
  } catch (error) {
    closeAll();
    throw withHint(error);
  }
}
