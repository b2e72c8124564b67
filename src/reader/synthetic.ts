// SPDX-License-Identifier: MIT
// Synthetic perf rings holding made-up but realistic events, in the same
// memory format as the kernel's (perf_event_mmap_page, then
// PERF_RECORD_SAMPLE records of PERF_SAMPLE_RAW data). The tracer runs its
// real read path over them before its first read, so that the JIT has
// compiled the hot path before the first real event (a cold path is several
// times slower, and a ring filling up during that time loses events); the
// micro-benchmark uses them too. What the warm-up does not meet, the JIT has
// no feedback for: the optimised code then gives up (deoptimises) the first
// time a real read meets it and runs slowly until compiled again. So for the
// warm-up the values can range as real ones do, and the rings can look as
// they do after a while (records wrapping past the end of the ring, a LOST
// record, positions past 2^32). Pure: plain ArrayBuffers, no FFI.

import { AF_INET, AF_INET6 } from '../decode/addr.js';
import { EVENT_LAYOUT } from '../decode/event.js';
import type { MappedRing, PerfRings } from '../ffi/libbpf.js';
import { DATA_HEAD_OFFSET, DATA_TAIL_OFFSET, PERF_RECORD_LOST, PERF_RECORD_SAMPLE, RECORD_HEADER_BYTES } from './ring.js';

const PAGE_BYTES = 4096;
const L = EVENT_LAYOUT;
/** The transitions of a loopback connection, client and server side (as
 * bench/loadgen.c makes them), as [old, new] states. */
const TRANSITIONS: readonly (readonly [number, number])[] = [
  [7, 2], [2, 1], [1, 4], [4, 5], [5, 7],
  [10, 3], [3, 1], [1, 8], [8, 9], [9, 7],
];

/** The bytes of one PERF_RECORD_SAMPLE carrying `recordSize` raw bytes. */
export function sampleRecordBytes(recordSize: number): number {
  return (RECORD_HEADER_BYTES + 4 + recordSize + 7) & ~7;
}

/** A PERF_RECORD_LOST: the header, then u64 id and u64 lost. */
const LOST_RECORD_BYTES = RECORD_HEADER_BYTES + 16;
/** Where the records of wrapped rings start, give or take a ring: past
 * 2^32 bytes written, where positions are no longer small integers. */
const WRAPPED_BASE = 2 ** 32;

export interface SyntheticRingOptions {
  /** Records laid out as in a ring written for a while: from a position
   * past 2^32, and wrapping past the end of the data area mid-record. */
  readonly wrapped?: boolean;
  /** A PERF_RECORD_LOST record (1 sample lost) after each ring's first event. */
  readonly lostRecord?: boolean;
  /** Values over the ranges real events have, not only a loopback flood's:
   * PIDs of 1 to 7 digits, remote ports of 2 to 5, times in the old state
   * up to an hour (past 2^32 ns), byte counts up to 100 GB. */
  readonly wideValues?: boolean;
}

export interface SyntheticRings extends PerfRings {
  /** Makes every ring hold its events again (as if just written). With
   * `lastRingShort`, the last ring holds one event fewer: another ring's
   * events then end last in time (the other end of the merge). */
  refill(lastRingShort?: boolean): void;
  /** Events per refill, over all rings (without lastRingShort). */
  readonly events: number;
}

/**
 * `ringCount` rings of `dataBytes` each (a power of two), filled with
 * `eventsPerRing` events of `recordSize` bytes whose timestamps interleave
 * across rings, as the CPUs' rings do.
 */
export function syntheticRings(
  ringCount: number,
  dataBytes: number,
  recordSize: number,
  eventsPerRing: number,
  options: SyntheticRingOptions = {},
): SyntheticRings {
  const recordBytes = sampleRecordBytes(recordSize);
  const lostBytes = options.lostRecord === true ? LOST_RECORD_BYTES : 0;
  const count = Math.min(eventsPerRing, Math.floor((dataBytes - lostBytes) / recordBytes));
  const usedBytes = count * recordBytes + lostBytes;
  // Wrapped: the middle record starts 16 bytes before the end, so its body
  // wraps (a header never does: records and the ring are 8-byte aligned).
  const start = options.wrapped === true && count > 0 ? WRAPPED_BASE + dataBytes - Math.floor(count / 2) * recordBytes - lostBytes - 16 : 0;
  const rings: MappedRing[] = [];
  const controls: BigUint64Array[] = [];
  const record = new Uint8Array(Math.max(recordBytes, LOST_RECORD_BYTES));
  const recordView = new DataView(record.buffer);
  for (let index = 0; index < ringCount; index++) {
    const memory = new ArrayBuffer(PAGE_BYTES + dataBytes);
    const bytes = new Uint8Array(memory, PAGE_BYTES);
    let position = start;
    const put = (length: number): void => {
      const at = position % dataBytes;
      const first = Math.min(length, dataBytes - at);
      bytes.set(record.subarray(0, first), at);
      if (first < length) bytes.set(record.subarray(first, length), 0);
      position += length;
    };
    for (let n = 0; n < count; n++) {
      record.fill(0);
      recordView.setUint32(0, PERF_RECORD_SAMPLE, true);
      recordView.setUint16(6, recordBytes, true);
      recordView.setUint32(RECORD_HEADER_BYTES, recordBytes - RECORD_HEADER_BYTES - 4, true);
      writeEvent(recordView, record, RECORD_HEADER_BYTES + 4, index, n, ringCount, recordSize, options.wideValues === true);
      put(recordBytes);
      if (n === 0 && lostBytes > 0) {
        record.fill(0);
        recordView.setUint32(0, PERF_RECORD_LOST, true);
        recordView.setUint16(6, LOST_RECORD_BYTES, true);
        recordView.setBigUint64(RECORD_HEADER_BYTES + 8, 1n, true);
        put(LOST_RECORD_BYTES);
      }
    }
    rings.push({ index, memory, pageSize: PAGE_BYTES, dataSize: dataBytes });
    controls.push(new BigUint64Array(memory, 0, PAGE_BYTES / 8));
  }
  const tail = BigInt(start);
  const head = BigInt(start + usedBytes);
  const shortHead = BigInt(start + usedBytes - (count > 1 ? recordBytes : 0));
  const refill = (lastRingShort = false): void => {
    controls.forEach((control, index) => {
      control[DATA_TAIL_OFFSET / 8] = tail;
      control[DATA_HEAD_OFFSET / 8] = lastRingShort && index === ringCount - 1 ? shortHead : head;
    });
  };
  refill();
  return { rings, free: () => {}, refill, events: count * ringCount };
}

const COMMS = ['loadgen', 'curl', 'nginx', 'swapper/1', 'postgres', 'ksoftirqd/0'];
/** wideValues: PIDs of 1 to 7 digits (pid_max is at most 4194304), remote
 * ports of 2 to 5. */
const PID_BASES = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000];
const PORTS = [20000, 20001, 20002, 80, 443, 5432, 65535];

function writeEvent(
  view: DataView,
  bytes: Uint8Array,
  at: number,
  ring: number,
  n: number,
  ringCount: number,
  recordSize: number,
  wide: boolean,
): void {
  const connection = n >> 3;
  const [oldState, newState] = TRANSITIONS[(n + ring) % TRANSITIONS.length] as readonly [number, number];
  view.setBigUint64(at + L.ts_ns, BigInt(1_000_000_000 + (n * ringCount + ring) * 997), true);
  view.setBigUint64(at + L.skaddr, 0xffff_8881_0000_0000n + BigInt((connection * 2 + (n & 1)) * 0x900), true);
  view.setBigUint64(at + L.delta_ns, BigInt((n * 7919) % 3_000_000) * (wide ? 10n ** BigInt(n % 7) : 1n), true);
  const pid = wide ? (PID_BASES[connection % PID_BASES.length] as number) + (connection % 1000) : 1000 + (connection % 5000);
  view.setUint32(at + L.pid, pid, true);
  const comm = COMMS[connection % COMMS.length] as string;
  for (let i = 0; i < 16; i++) bytes[at + L.comm + i] = i < comm.length ? comm.charCodeAt(i) : 0;
  // Mostly IPv4 (what the fast paths are for), some IPv6 (the fallbacks).
  const v6 = connection % 64 === 63;
  view.setUint16(at + L.family, v6 ? AF_INET6 : AF_INET, true);
  for (let i = 0; i < 16; i++) {
    bytes[at + L.saddr + i] = 0;
    bytes[at + L.daddr + i] = 0;
  }
  if (v6) {
    bytes[at + L.saddr + 15] = 1;
    bytes[at + L.daddr + 15] = 1;
  } else {
    bytes.set([127, 0, 0, 1 + (connection % 64)], at + L.saddr);
    bytes.set([127, 0, 0, 1 + ((connection * 7) % 64)], at + L.daddr);
  }
  view.setUint16(at + L.sport, 1024 + ((connection * 31) % 64000), true);
  view.setUint16(at + L.dport, wide ? (PORTS[connection % PORTS.length] as number) : 20000 + (connection % 3), true);
  view.setUint8(at + L.oldstate, oldState);
  view.setUint8(at + L.newstate, newState);
  view.setUint32(at + L.netns_ino, 4026531840, true);
  // 0 (unknown): any other id sends --json/--container to look its path up,
  // which walks the whole cgroup tree during the warm-up and then holds off
  // the next walk, for a real new cgroup, for a second.
  view.setBigUint64(at + L.cgroup_id, 0n, true);
  view.setUint32(at + L.owner_pid, connection % 3 === 0 ? 0 : pid, true);
  if (recordSize >= L.owner_comm + 16) {
    view.setBigUint64(at + L.tx_bytes, BigInt((connection * 4099) % 10_000_000) * (wide ? 10n ** BigInt(connection % 5) : 1n), true);
    view.setBigUint64(at + L.rx_bytes, BigInt((connection * 131) % 100_000), true);
    for (let i = 0; i < 16; i++) bytes[at + L.owner_comm + i] = i < comm.length ? comm.charCodeAt(i) : 0;
  }
}
