// SPDX-License-Identifier: MIT
// Synthetic perf rings holding made-up but realistic events, in the same
// memory format as the kernel's (perf_event_mmap_page, then
// PERF_RECORD_SAMPLE records of PERF_SAMPLE_RAW data). The tracer runs its
// real read path over them before it attaches, so that the JIT has compiled
// the hot path before the first real event (a cold path is several times
// slower, and a ring filling up during that time loses events); the
// micro-benchmark uses them too. Pure: plain ArrayBuffers, no FFI.

import { AF_INET, AF_INET6 } from '../decode/addr.js';
import { EVENT_LAYOUT } from '../decode/event.js';
import type { MappedRing, PerfRings } from '../ffi/libbpf.js';
import { DATA_HEAD_OFFSET, DATA_TAIL_OFFSET, PERF_RECORD_SAMPLE, RECORD_HEADER_BYTES } from './ring.js';

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

export interface SyntheticRings extends PerfRings {
  /** Makes every ring hold its events again (as if just written). */
  refill(): void;
  /** Events per refill, over all rings. */
  readonly events: number;
}

/**
 * `ringCount` rings of `dataBytes` each (a power of two), filled with
 * `eventsPerRing` events of `recordSize` bytes whose timestamps interleave
 * across rings, as the CPUs' rings do.
 */
export function syntheticRings(ringCount: number, dataBytes: number, recordSize: number, eventsPerRing: number): SyntheticRings {
  const recordBytes = sampleRecordBytes(recordSize);
  const count = Math.min(eventsPerRing, Math.floor(dataBytes / recordBytes));
  const rings: MappedRing[] = [];
  const controls: BigUint64Array[] = [];
  for (let index = 0; index < ringCount; index++) {
    const memory = new ArrayBuffer(PAGE_BYTES + dataBytes);
    const view = new DataView(memory, PAGE_BYTES);
    const bytes = new Uint8Array(memory, PAGE_BYTES);
    for (let n = 0; n < count; n++) {
      const at = n * recordBytes;
      view.setUint32(at, PERF_RECORD_SAMPLE, true);
      view.setUint16(at + 6, recordBytes, true);
      view.setUint32(at + RECORD_HEADER_BYTES, recordBytes - RECORD_HEADER_BYTES - 4, true);
      writeEvent(view, bytes, at + RECORD_HEADER_BYTES + 4, index, n, ringCount, recordSize);
    }
    rings.push({ index, memory, pageSize: PAGE_BYTES, dataSize: dataBytes });
    controls.push(new BigUint64Array(memory, 0, PAGE_BYTES / 8));
  }
  const head = BigInt(count * recordBytes);
  const refill = (): void => {
    for (const control of controls) {
      control[DATA_TAIL_OFFSET / 8] = 0n;
      control[DATA_HEAD_OFFSET / 8] = head;
    }
  };
  refill();
  return { rings, free: () => {}, refill, events: count * ringCount };
}

const COMMS = ['loadgen', 'curl', 'nginx', 'swapper/1', 'postgres', 'ksoftirqd/0'];

function writeEvent(view: DataView, bytes: Uint8Array, at: number, ring: number, n: number, ringCount: number, recordSize: number): void {
  const connection = n >> 3;
  const [oldState, newState] = TRANSITIONS[(n + ring) % TRANSITIONS.length] as readonly [number, number];
  view.setBigUint64(at + L.ts_ns, BigInt(1_000_000_000 + (n * ringCount + ring) * 997), true);
  view.setBigUint64(at + L.skaddr, 0xffff_8881_0000_0000n + BigInt((connection * 2 + (n & 1)) * 0x900), true);
  view.setBigUint64(at + L.delta_ns, BigInt((n * 7919) % 3_000_000), true);
  view.setUint32(at + L.pid, 1000 + (connection % 5000), true);
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
  view.setUint16(at + L.dport, 20000 + (connection % 3), true);
  view.setUint8(at + L.oldstate, oldState);
  view.setUint8(at + L.newstate, newState);
  view.setUint32(at + L.netns_ino, 4026531840, true);
  // 0 (unknown): any other id sends --json/--container to look its path up,
  // which walks the whole cgroup tree during the warm-up and then holds off
  // the next walk, for a real new cgroup, for a second.
  view.setBigUint64(at + L.cgroup_id, 0n, true);
  view.setUint32(at + L.owner_pid, connection % 3 === 0 ? 0 : 1000 + (connection % 5000), true);
  if (recordSize >= L.owner_comm + 16) {
    view.setBigUint64(at + L.tx_bytes, BigInt((connection * 4099) % 10_000_000), true);
    view.setBigUint64(at + L.rx_bytes, BigInt((connection * 131) % 100_000), true);
    for (let i = 0; i < 16; i++) bytes[at + L.owner_comm + i] = i < comm.length ? comm.charCodeAt(i) : 0;
  }
}
