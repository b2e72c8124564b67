// SPDX-License-Identifier: MIT
// Declarative raw fields: where a column's value lies in a binary record
// and how it prints, so that the hot path (RowRenderer.writeLine, compiled
// by format/row-compiler.ts, the one code that writes them) can copy it
// from the record into the output bytes without an object or a string per
// field. A field prints exactly what its column's `value` returns
// (the tests check this on random events); where it cannot (a non-ASCII
// name, an IPv6 address, an unknown state) it declines and `value` is used.
// Pure.

import { asciiBytes } from './output.js';

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

/** The longest name of a compiled field, to reserve room for. */
export function rawFieldMaxBytes(plan: RawPlan): number {
  let longest = Math.max(RAW_FIELD_MAX_BYTES, plan.code === TEXT ? plan.size : 0, plan.otherwise?.length ?? 0);
  for (const name of plan.names) longest = Math.max(longest, name?.length ?? 0);
  return longest;
}
