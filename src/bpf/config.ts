// SPDX-License-Identifier: MIT
// The tracer's load-time configuration and its encoding as the program's
// .rodata (struct tcpstates_config in bpf/tcpstates.h). Pure.

import { BUCKET_BOUNDS_NS } from '../metrics/exposition.js';

export type TraceMode = 'transitions' | 'sessions';

export interface TraceConfig {
  readonly mode: TraceMode;
  /** Local ports to trace; null = all. */
  readonly localPorts: readonly number[] | null;
  /** Remote ports to trace; null = all. */
  readonly remotePorts: readonly number[] | null;
  /** 0 = both, 2 = AF_INET, 10 = AF_INET6. */
  readonly family: 0 | 2 | 10;
  /** PIDs to trace (tcplife: the owner; tcpstates: the on-CPU task); null = all. */
  readonly pids: readonly number[] | null;
  /** Only sockets in the network namespace with this inode number; null = all. */
  readonly netnsIno: number | null;
  /** Only sockets in this cgroup v2 (id = its directory's inode number, level =
   * its depth below the cgroup2 root) or below it; null = all. */
  readonly cgroup: { readonly id: number; readonly level: number } | null;
  /** Pages per CPU ring (a power of two); null: sized to the machine
   * (machineRingPages), which trace/run.ts resolves before the load. */
  readonly bufferPages: number | null;
  /** Sockets followed at once (sk_info's size); omitted: MAX_SOCKETS_DEFAULT. */
  readonly maxSockets?: number;
  /** In-kernel aggregation (bpf/aggregate.h); omitted: records only. */
  readonly aggregate?: AggregateConfig;
}

/** What the program adds up in its maps, read at scrape and at exit. */
export interface AggregateConfig {
  /** The --metrics series of the mode. */
  readonly metrics: boolean;
  /** tcpstates --summary's histograms. */
  readonly summary: boolean;
  /** Emit the records too (rows, or a test comparing the two paths). */
  readonly records: boolean;
}

/** Sockets followed at once by default (MAX_SOCKETS in bpf/tcpstates.bpf.c). */
export const MAX_SOCKETS_DEFAULT = 262_144;
/** --max-sockets' largest: the map's buckets (16 bytes each) are allocated at load. */
export const MAX_SOCKETS_LIMIT = 16_777_216;

/** A TraceConfig with its rings' size decided, as the loader takes it. */
export type SizedTraceConfig = TraceConfig & { readonly bufferPages: number };

/** Each CPU's ring when --buffer-pages is not given, for a process that may
 * not lock memory beyond RLIMIT_MEMLOCK (no CAP_IPC_LOCK, the limit not
 * lifted): perf rings past kernel.perf_event_mlock_kb count against that
 * limit, usually 8 MiB, and a larger default would refuse to start there. */
export const RING_BASE_BYTES = 4 << 20;
/** For one that may (root, or RLIMIT_MEMLOCK unlimited): the rings share
 * this much, each RING_BASE_BYTES to RING_MAX_BYTES. On a machine with few
 * CPUs each ring gets more than the base: a CPU makes as many events as on
 * a big machine, and a ring must hold them while a cold reader warms up
 * (a full-speed loopback flood on 2 CPUs is 550,000 events/s per CPU, and a
 * 4 MiB ring holds 35,000 tcpstates records, 64 ms of it). */
export const RING_BUDGET_BYTES = 16 << 20;
export const RING_MAX_BYTES = 16 << 20;

/** Pages per CPU ring when --buffer-pages is not given (a power of two). */
export function machineRingPages(cpuCount: number, pageBytes: number, canLockMemory: boolean): number {
  const base = Math.max(1, Math.floor(RING_BASE_BYTES / pageBytes));
  if (!canLockMemory) return base;
  const share = Math.min(RING_BUDGET_BYTES / Math.max(cpuCount, 1), RING_MAX_BYTES) / pageBytes;
  let pages = base;
  while (pages * 2 <= share) pages *= 2;
  return pages;
}

/** struct tcpstates_config layout (bpf/tcpstates.h), checked by the layout test. */
export const CONFIG_LAYOUT = {
  lport_bits: 0,
  dport_bits: 8192,
  mode: 16384,
  filters: 16388,
  target_family: 16392,
  netns_ino: 16396,
  cgroup_id: 16400,
  cgroup_level: 16408,
  aggregate: 16412,
  duration_bounds_ns: 16416,
} as const;
export const CONFIG_SIZE = 16536;

/** FILTER_* bits of tcpstates_config.filters (bpf/tcpstates.h), checked by the constants test. */
export const FILTER_BITS = { FILTER_LPORT: 1 << 0, FILTER_DPORT: 1 << 1, FILTER_PID: 1 << 2, FILTER_NETNS: 1 << 3, FILTER_CGROUP: 1 << 4 } as const;
const { FILTER_LPORT, FILTER_DPORT, FILTER_PID, FILTER_NETNS, FILTER_CGROUP } = FILTER_BITS;
/** AGGREGATE_* bits of tcpstates_config.aggregate (bpf/tcpstates.h), checked by the constants test. */
export const AGGREGATE_BITS = { AGGREGATE_METRICS: 1 << 0, AGGREGATE_SUMMARY: 1 << 1, AGGREGATE_NO_RECORDS: 1 << 2 } as const;
/** enum trace_mode (bpf/tcpstates.h), checked by the constants test. */
export const TRACE_MODES: Record<TraceMode, number> = { transitions: 0, sessions: 1 };

function setPortBits(bytes: Uint8Array, base: number, ports: readonly number[]): void {
  // A little-endian u64 bitmap is a byte array with bit p at byte p>>3, bit p&7.
  for (const port of ports) bytes[base + (port >> 3)]! |= 1 << (port & 7);
}

export function encodeConfig(config: TraceConfig): Uint8Array {
  const bytes = new Uint8Array(CONFIG_SIZE);
  const view = new DataView(bytes.buffer);
  let filters = 0;
  if (config.localPorts !== null) {
    filters |= FILTER_LPORT;
    setPortBits(bytes, CONFIG_LAYOUT.lport_bits, config.localPorts);
  }
  if (config.remotePorts !== null) {
    filters |= FILTER_DPORT;
    setPortBits(bytes, CONFIG_LAYOUT.dport_bits, config.remotePorts);
  }
  if (config.pids !== null) filters |= FILTER_PID;
  if (config.netnsIno !== null) {
    filters |= FILTER_NETNS;
    view.setUint32(CONFIG_LAYOUT.netns_ino, config.netnsIno, true);
  }
  if (config.cgroup !== null) {
    filters |= FILTER_CGROUP;
    view.setBigUint64(CONFIG_LAYOUT.cgroup_id, BigInt(config.cgroup.id), true);
    view.setUint32(CONFIG_LAYOUT.cgroup_level, config.cgroup.level, true);
  }
  view.setUint32(CONFIG_LAYOUT.aggregate, aggregateBits(config.aggregate), true);
  BUCKET_BOUNDS_NS.forEach((ns, i) => view.setBigUint64(CONFIG_LAYOUT.duration_bounds_ns + i * 8, BigInt(ns), true));
  view.setUint32(CONFIG_LAYOUT.mode, TRACE_MODES[config.mode], true);
  view.setUint32(CONFIG_LAYOUT.filters, filters, true);
  view.setUint32(CONFIG_LAYOUT.target_family, config.family, true);
  return bytes;
}

function aggregateBits(aggregate: AggregateConfig | undefined): number {
  if (aggregate === undefined) return 0;
  const { AGGREGATE_METRICS, AGGREGATE_SUMMARY, AGGREGATE_NO_RECORDS } = AGGREGATE_BITS;
  return (aggregate.metrics ? AGGREGATE_METRICS : 0) | (aggregate.summary ? AGGREGATE_SUMMARY : 0) | (aggregate.records ? 0 : AGGREGATE_NO_RECORDS);
}
