// SPDX-License-Identifier: MIT
// Standard output for the tracers: whole batches written without ever
// blocking the event loop, a bounded backlog when the reader is slow, and
// "the reader is gone" (EPIPE, or a hung-up pipe seen by poll) as a state
// the tracing loop can end on, instead of an exception.

import { writeSync } from 'node:fs';
import { TcpToolError } from '../errors.js';

/** Writes up to `length` bytes of `bytes` from `offset`; returns how many
 * were written, or throws an errno error (EAGAIN, EPIPE...). */
export type WriteFn = (bytes: Uint8Array, offset: number, length: number) => number;

/** A write to stdout failed for good (ENOSPC on a full disk, EIO...): the
 * output is closed, so nothing retries the write and reports it again. */
export class StdoutWriteError extends TcpToolError {
  override name = 'StdoutWriteError' as const;
  readonly code: string;

  constructor(code: string, cause: unknown) {
    super(`cannot write to stdout: ${code}`, { cause });
    this.code = code;
  }
}

/** The errno code of a failed write, for messages. */
export function writeErrorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

/** Errors that mean the reader went away: the output is over, not failed. */
const READER_GONE = new Set(['EPIPE', 'ECONNRESET']);

export class Output {
  private readonly chunks: Buffer[] = [];
  private chunkOffset = 0;
  private pending = 0;
  private isClosed = false;

  /**
   * @param write  the write(2) to use; fd 1 by default.
   * @param maxPendingBytes  how much unwritten output may pile up before
   *   `backlogged` says to stop taking more.
   */
  constructor(
    private readonly write: WriteFn = (bytes, offset, length) => writeSync(1, bytes, offset, length),
    readonly maxPendingBytes = 4 << 20,
  ) {}

  /** Bytes accepted but not yet written. */
  get pendingBytes(): number {
    return this.pending;
  }

  /** True once the reader is gone; everything pending was dropped. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** True while so much is pending that the caller should produce no more. */
  get backlogged(): boolean {
    return this.pending >= this.maxPendingBytes;
  }

  /** Marks the output closed (the reader hung up), dropping what is pending. */
  close(): void {
    this.isClosed = true;
    this.chunks.length = 0;
    this.pending = 0;
    this.chunkOffset = 0;
  }

  /** Queues `text` (whole lines) and writes what the fd takes now. */
  push(text: string): void {
    if (this.isClosed || text.length === 0) return;
    this.enqueue(Buffer.from(text));
  }

  /** Queues a copy of `bytes` (whole lines; the caller reuses its buffer)
   * and writes what the fd takes now. */
  pushBytes(bytes: Uint8Array): void {
    if (this.isClosed || bytes.length === 0) return;
    // Written straight from the caller's buffer; only what the fd did not
    // take is copied (usually nothing), which keeps the hot path from
    // allocating a batch-sized buffer per read.
    const chunk = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    this.enqueue(chunk);
    const last = this.chunks.length - 1;
    if (last >= 0 && this.chunks[last] === chunk) {
      const start = last === 0 ? this.chunkOffset : 0;
      this.chunks[last] = Buffer.from(chunk.subarray(start));
      if (last === 0) this.chunkOffset = 0;
    }
  }

  private enqueue(bytes: Buffer): void {
    this.chunks.push(bytes);
    this.pending += bytes.length;
    this.flush();
  }

  /** Writes pending output until done or the fd would block; true when
   * nothing is left pending. Throws errors other than EAGAIN and a gone reader. */
  flush(): boolean {
    while (!this.isClosed && this.chunks.length > 0) {
      const chunk = this.chunks[0]!;
      let written: number;
      try {
        written = this.write(chunk, this.chunkOffset, chunk.length - this.chunkOffset);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return false;
        if (code !== undefined && READER_GONE.has(code)) {
          this.close();
          return true;
        }
        this.close();
        throw new StdoutWriteError(writeErrorCode(error), error);
      }
      this.chunkOffset += written;
      this.pending -= written;
      if (this.chunkOffset === chunk.length) {
        this.chunks.shift();
        this.chunkOffset = 0;
      }
    }
    return true;
  }

  /**
   * At exit: keeps flushing until done, closed, or `timeoutMs` passed (a
   * reader that stopped reading must not keep us from exiting). Returns the
   * bytes left unwritten, which the caller reports.
   */
  drain(timeoutMs: number): number {
    const deadline = performance.now() + timeoutMs;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    while (!this.flush() && performance.now() < deadline) Atomics.wait(nap, 0, 0, 2);
    return this.isClosed ? 0 : this.pending;
  }
}
