// SPDX-License-Identifier: MIT
// Declarative raw fields: where a column's value lies in a binary record
// and how it prints, so that the hot path (RowRenderer.writeLine) can copy
// it from the record into the output bytes without an object or a string
// per field. A field prints exactly what its column's `value` returns
// (the tests check this on random events); where it cannot (a non-ASCII
// name, an IPv6 address, an unknown state) it declines and `value` is used.
// Pure.

import { asciiBytes, HEX_DIGITS, HEX_PAIRS, putLargeUint, putUint, putZeroPadded } from './output.js';

/** A record in place: `view` at `offset` (for events, the perf ring). */
export interface RawRecord {
  readonly view: DataView;
  readonly offset: number;
}

export type RawField =
  /** An unsigned little-endian integer of 1, 2 or 4 bytes, in decimal. */
  | { readonly kind: 'uint'; readonly offset: number; readonly bytes: 1 | 2 | 4 }
  /** A little-endian u64 as %x (lowercase, no leading zeros). */
  | { readonly kind: 'hex64'; readonly offset: number }
  /** A NUL-terminated char array of `maxBytes`; declines if not ASCII. */
  | { readonly kind: 'text'; readonly offset: number; readonly maxBytes: number }
  /** 4 bytes (network order) as a.b.c.d; declines when the u16 at
   * `familyOffset` is AF_INET6 (the string path formats IPv6). */
  | { readonly kind: 'ipv4'; readonly offset: number; readonly familyOffset: number }
  /** An unsigned 1- or 2-byte index into `names`; an index without a name
   * prints `otherwise`, or declines if there is none. */
  | {
      readonly kind: 'name';
      readonly offset: number;
      readonly bytes: 1 | 2;
      readonly names: readonly (string | undefined)[];
      readonly otherwise?: string;
    }
  /** A little-endian u64 of nanoseconds, as bcc's "%.3f" % (us / 1000.0)
   * with us = ns // 1000 (microsAsMillis3). */
  | { readonly kind: 'nsAsMillis3'; readonly offset: number };

const AF_INET6 = 10;
const DOT = 0x2e;
const SPACE = 0x20;
const QUESTION_MARK = 0x3f;

/** Codes of the compiled kinds. */
const UINT = 1;
const HEX64 = 2;
const TEXT = 3;
const IPV4 = 4;
const NAME = 5;
const NS_AS_MILLIS3 = 6;
/** The compiled kinds' codes, for format/row-compiler.ts. */
export const RAW_CODES = { UINT, HEX64, TEXT, IPV4, NAME, NS_AS_MILLIS3 } as const;

/** A RawField compiled for the hot loop: every plan has the same shape. */
export interface RawPlan {
  readonly code: number;
  readonly offset: number;
  /** uint/name: integer size; text: maxBytes; ipv4: familyOffset. */
  readonly size: number;
  readonly names: readonly (Uint8Array | undefined)[];
  readonly otherwise: Uint8Array | null;
}

const NO_NAMES: readonly (Uint8Array | undefined)[] = [];

export function compileRawField(field: RawField): RawPlan {
  switch (field.kind) {
    case 'uint':
      return { code: UINT, offset: field.offset, size: field.bytes, names: NO_NAMES, otherwise: null };
    case 'hex64':
      return { code: HEX64, offset: field.offset, size: 8, names: NO_NAMES, otherwise: null };
    case 'text':
      return { code: TEXT, offset: field.offset, size: field.maxBytes, names: NO_NAMES, otherwise: null };
    case 'ipv4':
      return { code: IPV4, offset: field.offset, size: field.familyOffset, names: NO_NAMES, otherwise: null };
    case 'name':
      return {
        code: NAME,
        offset: field.offset,
        size: field.bytes,
        names: field.names.map((name) => (name === undefined ? undefined : asciiBytes(name))),
        otherwise: field.otherwise === undefined ? null : asciiBytes(field.otherwise),
      };
    case 'nsAsMillis3':
      return { code: NS_AS_MILLIS3, offset: field.offset, size: 8, names: NO_NAMES, otherwise: null };
  }
}

/** Room a raw field may need: the longest is a u64 in hex (16) or decimal (20). */
export const RAW_FIELD_MAX_BYTES = 32;

/**
 * Writes the field of the record at `base` in `view` into `bytes` at
 * `position` and returns the position after it, or -1 when it declines
 * (leaving any bytes it wrote as spaces). The caller guarantees room for
 * RAW_FIELD_MAX_BYTES and for the longest name.
 */
export function putRawField(bytes: Uint8Array, position: number, plan: RawPlan, view: DataView, base: number): number {
  const at = base + plan.offset;
  switch (plan.code) {
    case UINT:
      return putUint(bytes, position, plan.size === 4 ? view.getUint32(at, true) : plan.size === 2 ? view.getUint16(at, true) : view.getUint8(at));
    case HEX64: {
      // Byte by byte from the top (little-endian), so every value stays a
      // small integer: u32 halves above 2^30 would not, and cost the JIT a
      // deoptimisation while it warms up.
      let cursor = position;
      let index = 7;
      while (index > 0 && view.getUint8(at + index) === 0) index--;
      const top = view.getUint8(at + index);
      if (top < 16) bytes[cursor++] = HEX_DIGITS[top] as number;
      else {
        bytes[cursor++] = HEX_PAIRS[top << 1] as number;
        bytes[cursor++] = HEX_PAIRS[(top << 1) + 1] as number;
      }
      while (index > 0) {
        const pair = view.getUint8(at + --index) << 1;
        bytes[cursor++] = HEX_PAIRS[pair] as number;
        bytes[cursor++] = HEX_PAIRS[pair + 1] as number;
      }
      return cursor;
    }
    case TEXT: {
      const end = position + plan.size;
      let cursor = position;
      for (let from = at; cursor < end; from++) {
        const byte = view.getUint8(from);
        if (byte === 0) break;
        if (byte >= 0x80) {
          bytes.fill(SPACE, position, cursor);
          return -1;
        }
        // A control character shows as "?", as ps shows it (quote.ts printable).
        bytes[cursor++] = byte < 0x20 || byte === 0x7f ? QUESTION_MARK : byte;
      }
      return cursor;
    }
    case IPV4: {
      if (view.getUint16(base + plan.size, true) === AF_INET6) return -1;
      let cursor = putUint(bytes, position, view.getUint8(at));
      bytes[cursor++] = DOT;
      cursor = putUint(bytes, cursor, view.getUint8(at + 1));
      bytes[cursor++] = DOT;
      cursor = putUint(bytes, cursor, view.getUint8(at + 2));
      bytes[cursor++] = DOT;
      return putUint(bytes, cursor, view.getUint8(at + 3));
    }
    case NAME: {
      const name = plan.names[plan.size === 2 ? view.getUint16(at, true) : view.getUint8(at)] ?? plan.otherwise;
      if (name === null) return -1;
      let cursor = position;
      for (let i = 0; i < name.length; i++) bytes[cursor++] = name[i] as number;
      return cursor;
    }
    case NS_AS_MILLIS3: {
      // ns -> us exactly as Math.floor(deltaNs / 1000) does.
      const ns = view.getUint32(at + 4, true) * 0x1_0000_0000 + view.getUint32(at, true);
      const us = Math.floor(ns / 1000);
      const millis = Math.floor(us / 1000);
      // Small integers where they fit (see HEX64).
      const cursor = millis < 0x4000_0000 ? putUint(bytes, position, millis | 0) : putLargeUint(bytes, position, millis);
      bytes[cursor] = DOT;
      return putZeroPadded(bytes, cursor + 1, (us % 1000) | 0, 3);
    }
    default:
      return -1;
  }
}

/** The longest name of a compiled field, to reserve room for. */
export function rawFieldMaxBytes(plan: RawPlan): number {
  let longest = Math.max(RAW_FIELD_MAX_BYTES, plan.code === TEXT ? plan.size : 0, plan.otherwise?.length ?? 0);
  for (const name of plan.names) longest = Math.max(longest, name?.length ?? 0);
  return longest;
}
