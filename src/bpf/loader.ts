// SPDX-License-Identifier: MIT
// The BPF object's lifecycle, one function a step: open -> configure
// (.rodata, autoload) -> load (with log buffers; then the filter maps) ->
// create the perf rings -> attach (the rings first, so that no event is
// emitted before they exist). Each step that fails throws a BpfError naming
// the step, its errno and what to do; whatever was already created is
// released in reverse order. The counters are read by bpf/counters.ts.

import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { BpfError, PreflightError, VerifierError } from '../errors.js';
import { bindLibbpf, type Libbpf, type Pointer } from '../ffi/libbpf.js';
import { PerfReader } from '../reader/perf-reader.js';
import { aggregatedEvents, type Aggregates } from '../decode/aggregates.js';
import { openAggregateMaps, sizeAggregateMaps } from './aggregate-maps.js';
import { encodeConfig, type SizedTraceConfig } from './config.js';
import { ZERO_COUNTERS, type KernelCounters } from '../decode/counters.js';
import { counterReader } from './counters.js';
import { DATA_READY_TRACEPOINT, DATA_READY_TRACEPOINT_TYPE, kernelBtfHasName } from './preflight.js';
import { KERNEL_FLOOR } from './features.js';
import { resourceLimitHintHere } from '../sys/limits.js';

/** Names in bpf/tcpstates.bpf.c. */
export const PROGRAM_SET_STATE = 'handle_set_state';
/** Covers the runs of handle_set_state that the kernel skips (nesting). */
export const PROGRAM_SET_STATE_NESTED = 'handle_set_state_nested';
/** tcplife only: owner by use, at the end of every sendmsg/recvmsg. */
export const PROGRAM_SEND = 'handle_send';
export const PROGRAM_RECV = 'handle_recv';
/** tcplife only, when the kernel has sock:sk_data_ready (mainline 6.3): a
 * listener's waiters, when a child is queued. */
export const PROGRAM_DATA_READY = 'handle_data_ready';
/** --existing: the seed (bpf/open_sessions.h). */
export const PROGRAM_SEED_FILES = 'seed_from_files';
export const PROGRAM_SEED_TCP = 'seed_without_files';
/** Open-session passes (tcplife --interval). */
export const PROGRAM_DUMP = 'dump_open_sessions';
/** The seed's socket -> owner notes (1 entry unless --existing). */
export const MAP_FILE_OWNERS = 'file_owners';
/** tcplife's listening ports and their owners (bpf/owner.h), 131,072 entries: sized to 1 where no owner is tracked. */
export const MAP_LISTENERS = 'listeners';
/** Sockets the seed can note the owner of: more are seeded without one (counted). */
export const FILE_OWNERS_MAX = 1 << 19;
/** The per-socket state (bpf/tcpstates.bpf.c), MAX_SOCKETS_DEFAULT entries unless --max-sockets says. */
export const MAP_SK_INFO = 'sk_info';
export const MAP_EVENTS = 'events';
export const MAP_COUNTERS = 'counters';
export const MAP_PIDS = 'pids';
export const MAP_RODATA = '.rodata';

/** The object ships inside the package (dist/bpf); it is never looked up in
 * the working directory or through the environment. */
export const BPF_OBJECT_PATH = fileURLToPath(new URL('../../bpf/tcpstates.bpf.o', import.meta.url));

/** Per-program verifier log buffer, touched only when a load fails. Since
 * Linux 6.4 the kernel keeps the end of an overlong log, which is the part
 * that says why; the pages are not committed unless written. */
export const VERIFIER_LOG_BYTES = 4 << 20;

const { EACCES, EINVAL, EMFILE, ENFILE, ENOENT, ENOMEM, EPERM, ESRCH } = constants.errno;

/** The hints that turn an errno into something to do. */
function hintFor(step: string, errno: number): string | undefined {
  // Perf rings past kernel.perf_event_mlock_kb count against RLIMIT_MEMLOCK
  // (without CAP_IPC_LOCK), and mmap says EPERM when they do not fit.
  if (step === 'create' && errno === EPERM) {
    return 'the perf rings need more locked memory than RLIMIT_MEMLOCK allows: lift it (ulimit -l unlimited, LimitMEMLOCK=infinity, docker run --ulimit memlock=-1), run as root, or use smaller rings (--buffer-pages)';
  }
  if (errno === EMFILE || errno === ENFILE) {
    return 'too many open files: raise the descriptor limit, e.g. ulimit -n 1024 (LimitNOFILE= in a systemd unit)';
  }
  if (errno === ENOMEM) {
    return 'out of memory: check the address-space limit (ulimit -v) and the memory limit of the service or container';
  }
  if (errno === EPERM || errno === EACCES) {
    return 'run as root (e.g. with sudo), or grant CAP_BPF and CAP_PERFMON';
  }
  if (step === 'attach' && errno === ENOENT) {
    return `the kernel lacks the sock:inet_sock_set_state tracepoint (CONFIG_BPF_EVENTS=y): the tools need ${KERNEL_FLOOR}`;
  }
  // ESRCH: libbpf found no usable kernel BTF.
  if (step === 'load' && errno === ESRCH) {
    return 'the kernel BTF (/sys/kernel/btf/vmlinux) could not be read or parsed: it must be the running kernel\'s own, from a kernel built with CONFIG_DEBUG_INFO_BTF=y; rerun with --verbose for libbpf\'s log';
  }
  if (step === 'load' && errno === EINVAL) {
    return `the kernel may lack what the tools need (${KERNEL_FLOOR}); rerun with --verbose for libbpf's log`;
  }
  return undefined;
}

/** libbpf bound; a library that failed to load for want of descriptors or
 * address space says which limit to lift. */
export function bindLibbpfNamingLimits(): Libbpf {
  try {
    return bindLibbpf();
  } catch (error) {
    const hint = error instanceof PreflightError && error.hint === undefined ? resourceLimitHintHere() : undefined;
    throw hint === undefined ? error : new PreflightError((error as PreflightError).message, { hint, cause: error });
  }
}

function withHint(error: unknown): unknown {
  if (error instanceof BpfError && error.hint === undefined) {
    // Out of descriptors or address space, libbpf reports whatever errno its
    // last step left: the limit is the cause to name.
    const hint = resourceLimitHintHere() ?? hintFor(error.step, error.errno);
    if (hint !== undefined) return new BpfError(error.step, error.object, error.errno, { hint, cause: error });
  }
  return error;
}

/** The attached iterators of bpf/open_sessions.h (what OpenTraceOptions.iterators asked for). */
export interface IteratorLinks {
  /** iter/task_file: one instance notes which process holds which socket. */
  readonly seedFiles: Pointer | null;
  /** iter/tcp: one instance per network namespace (the creating thread's). */
  readonly seedTcp: Pointer | null;
  /** iter/tcp: one instance per network namespace per pass. */
  readonly dump: Pointer | null;
}

export interface TraceSession {
  /** No rings when the program emits no record (in-kernel aggregation only). */
  readonly reader: PerfReader;
  /** null (or absent) unless OpenTraceOptions.iterators asked for some.
   * They stay attached after detach() (a last pass at exit), until close(). */
  readonly iterators?: IteratorLinks | null;
  readCounters(): KernelCounters;
  /** The aggregate maps, summed; after close(), as they were at the close.
   * null (or omitted) when the program aggregates nothing. */
  readAggregates?(): Aggregates | null;
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
   * open-session pass (--interval). Off by default: not even loaded. */
  readonly iterators?: IteratorsWanted;
}

export interface IteratorsWanted {
  readonly seed: boolean;
  readonly dump: boolean;
}

/** What was created so far, released newest first: the links (detach),
 * then everything else (close). */
class Held {
  private readonly cleanups: (() => void)[] = [];
  private readonly links: (() => void)[] = [];

  onClose(release: () => void): void {
    this.cleanups.push(release);
  }
  onDetach(release: () => void): void {
    this.links.push(release);
  }
  detach(): void {
    Held.release(this.links);
  }
  close(): void {
    this.detach();
    Held.release(this.cleanups);
  }
  private static release(list: (() => void)[]): void {
    while (list.length > 0) {
      try {
        list.pop()?.();
      } catch {
        // Keep releasing the rest: a failed free must not leave links attached.
      }
    }
  }
}

interface NamedProgram {
  readonly name: string;
  readonly program: Pointer;
}

/** The programs to load and attach, in attach order. */
interface ProgramSet {
  /** handle_set_state, then its nested cover if the object has it. */
  readonly stateChange: readonly NamedProgram[];
  /** tcplife's owner-by-use programs; none for tcpstates. */
  readonly owner: readonly NamedProgram[];
  /** The iterators asked for (seed files, seed tcp, dump), null when not. */
  readonly iterators: readonly [Pointer | null, Pointer | null, Pointer | null];
}

/** No sink, no printing: a load has some 400 messages, each a call into JS
 * and a vsnprintf. */
function routeMessages(libbpf: Libbpf, onLibbpfMessage: ((line: string) => void) | undefined): void {
  libbpf.setPrint(
    onLibbpfMessage === undefined
      ? null
      : (_level, message) => {
          for (const line of message.replace(/\n$/, '').split('\n')) onLibbpfMessage(line);
        },
  );
}

/** Step 1: open the object file. */
function openObject(libbpf: Libbpf, objectPath: string): Pointer {
  try {
    return libbpf.openObject(objectPath);
  } catch (error) {
    if (error instanceof BpfError && error.errno === ENOENT) {
      throw new PreflightError(`BPF object not found: ${objectPath}`, {
        hint: 'build it first: npm run build (needs clang and bpftool)',
        cause: error,
      });
    }
    throw error;
  }
}

/** Step 2: everything the verifier should see as constants (.rodata), and
 * which programs load. */
function configure(libbpf: Libbpf, object: Pointer, config: SizedTraceConfig, wanted: IteratorsWanted): ProgramSet {
  const rodata = libbpf.findMap(object, MAP_RODATA);
  const encoded = encodeConfig(config);
  const rodataSize = libbpf.mapValueSize(rodata);
  if (rodataSize !== encoded.length) {
    throw new BpfError('configure', `.rodata (object has ${rodataSize} bytes, expected ${encoded.length}: rebuild)`, EINVAL);
  }
  libbpf.setInitialValue(rodata, encoded);
  sizeAggregateMaps(libbpf, object, config.mode, config.aggregate);
  if (config.maxSockets !== undefined) libbpf.setMaxEntries(libbpf.findMap(object, MAP_SK_INFO), config.maxSockets);
  const setState = libbpf.findProgram(object, PROGRAM_SET_STATE);
  const findOptional = (name: string): Pointer | null => {
    try {
      return libbpf.findProgram(object, name);
    } catch {
      return null; // an object without it (test fixtures)
    }
  };
  const nested = findOptional(PROGRAM_SET_STATE_NESTED);
  // The owner programs run on all socket I/O: tcpstates does not need
  // them, so they are neither loaded nor attached for it. Nor does
  // tcplife counting in the kernel without -p: no record shows the owner,
  // and no filter asks for it (bpf/aggregate.h owners_needed).
  const noRecords = config.aggregate !== undefined && !config.aggregate.records;
  const owners = config.mode === 'sessions' && (!noRecords || config.pids !== null);
  const owner = [PROGRAM_SEND, PROGRAM_RECV, PROGRAM_DATA_READY].flatMap((name) => {
    const program = findOptional(name);
    if (program === null) return [];
    const wanted = owners && (name !== PROGRAM_DATA_READY || kernelHasDataReady(libbpf));
    libbpf.setAutoload(program, wanted);
    return wanted ? [{ name, program }] : [];
  });
  const stateChange = [{ name: PROGRAM_SET_STATE, program: setState }];
  if (nested !== null) stateChange.push({ name: PROGRAM_SET_STATE_NESTED, program: nested });
  // The iterators: loaded only when asked for, so a plain run loads as before.
  const iterator = (name: string, on: boolean): Pointer | null => {
    const program = findOptional(name);
    if (program !== null) libbpf.setAutoload(program, on);
    if (on && program === null) throw new BpfError('find', `program ${name} (rebuild the BPF object)`, ENOENT);
    return on ? program : null;
  };
  const iterators = [iterator(PROGRAM_SEED_FILES, wanted.seed), iterator(PROGRAM_SEED_TCP, wanted.seed), iterator(PROGRAM_DUMP, wanted.dump)] as const;
  if (wanted.seed) libbpf.setMaxEntries(libbpf.findMap(object, MAP_FILE_OWNERS), FILE_OWNERS_MAX);
  // Its buckets cost the load some 1 ms to allocate, for nothing where no owner is tracked.
  if (!owners) libbpf.setMaxEntries(libbpf.findMap(object, MAP_LISTENERS), 1);
  return { stateChange, owner, iterators };
}

/** Whether the kernel has sock:sk_data_ready: asked of the kernel with a
 * tiny raw tracepoint program (well under 1 ms), else read from the names
 * in its BTF (some 4 ms). */
function kernelHasDataReady(libbpf: Libbpf): boolean {
  return libbpf.rawTracepointExists(DATA_READY_TRACEPOINT) ?? kernelBtfHasName(DATA_READY_TRACEPOINT_TYPE);
}

/** Step 3: load, turning a verifier rejection into a VerifierError with
 * the rejected program's log; then fill the filter maps. */
function load(libbpf: Libbpf, object: Pointer, programs: ProgramSet, config: SizedTraceConfig): void {
  const iterators = [PROGRAM_SEED_FILES, PROGRAM_SEED_TCP, PROGRAM_DUMP].flatMap((name, index) => {
    const program = programs.iterators[index] ?? null;
    return program === null ? [] : [{ name, program }];
  });
  const logBuffers = [...programs.stateChange, ...programs.owner, ...iterators].map(({ name, program }) => ({
    name,
    buffer: libbpf.setLogBuffer(program, VERIFIER_LOG_BYTES),
  }));
  try {
    libbpf.loadObject(object);
  } catch (error) {
    const rejected = error instanceof BpfError ? logBuffers.find(({ buffer }) => buffer.read().length > 0) : undefined;
    if (error instanceof BpfError && rejected !== undefined) {
      const verifierLog = rejected.buffer.read().replace(/\n+$/, '').split('\n');
      throw new VerifierError(`BPF program ${rejected.name}`, error.errno, verifierLog, {
        hint: 'the kernel verifier rejected the program; rerun with --verbose for the whole log',
      });
    }
    throw error;
  } finally {
    // libbpf is done with the buffers once the load returns.
    for (const { buffer } of logBuffers) buffer.free();
  }
  if (config.pids === null) return;
  const pidsFd = libbpf.mapFd(libbpf.findMap(object, MAP_PIDS));
  const key = new Uint8Array(4);
  const one = new Uint8Array([1]);
  for (const pid of config.pids) {
    new DataView(key.buffer).setUint32(0, pid, true);
    libbpf.update(pidsFd, key, one);
  }
}

/** Step 4: the perf rings. Rings are read on a timer, so a wakeup is
 * useless work for the kernel: ask for one only when a ring is half full.
 * None when the program emits no record (it aggregates in the kernel). */
function openRings(libbpf: Libbpf, object: Pointer, config: SizedTraceConfig): PerfReader {
  if (config.aggregate?.records === false) return new PerfReader({ rings: [], free() {} });
  const bufferPages = config.bufferPages;
  const eventsFd = libbpf.mapFd(libbpf.findMap(object, MAP_EVENTS));
  return new PerfReader(libbpf.openPerfRings(eventsFd, bufferPages, (bufferPages * libbpf.pageSize()) / 2));
}

/** Step 5: attach, in this order: on one tracepoint, programs run in the
 * order attached, and handle_set_state_nested must run after handle_set_state. */
function attach(libbpf: Libbpf, programs: readonly Pointer[], held: Held): void {
  for (const program of programs) {
    const link = libbpf.attach(program, 'raw tracepoint');
    held.onDetach(() => libbpf.destroyLink(link));
  }
}

/** Step 6: the iterators, after the tracepoints (a socket the seed finds is
 * then either seeded or already seen by the tracepoint: none falls
 * between). They produce no events: detach leaves them for a last pass. */
function attachIterators(libbpf: Libbpf, programs: ProgramSet['iterators'], held: Held): IteratorLinks | null {
  if (programs.every((program) => program === null)) return null;
  const [seedFiles, seedTcp, dump] = programs.map((program) => {
    if (program === null) return null;
    const link = libbpf.attachIterator(program);
    held.onClose(() => libbpf.destroyLink(link));
    return link;
  });
  return { seedFiles: seedFiles ?? null, seedTcp: seedTcp ?? null, dump: dump ?? null };
}

/**
 * Loads and attaches the tracer. Throws PreflightError, BpfError or
 * VerifierError; on any failure nothing stays loaded or attached.
 */
export function openTrace(libbpf: Libbpf, config: SizedTraceConfig, options: OpenTraceOptions = {}): TraceSession {
  routeMessages(libbpf, options.onLibbpfMessage);
  const held = new Held();
  try {
    const object = openObject(libbpf, options.objectPath ?? BPF_OBJECT_PATH);
    held.onClose(() => libbpf.closeObject(object));
    const programs = configure(libbpf, object, config, options.iterators ?? { seed: false, dump: false });
    load(libbpf, object, programs, config);
    const reader = openRings(libbpf, object, config);
    const aggregateMaps = config.aggregate === undefined ? null : openAggregateMaps(libbpf, object, config.mode, config.aggregate);
    held.onClose(() => reader.close());
    const attached = [...programs.stateChange, ...programs.owner].map(({ program }) => program);
    const countersFd = libbpf.mapFd(libbpf.findMap(object, MAP_COUNTERS));
    const counted = { fds: attached.map((program) => libbpf.programFd(program)), stateChange: programs.stateChange.length };
    attach(libbpf, attached, held);
    const iterators = attachIterators(libbpf, programs.iterators, held);
    const readCounters = counterReader(libbpf, countersFd, counted, () => (aggregateMaps === null ? 0 : aggregatedEvents(aggregateMaps.read(false))));
    let closed = false;
    let lastAggregates: Aggregates | null = null;
    const readAggregates = (): Aggregates | null => (closed ? lastAggregates : (aggregateMaps?.read() ?? null));
    return {
      reader,
      iterators,
      readCounters: () => (closed ? ZERO_COUNTERS : readCounters()),
      readAggregates,
      detach: () => held.detach(),
      close() {
        if (closed) return;
        try {
          // The last look at the maps: detached by now, so it is final.
          lastAggregates = readAggregates();
        } finally {
          closed = true;
          held.close();
        }
      },
    };
  } catch (error) {
    held.close();
    throw withHint(error);
  }
}
