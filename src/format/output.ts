// SPDX-License-Identifier: MIT
// A growable byte buffer that rows are formatted into, so that a whole batch
// becomes one write(2) with no intermediate strings: at full loopback rate
// (~200k rows/s) building a string per field and per row cost more CPU in
// allocation and garbage collection than the formatting itself. Pure: it
// only fills memory; the caller decides where the bytes go.
//
// Rows are mostly padding, so the space ahead of a row can be blanked in one
// fill() (blankAhead) and padding then only moves `length`: the bytes in
// [length, blankEnd) are always spaces.

const SPACE = 0x20;
const ZERO = 0x30;
export const HEX_DIGITS = new Uint8Array([...'0123456789abcdef'].map((c) => c.charCodeAt(0)));
const encoder = new TextEncoder();
/** How far ahead blankAhead blanks at once. */
const BLANK_STRETCH = 1 << 16;

/** The two ASCII digits of 0..99 ("00".."99"), to print two digits per division. */
const DIGIT_PAIRS = Uint8Array.from({ length: 200 }, (_, i) => ZERO + (i % 2 === 0 ? Math.floor(i / 20) : (i >> 1) % 10));
/** The two hex digits of each byte value. */
export const HEX_PAIRS = Uint8Array.from({ length: 512 }, (_, i) => HEX_DIGITS[i % 2 === 0 ? i >> 5 : (i >> 1) & 15] as number);

/** Decimal digits of a non-negative int32. */
function decimalDigits(value: number): number {
  return value < 10 ? 1 : value < 100 ? 2 : value < 1000 ? 3 : value < 10000 ? 4 : value < 100000 ? 5 : value < 1000000 ? 6 : value < 10000000 ? 7 : value < 100000000 ? 8 : value < 1000000000 ? 9 : 10;
}

// The put* functions write into `bytes` at `position` and return the
// position after what they wrote; the caller has made room. They are the
// hot path's primitives (small, so the JIT inlines them); ByteOutput's
// methods wrap them with the bookkeeping.

/** A non-negative integer below 2^53 in decimal (like String(n)). */
export function putUint(bytes: Uint8Array, position: number, value: number): number {
  if (value >= 0x8000_0000) return putLargeUint(bytes, position, value);
  // int32 arithmetic, two digits per division.
  const end = position + decimalDigits(value);
  let cursor = end;
  let rest = value | 0;
  while (rest >= 100) {
    const quotient = (rest / 100) | 0;
    const pair = (rest - quotient * 100) << 1;
    bytes[--cursor] = DIGIT_PAIRS[pair + 1] as number;
    bytes[--cursor] = DIGIT_PAIRS[pair] as number;
    rest = quotient;
  }
  if (rest >= 10) {
    bytes[--cursor] = DIGIT_PAIRS[(rest << 1) + 1] as number;
    bytes[--cursor] = DIGIT_PAIRS[rest << 1] as number;
  } else {
    bytes[--cursor] = ZERO + rest;
  }
  return end;
}

/** putUint for values of 2^31 and above (up to 2^53). */
export function putLargeUint(bytes: Uint8Array, position: number, value: number): number {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  const end = position + digits;
  let cursor = end;
  let rest = value;
  do {
    const quotient = Math.floor(rest / 10);
    bytes[--cursor] = ZERO + (rest - quotient * 10);
    rest = quotient;
  } while (rest > 0);
  return end;
}

/** `value` (0 <= value < 10^digits <= 10^9) with leading zeros to `digits` digits. */
export function putZeroPadded(bytes: Uint8Array, position: number, value: number, digits: number): number {
  let rest = value | 0;
  for (let cursor = position + digits - 1; cursor >= position; cursor--) {
    const quotient = (rest / 10) | 0;
    bytes[cursor] = ZERO + rest - quotient * 10;
    rest = quotient;
  }
  return position + digits;
}


export class ByteOutput {
  bytes: Uint8Array;
  /** Bytes written so far. Writers may advance it over bytes they wrote;
   * to move it back, use truncate(). */
  length = 0;
  /** Bytes from `length` up to here are spaces (whoever writes past
   * `length` without moving it must keep this true). */
  blankEnd = 0;

  constructor(initialBytes = 1 << 16) {
    this.bytes = new Uint8Array(initialBytes);
  }

  clear(): void {
    this.length = 0;
    this.blankEnd = 0;
  }

  /** Makes room for `count` more bytes. */
  reserve(count: number): void {
    const needed = this.length + count;
    if (needed <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.blankEnd = this.length;
  }

  /** Makes room for `count` more bytes and makes them spaces, so that
   * padding within them costs nothing. Blanks a good stretch beyond (up to
   * BLANK_STRETCH, within the buffer) so that this is one fill() for many
   * rows rather than one per row. */
  blankAhead(count: number): void {
    const end = this.length + count;
    if (end <= this.blankEnd) return;
    this.reserve(count);
    const stretchEnd = Math.max(end, Math.min(this.bytes.length, this.length + BLANK_STRETCH));
    this.bytes.fill(SPACE, Math.max(this.length, this.blankEnd), stretchEnd);
    this.blankEnd = stretchEnd;
  }

  /** Drops the bytes after `length` (which must not be past the current one). */
  truncate(length: number): void {
    const bytes = this.bytes;
    for (let position = length; position < this.length; position++) bytes[position] = SPACE;
    if (this.blankEnd < this.length) this.blankEnd = this.length;
    this.length = length;
  }

  byte(value: number): void {
    if (this.length >= this.bytes.length) this.reserve(1);
    this.bytes[this.length++] = value;
  }

  /** Appends `text` as UTF-8 (a plain loop for the common ASCII case). */
  text(text: string): void {
    const count = text.length;
    this.reserve(count);
    const bytes = this.bytes;
    let position = this.length;
    for (let i = 0; i < count; i++) {
      const code = text.charCodeAt(i);
      if (code >= 0x80) {
        this.length = position;
        this.reserve(3 * (count - i));
        const { written } = encoder.encodeInto(text.slice(i), this.bytes.subarray(this.length));
        this.length += written;
        return;
      }
      bytes[position++] = code;
    }
    this.length = position;
  }

  /** Appends a non-negative integer below 2^53 in decimal (like String(n)). */
  uint(value: number): void {
    this.reserve(16);
    this.length = putUint(this.bytes, this.length, value);
  }

  /** Appends `value` (0 <= value < 10^digits <= 10^9) with leading zeros to `digits` digits. */
  zeroPadded(value: number, digits: number): void {
    this.reserve(digits);
    this.length = putZeroPadded(this.bytes, this.length, value, digits);
  }


  /**
   * Pads the bytes written since `start` with spaces to `width` (left: after
   * them, right: before them). Only for ASCII text, where a byte is a column.
   */
  pad(start: number, width: number, align: 'left' | 'right'): void {
    const end = start + width;
    if (this.length >= end) return;
    if (align === 'left' && end <= this.blankEnd) {
      this.length = end;
      return;
    }
    const missing = end - this.length;
    this.reserve(missing);
    const bytes = this.bytes;
    if (align === 'right') bytes.copyWithin(start + missing, start, this.length);
    const blankFrom = align === 'left' ? this.length : start;
    for (let position = blankFrom; position < blankFrom + missing; position++) bytes[position] = SPACE;
    this.length = end;
    if (this.blankEnd < end) this.blankEnd = end;
  }

  /** The bytes written so far, as a view (valid until the next write). */
  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  toString(): string {
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.length).toString('utf8');
  }
}

/** ASCII text as bytes, for constants written on every row. */
export function asciiBytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}
