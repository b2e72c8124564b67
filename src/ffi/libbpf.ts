// SPDX-License-Identifier: MIT
// The system libbpf (libbpf.so.1) through koffi (its libc calls come from
// libc.ts). Everything outside src/ffi/ sees the `Libbpf` interface below,
// whose methods turn libbpf's conventions (NULL + errno, negative errno)
// into thrown BpfErrors named after the failing step.

import { koffi } from './koffi.js';
import { constants } from 'node:os';
import { BpfError, PreflightError } from '../errors.js';
import { libc, systemPageSize } from './libc.js';

/** An opaque libbpf pointer (struct bpf_object *, struct bpf_map *...). */
export type Pointer = bigint;

/** One per-CPU perf ring, mapped once: `memory` is the whole mmap'd area
 * (the perf_event_mmap_page header page followed by the data pages). */
export interface MappedRing {
  readonly index: number;
  readonly memory: ArrayBuffer;
  readonly pageSize: number;
  readonly dataSize: number;
  /** The ring's perf event fd (for wakeups), if it has one. */
  readonly fd?: number;
}

export interface PerfRings {
  readonly rings: readonly MappedRing[];
  free(): void;
}

/** A verifier log buffer owned by JS memory outside the V8 heap. */
export interface LogBuffer {
  /** The log as the kernel left it ('' when the load did not fail). */
  read(): string;
  free(): void;
}

export interface Libbpf {
  /** Route libbpf's messages (warnings, the verifier log) to `sink`; null:
   * libbpf prints nothing. */
  setPrint(sink: ((level: number, message: string) => void) | null): void;
  openObject(path: string): Pointer;
  closeObject(object: Pointer): void;
  findMap(object: Pointer, name: string): Pointer;
  findProgram(object: Pointer, name: string): Pointer;
  /** Every program of the object, in its order. */
  programs(object: Pointer): Pointer[];
  /** Whether libbpf can load and parse the running kernel's BTF. */
  kernelBtfLoads(): boolean;
  mapValueSize(map: Pointer): number;
  mapFd(map: Pointer): number;
  setInitialValue(map: Pointer, data: Uint8Array): void;
  setAutoload(program: Pointer, autoload: boolean): void;
  /** Whether the load creates `map` (libbpf 1.0's bpf_map__set_autocreate). */
  setAutocreate(map: Pointer, autocreate: boolean): void;
  /** Before the load: the map's size (bpf_map__set_max_entries). */
  setMaxEntries(map: Pointer, entries: number): void;
  /** Gives `program` its own verifier log buffer. libbpf fills it only when
   * the load fails (it then retries at log level 1) and no longer prints the
   * log itself, so the whole log is kept instead of one print buffer's worth. */
  setLogBuffer(program: Pointer, sizeBytes: number): LogBuffer;
  loadObject(object: Pointer): void;
  programFd(program: Pointer): number;
  attach(program: Pointer, what: string): Pointer;
  /** Attaches a BPF iterator program (bpf_program__attach_iter), with no
   * options: iterators over tasks, files and sockets need none. */
  attachIterator(program: Pointer): Pointer;
  /** A new instance of an attached iterator (bpf_iter_create): an fd whose
   * read()s run the program over the objects, until read() returns 0. */
  createIterator(link: Pointer): number;
  destroyLink(link: Pointer): void;
  /** Per-CPU perf rings for a BPF_MAP_TYPE_PERF_EVENT_ARRAY, with a wakeup
   * watermark instead of libbpf's default of one wakeup per event. */
  openPerfRings(mapFd: number, pageCount: number, wakeupWatermarkBytes: number): PerfRings;
  lookup(mapFd: number, key: Uint8Array, value: Uint8Array): boolean;
  /** The first `count` elements of an array map, in one call: their values
   * (per-CPU maps: one copy per possible CPU each) into `values`. */
  lookupArray(mapFd: number, count: number, values: Uint8Array): void;
  /** The key after `key` (the first when null) into `next`; false at the end. */
  nextKey(mapFd: number, key: Uint8Array | null, next: Uint8Array): boolean;
  update(mapFd: number, key: Uint8Array, value: Uint8Array): void;
  /** bpf_obj_get_info_by_fd into `info`; returns the length the kernel filled. */
  objectInfo(fd: number, info: Uint8Array): number;
  possibleCpus(): number;
  /** Whether the kernel has the tracepoint `name`: a two-instruction raw
   * tracepoint program attached to it by name and closed at once; null when
   * that probe could not tell (it could not load, or another error). */
  rawTracepointExists(name: string): boolean | null;
  /** The machine's page size: a perf ring is a header page and data pages. */
  pageSize(): number;
}

// from include/uapi/linux/bpf.h: enum bpf_prog_type
const BPF_PROG_TYPE_RAW_TRACEPOINT = 17;
/** r0 = 0; exit: a program that does nothing (BPF_MOV64_IMM, BPF_EXIT_INSN). */
const RETURN_ZERO = new Uint8Array([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);

// from include/uapi/linux/perf_event.h
const PERF_TYPE_SOFTWARE = 1;
const PERF_COUNT_SW_BPF_OUTPUT = 10;
const PERF_SAMPLE_RAW = 1 << 10;
const PERF_ATTR_FLAG_WATERMARK = 1n << 14n;
const PERF_ATTR_SIZE_VER0 = 64;

/** A struct perf_event_attr (first PERF_ATTR_SIZE_VER0 bytes, which the
 * kernel accepts as is): a BPF output event, sampling raw data, waking a
 * reader only once `wakeupWatermarkBytes` are in the ring. */
export function perfEventAttr(wakeupWatermarkBytes: number): Uint8Array {
  const attr = new Uint8Array(PERF_ATTR_SIZE_VER0);
  const view = new DataView(attr.buffer);
  view.setUint32(0, PERF_TYPE_SOFTWARE, true); // type
  view.setUint32(4, PERF_ATTR_SIZE_VER0, true); // size
  view.setBigUint64(8, BigInt(PERF_COUNT_SW_BPF_OUTPUT), true); // config
  view.setBigUint64(16, 1n, true); // sample_period
  view.setBigUint64(24, BigInt(PERF_SAMPLE_RAW), true); // sample_type
  view.setBigUint64(40, PERF_ATTR_FLAG_WATERMARK, true); // flags bitfield
  view.setUint32(48, wakeupWatermarkBytes, true); // wakeup_watermark
  return attr;
}

/**
 * Binds the system libbpf. Throws PreflightError when the library cannot be
 * loaded; `libraryPath` is only ever a library name or a path chosen by the
 * program itself (tests pass a missing one), never user input.
 */
export function bindLibbpf(libraryPath = 'libbpf.so.1'): Libbpf {
  // koffi type names are process-wide: bind once, hand out the same binding.
  let binding = bindings.get(libraryPath);
  if (binding === undefined) {
    binding = bind(libraryPath);
    bindings.set(libraryPath, binding);
  }
  return binding;
}

const bindings = new Map<string, Libbpf>();

/** Why the dynamic loader could not load libbpf, from its message (dlerror):
 * present but not mappable for want of address space or descriptors, or
 * else missing (or no shared library: the same advice). */
export function libraryLoadError(libraryPath: string, dlerror: string, cause?: unknown): PreflightError {
  const reason = /Cannot allocate memory|failed to map segment/.test(dlerror)
    ? 'ENOMEM (no address space to map it)'
    : /Too many open files/.test(dlerror)
      ? 'EMFILE (too many open files)'
      : null;
  // The limit to lift is named by the caller (bpf/loader.ts bindLibbpfNamingLimits).
  if (reason !== null) return new PreflightError(`cannot load ${libraryPath}: ${reason}`, { cause });
  return new PreflightError(`cannot load ${libraryPath}: the libbpf shared library (version 1.x) is missing`, {
    hint: 'install it: apt-get install libbpf1 (Debian/Ubuntu), dnf install libbpf (Fedora) or apk add libbpf (Alpine)',
    cause,
  });
}

function bind(libraryPath: string): Libbpf {
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(libraryPath);
  } catch (error) {
    throw libraryLoadError(libraryPath, (error as Error).message, error);
  }

  koffi.opaque('bpf_object');
  koffi.opaque('bpf_map');
  koffi.opaque('bpf_program');
  koffi.opaque('bpf_link');
  koffi.opaque('perf_buffer');
  koffi.opaque('btf');
  const printFn = koffi.proto('int libbpf_print_fn(int level, const char *fmt, void *ap)');
  const sampleFn = koffi.proto('void perf_buffer_event_fn(void *ctx, int cpu, void *event)');

  const c = {
    setPrint: lib.func('void *libbpf_set_print(libbpf_print_fn *fn)'),
    openFile: lib.func('bpf_object *bpf_object__open_file(const char *path, const void *opts)'),
    close: lib.func('void bpf_object__close(bpf_object *obj)'),
    findMap: lib.func('bpf_map *bpf_object__find_map_by_name(const bpf_object *obj, const char *name)'),
    findProgram: lib.func('bpf_program *bpf_object__find_program_by_name(const bpf_object *obj, const char *name)'),
    nextProgram: lib.func('bpf_program *bpf_object__next_program(const bpf_object *obj, bpf_program *prog)'),
    loadVmlinuxBtf: lib.func('btf *btf__load_vmlinux_btf()'),
    freeBtf: lib.func('void btf__free(btf *btf)'),
    valueSize: lib.func('uint32_t bpf_map__value_size(const bpf_map *map)'),
    mapFd: lib.func('int bpf_map__fd(const bpf_map *map)'),
    setInitialValue: lib.func('int bpf_map__set_initial_value(bpf_map *map, const void *data, size_t size)'),
    setAutoload: lib.func('int bpf_program__set_autoload(bpf_program *prog, bool autoload)'),
    setAutocreate: lib.func('int bpf_map__set_autocreate(bpf_map *map, bool autocreate)'),
    setMaxEntries: lib.func('int bpf_map__set_max_entries(bpf_map *map, uint32_t max_entries)'),
    setLogBuf: lib.func('int bpf_program__set_log_buf(bpf_program *prog, void *log_buf, size_t log_size)'),
    load: lib.func('int bpf_object__load(bpf_object *obj)'),
    programFd: lib.func('int bpf_program__fd(const bpf_program *prog)'),
    attach: lib.func('bpf_link *bpf_program__attach(const bpf_program *prog)'),
    attachIter: lib.func('bpf_link *bpf_program__attach_iter(const bpf_program *prog, const void *opts)'),
    linkFd: lib.func('int bpf_link__fd(const bpf_link *link)'),
    iterCreate: lib.func('int bpf_iter_create(int link_fd)'),
    destroyLink: lib.func('int bpf_link__destroy(bpf_link *link)'),
    perfNewRaw: lib.func(
      'perf_buffer *perf_buffer__new_raw(int map_fd, size_t page_cnt, const void *attr, perf_buffer_event_fn *cb, void *ctx, const void *opts)',
    ),
    perfBufferCount: lib.func('size_t perf_buffer__buffer_cnt(const perf_buffer *pb)'),
    perfBuffer: lib.func('int perf_buffer__buffer(perf_buffer *pb, int idx, _Out_ void **buf, _Out_ size_t *size)'),
    perfBufferFd: lib.func('int perf_buffer__buffer_fd(const perf_buffer *pb, size_t buf_idx)'),
    perfFree: lib.func('void perf_buffer__free(perf_buffer *pb)'),
    lookup: lib.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
    nextKey: lib.func('int bpf_map_get_next_key(int fd, const void *key, void *next_key)'),
    lookupBatch: lib.func(
      'int bpf_map_lookup_batch(int fd, void *in_batch, _Out_ uint32_t *out_batch, void *keys, void *values, _Inout_ uint32_t *count, const void *opts)',
    ),
    update: lib.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
    objInfo: lib.func('int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32_t *len)'),
    possibleCpus: lib.func('int libbpf_num_possible_cpus()'),
    progLoad: lib.func('int bpf_prog_load(int prog_type, const char *prog_name, const char *license, const void *insns, size_t insn_cnt, const void *opts)'),
    rawTracepointOpen: lib.func('int bpf_raw_tracepoint_open(const char *name, int prog_fd)'),
  };
  const { vsnprintf } = libc();
  const pageSize = systemPageSize();

  // Kept reachable for the life of the process: libbpf holds the pointer.
  let printCallback: unknown = null;
  const formatBuffer = Buffer.alloc(8192);

  /** errno as libbpf left it: read right after the failing call. */
  const fail = (step: string, object: string, rc?: number): never => {
    const errno = rc !== undefined && rc < 0 ? -rc : koffi.errno();
    throw new BpfError(step, object, errno || constants.errno.EINVAL);
  };

  return {
    setPrint(sink) {
      if (sink === null) {
        c.setPrint(null);
        return;
      }
      printCallback = koffi.register((level: number, fmt: string, ap: unknown) => {
        const length = vsnprintf(formatBuffer, formatBuffer.length, fmt, ap) as number;
        if (length > 0) sink(level, formatBuffer.toString('utf8', 0, Math.min(length, formatBuffer.length - 1)));
        return 0;
      }, koffi.pointer(printFn));
      c.setPrint(printCallback);
    },
    openObject(path) {
      return (c.openFile(path, null) as Pointer | null) ?? fail('open', `BPF object ${path}`);
    },
    closeObject(object) {
      c.close(object);
    },
    findMap(object, name) {
      return (c.findMap(object, name) as Pointer | null) ?? fail('find', `map ${name}`);
    },
    findProgram(object, name) {
      return (c.findProgram(object, name) as Pointer | null) ?? fail('find', `program ${name}`);
    },
    programs(object) {
      const programs: Pointer[] = [];
      for (let program = c.nextProgram(object, null) as Pointer | null; program !== null; program = c.nextProgram(object, program) as Pointer | null) {
        programs.push(program);
      }
      return programs;
    },
    kernelBtfLoads() {
      const btf = c.loadVmlinuxBtf() as Pointer | null;
      if (btf === null) return false;
      c.freeBtf(btf);
      return true;
    },
    mapValueSize(map) {
      return c.valueSize(map) as number;
    },
    mapFd(map) {
      const fd = c.mapFd(map) as number;
      return fd >= 0 ? fd : fail('get', 'map fd', fd);
    },
    setInitialValue(map, data) {
      const rc = c.setInitialValue(map, data, data.length) as number;
      if (rc < 0) fail('configure', 'map initial value', rc);
    },
    setAutoload(program, autoload) {
      const rc = c.setAutoload(program, autoload) as number;
      if (rc < 0) fail('configure', 'program autoload', rc);
    },
    setAutocreate(map, autocreate) {
      const rc = c.setAutocreate(map, autocreate) as number;
      if (rc < 0) fail('configure', 'map autocreate', rc);
    },
    setMaxEntries(map, entries) {
      const rc = c.setMaxEntries(map, entries) as number;
      if (rc < 0) fail('configure', 'map size', rc);
    },
    setLogBuffer(program, sizeBytes) {
      const memory = koffi.alloc('uint8_t', sizeBytes);
      const bytes = new Uint8Array(koffi.view(memory, sizeBytes));
      bytes[0] = 0;
      const rc = c.setLogBuf(program, memory, sizeBytes) as number;
      if (rc < 0) {
        koffi.free(memory);
        fail('configure', 'program log buffer', rc);
      }
      let freed = false;
      return {
        read() {
          if (freed) return '';
          const end = bytes.indexOf(0);
          return Buffer.from(bytes.buffer, bytes.byteOffset, end < 0 ? sizeBytes : end).toString('utf8');
        },
        free() {
          if (freed) return;
          freed = true;
          koffi.free(memory);
        },
      };
    },
    loadObject(object) {
      const rc = c.load(object) as number;
      if (rc < 0) fail('load', 'BPF object', rc);
    },
    programFd(program) {
      const fd = c.programFd(program) as number;
      return fd >= 0 ? fd : fail('get', 'program fd', fd);
    },
    attach(program, what) {
      return (c.attach(program) as Pointer | null) ?? fail('attach', what);
    },
    attachIterator(program) {
      return (c.attachIter(program, null) as Pointer | null) ?? fail('attach', 'iterator');
    },
    createIterator(link) {
      const linkFd = c.linkFd(link) as number;
      if (linkFd < 0) fail('get', 'iterator link fd', linkFd);
      const fd = c.iterCreate(linkFd) as number;
      return fd >= 0 ? fd : fail('create', 'iterator', fd);
    },
    destroyLink(link) {
      c.destroyLink(link);
    },
    openPerfRings(mapFd, pageCount, wakeupWatermarkBytes) {
      // libbpf insists on a callback; it is never called, since the rings are
      // read from JS and perf_buffer__poll is never used.
      const unused = koffi.register(() => {}, koffi.pointer(sampleFn));
      const pb = c.perfNewRaw(mapFd, pageCount, perfEventAttr(wakeupWatermarkBytes), unused, null, null) as Pointer | null;
      if (pb === null) {
        koffi.unregister(unused);
        return fail('create', `perf buffer (${pageCount} pages per CPU)`);
      }
      const rings: MappedRing[] = [];
      const count = Number(c.perfBufferCount(pb));
      for (let index = 0; index < count; index++) {
        const base: [unknown] = [null];
        const size: [number | bigint] = [0];
        const rc = c.perfBuffer(pb, index, base, size) as number;
        if (rc < 0) {
          c.perfFree(pb);
          koffi.unregister(unused);
          return fail('map', `perf ring ${index}`, rc);
        }
        const dataSize = Number(size[0]);
        const fd = c.perfBufferFd(pb, index) as number;
        rings.push({ index, memory: koffi.view(base[0], pageSize + dataSize), pageSize, dataSize, ...(fd >= 0 ? { fd } : {}) });
      }
      let freed = false;
      return {
        rings,
        free() {
          if (freed) return;
          freed = true;
          c.perfFree(pb);
          koffi.unregister(unused);
        },
      };
    },
    lookup(mapFd, key, value) {
      return (c.lookup(mapFd, key, value) as number) === 0;
    },
    lookupArray(mapFd, count, values) {
      const keys = new Uint8Array(count * 4);
      const outBatch: [number] = [0];
      const got: [number] = [count];
      const rc = c.lookupBatch(mapFd, null, outBatch, keys, values, got, null) as number;
      // ENOENT: the end of the map was reached, with all `count` read.
      if ((rc < 0 && -rc !== constants.errno.ENOENT) || got[0] !== count) fail('read', `map (${got[0]} of ${count} elements)`, rc);
    },
    nextKey(mapFd, key, next) {
      return (c.nextKey(mapFd, key, next) as number) === 0;
    },
    update(mapFd, key, value) {
      const rc = c.update(mapFd, key, value, 0) as number;
      if (rc < 0) fail('update', 'map element', rc);
    },
    objectInfo(fd, info) {
      const length: [number] = [info.length];
      const rc = c.objInfo(fd, info, length) as number;
      if (rc < 0) fail('get', 'object info', rc);
      return length[0];
    },
    rawTracepointExists(name) {
      const programFd = c.progLoad(BPF_PROG_TYPE_RAW_TRACEPOINT, null, 'GPL', RETURN_ZERO, RETURN_ZERO.length / 8, null) as number;
      if (programFd < 0) return null;
      try {
        const linkFd = c.rawTracepointOpen(name, programFd) as number;
        if (linkFd >= 0) libc().close(linkFd);
        return linkFd >= 0 ? true : -linkFd === constants.errno.ENOENT ? false : null;
      } finally {
        libc().close(programFd);
      }
    },
    possibleCpus() {
      const n = c.possibleCpus() as number;
      return n > 0 ? n : fail('count', 'possible CPUs', n);
    },
    pageSize() {
      return pageSize;
    },
  };
}
