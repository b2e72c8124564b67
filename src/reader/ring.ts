// SPDX-License-Identifier: MIT
// Perf ring arithmetic, pure: walks the records between a consumer position
// (data_tail) and a producer position (data_head) over the ring's data area.
// Knows nothing about what the samples contain. Tested on synthetic buffers.

// from include/uapi/linux/perf_event.h
export const PERF_RECORD_LOST = 2;
export const PERF_RECORD_SAMPLE = 9;
/** struct perf_event_header: u32 type, u16 misc, u16 size (size includes it). */
export const RECORD_HEADER_BYTES = 8;
/** Offsets in struct perf_event_mmap_page of the u64 data_head and data_tail. */
export const DATA_HEAD_OFFSET = 1024;
export const DATA_TAIL_OFFSET = 1032;

export interface RecordSink {
  /** A PERF_SAMPLE_RAW payload of `size` bytes at `offset` in `view`. The
   * bytes stay valid until the ring space is released (PerfReader.release)
   * and the next consume() of the same ring, whichever comes first: a record
   * that wraps is copied to the ring's scratch buffer, which the next pass
   * reuses (a pass over less than the ring's size has at most one). */
  sample(view: DataView, offset: number, size: number): void;
  /** The kernel dropped `count` samples because the ring was full. */
  lost(count: number): void;
}

/**
 * A ring's data area. `size` is a power of two; positions are the kernel's
 * free-running byte counters, reduced modulo `size` to index the data.
 */
export class RingData {
  readonly view: DataView;
  readonly bytes: Uint8Array;
  readonly size: number;
  private readonly mask: number;
  private scratch: Uint8Array;
  private scratchView: DataView;

  constructor(bytes: Uint8Array) {
    if (bytes.length === 0 || (bytes.length & (bytes.length - 1)) !== 0) {
      throw new RangeError(`perf ring data size must be a power of two, got ${bytes.length}`);
    }
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.size = bytes.length;
    this.mask = bytes.length - 1;
    this.scratch = new Uint8Array(256);
    this.scratchView = new DataView(this.scratch.buffer);
  }

  /**
   * Hands every complete record in [tail, head) to `sink`, or only the
   * records that start within `maxBytes` of `tail`, and returns the new tail
   * (`head` when all were handed over). A record whose bytes wrap past the end of the ring
   * is copied into a scratch buffer first, so the sink always sees it
   * contiguous. Records are 8-byte aligned, so a header never wraps.
   */
  consume(tail: number, head: number, sink: RecordSink, maxBytes = Number.MAX_SAFE_INTEGER): number {
    const { view, mask } = this;
    const stop = head - tail > maxBytes ? tail + maxBytes : head;
    let position = tail;
    while (position < stop) {
      const start = position & mask;
      const type = view.getUint32(start, true);
      const recordSize = view.getUint16(start + 6, true);
      if (recordSize < RECORD_HEADER_BYTES || position + recordSize > head) {
        // A corrupt or torn header: nothing after it can be trusted.
        throw new RangeError(`bad perf record at ${position}: size ${recordSize}, head ${head}`);
      }
      const bodyStart = (start + RECORD_HEADER_BYTES) & mask;
      const bodySize = recordSize - RECORD_HEADER_BYTES;
      let bodyView = view;
      let bodyOffset = bodyStart;
      if (bodyStart + bodySize > this.size) {
        bodyView = this.unwrap(bodyStart, bodySize);
        bodyOffset = 0;
      }
      if (type === PERF_RECORD_SAMPLE) {
        // PERF_SAMPLE_RAW: u32 size, then the bytes (padded to 8 with the size).
        const rawSize = bodyView.getUint32(bodyOffset, true);
        sink.sample(bodyView, bodyOffset + 4, Math.min(rawSize, bodySize - 4));
      } else if (type === PERF_RECORD_LOST) {
        // struct { u64 id; u64 lost; }
        sink.lost(Number(bodyView.getBigUint64(bodyOffset + 8, true)));
      }
      position += recordSize;
    }
    return position;
  }

  private unwrap(start: number, length: number): DataView {
    if (this.scratch.length < length) {
      this.scratch = new Uint8Array(Math.max(length, this.scratch.length * 2));
      this.scratchView = new DataView(this.scratch.buffer);
    }
    const firstPart = this.size - start;
    this.scratch.set(this.bytes.subarray(start, this.size), 0);
    this.scratch.set(this.bytes.subarray(0, length - firstPart), firstPart);
    return this.scratchView;
  }
}
