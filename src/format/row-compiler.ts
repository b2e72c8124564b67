// SPDX-License-Identifier: MIT
// Compiles a row layout (RowRenderer's column plans) once into one
// straight-line JavaScript function that writes a row: each column's raw
// field, widths, padding and separators become constants in the code, so
// the hot path no longer interprets the plans per field (a switch per field
// and plan objects read per event cost more than the formatting itself).
// Where a raw field cannot print what its column's `value` returns (a
// non-ASCII name, an IPv6 address, an unknown state) the code declines to
// the column's string fallback; the tests compare the rows with the string
// renderer (RowRenderer.row) on random events. Pure.

import type { ByteOutput } from './output.js';
import { HEX_DIGITS, HEX_PAIRS, putLargeUint, putUint, putZeroPadded } from './output.js';
import { AF_INET6 } from '../decode/addr.js';
import { RAW_CODES, type RawPlan } from './raw-fields.js';

/** What the compiler needs to know about one column (RowRenderer's plan). */
export interface CompiledColumn {
  readonly literal: Uint8Array | null;
  readonly raw: RawPlan | null;
  readonly room: number;
  readonly hasWrite: boolean;
  readonly fixedWidth: boolean;
  readonly width: number;
  readonly align: 'left' | 'right';
  /** NO_MAX_CHARS (or more) when there is none. */
  readonly maxChars: number;
}

/** A compiled row writer. */
export type RowWriterFn<Raw> = (out: ByteOutput, row: Raw) => void;

export interface RowCompilerHelpers<Raw> {
  /** Column i's `write` (only called for columns with hasWrite). */
  readonly write: (index: number, out: ByteOutput, row: Raw) => boolean;
  /** The string fallback of column i: writes its fitted (and decorated)
   * value at `start` (out.length is set to it) and returns the new length. */
  readonly fallback: (index: number, out: ByteOutput, row: Raw, start: number) => number;
}

const NEWLINE = 0x0a;
const SPACE = 0x20;
const QUESTION_MARK = 0x3f;
const ZERO = 0x30;
const DOT = 0x2e;

/** Appends a byte value (0..255) in decimal. */
function putByte(bytes: Uint8Array, position: number, value: number): number {
  if (value >= 100) {
    const hundreds = (value / 100) | 0;
    const rest = value - hundreds * 100;
    const tens = (rest / 10) | 0;
    bytes[position] = ZERO + hundreds;
    bytes[position + 1] = ZERO + tens;
    bytes[position + 2] = ZERO + rest - tens * 10;
    return position + 3;
  }
  if (value >= 10) {
    const tens = (value / 10) | 0;
    bytes[position] = ZERO + tens;
    bytes[position + 1] = ZERO + value - tens * 10;
    return position + 2;
  }
  bytes[position] = ZERO + value;
  return position + 1;
}

/** The code of one raw field: reads `view` at `base`, writes `bytes` at
 * `p`; sets p to -1 when it declines (leaving what it wrote as spaces). */
function rawCode(raw: RawPlan, index: number, maxChars: number): string {
  const at = `base + ${raw.offset}`;
  switch (raw.code) {
    case RAW_CODES.UINT: {
      const read =
        raw.size === 4 ? `view.getUint32(${at}, true)` : raw.size === 2 ? `view.getUint16(${at}, true)` : `view.getUint8(${at})`;
      return `p = putUint(bytes, p, ${read});`;
    }
    case RAW_CODES.HEX64:
      return `{
        let index = 7;
        while (index > 0 && view.getUint8(${at} + index) === 0) index--;
        const top = view.getUint8(${at} + index);
        if (top < 16) bytes[p++] = HEX_DIGITS[top];
        else { bytes[p++] = HEX_PAIRS[top << 1]; bytes[p++] = HEX_PAIRS[(top << 1) + 1]; }
        while (index > 0) {
          const pair = view.getUint8(${at} + --index) << 1;
          bytes[p++] = HEX_PAIRS[pair];
          bytes[p++] = HEX_PAIRS[pair + 1];
        }
      }`;
    case RAW_CODES.TEXT: {
      // Only the bytes that can show matter: an ASCII prefix of maxChars
      // bytes decodes to the same maxChars characters whatever follows.
      const limit = Math.min(raw.size, maxChars);
      return `{
        const from = ${at};
        const end = from + ${limit};
        for (let at = from; at < end; at++) {
          const byte = view.getUint8(at);
          if (byte === 0) break;
          if (byte >= 0x80) { bytes.fill(${SPACE}, start, p); p = -1; break; }
          // A control character shows as "?", as ps shows it (quote.ts printable).
          bytes[p++] = byte < 0x20 || byte === 0x7f ? ${QUESTION_MARK} : byte;
        }
      }`;
    }
    case RAW_CODES.IPV4:
      return `if (view.getUint16(base + ${raw.size}, true) === ${AF_INET6}) p = -1;
      else {
        p = putByte(bytes, p, view.getUint8(${at}));
        bytes[p++] = ${DOT};
        p = putByte(bytes, p, view.getUint8(${at} + 1));
        bytes[p++] = ${DOT};
        p = putByte(bytes, p, view.getUint8(${at} + 2));
        bytes[p++] = ${DOT};
        p = putByte(bytes, p, view.getUint8(${at} + 3));
      }`;
    case RAW_CODES.NAME: {
      const read = raw.size === 2 ? `view.getUint16(${at}, true)` : `view.getUint8(${at})`;
      const otherwise = raw.otherwise === null ? 'null' : `otherwise${index}`;
      return `{
        const name = names${index}[${read}] ?? ${otherwise};
        if (name === null) p = -1;
        else for (let i = 0; i < name.length; i++) bytes[p++] = name[i];
      }`;
    }
    case RAW_CODES.NS_AS_MILLIS3:
      return `{
        const ns = view.getUint32(${at} + 4, true) * 0x100000000 + view.getUint32(${at}, true);
        const us = Math.floor(ns / 1000);
        const millis = Math.floor(us / 1000);
        p = millis < 0x40000000 ? putUint(bytes, p, millis | 0) : putLargeUint(bytes, p, millis);
        bytes[p] = ${DOT};
        p = putZeroPadded(bytes, p + 1, (us % 1000) | 0, 3);
      }`;
    default:
      return 'p = -1;';
  }
}

/** The row writer for `columns`, separated by `separator` (a byte),
 * blanking `rowBytes` ahead of each row. */
export function compileRowWriter<Raw>(
  columns: readonly CompiledColumn[],
  separator: number,
  rowBytes: number,
  helpers: RowCompilerHelpers<Raw>,
): RowWriterFn<Raw> {
  const constants: Record<string, unknown> = {
    putUint,
    putLargeUint,
    putZeroPadded,
    putByte,
    HEX_DIGITS,
    HEX_PAIRS,
    write: helpers.write,
    fallback: helpers.fallback,
  };
  let body = `out.blankAhead(${rowBytes});
  let bytes = out.bytes;
  let p = out.length;
  let blankEnd = out.blankEnd;
  let start = 0;
  const view = row.view;
  const base = row.offset;
`;
  columns.forEach((column, i) => {
    body += `// column ${i}
  if (p + ${column.room} > bytes.length) { out.length = p; out.reserve(${column.room}); bytes = out.bytes; blankEnd = out.blankEnd; }
`;
    if (i > 0) {
      body += separator === SPACE ? `  if (p >= blankEnd) bytes[p] = ${SPACE};\n  p++;\n` : `  bytes[p++] = ${separator};\n`;
    }
    if (column.literal !== null) {
      for (const byte of column.literal) body += `  bytes[p++] = ${byte};\n`;
      return;
    }
    body += '  start = p;\n';
    if (column.raw !== null) {
      if (column.raw.code === RAW_CODES.NAME) {
        constants[`names${i}`] = column.raw.names;
        if (column.raw.otherwise !== null) constants[`otherwise${i}`] = column.raw.otherwise;
      }
      body += `  ${rawCode(column.raw, i, column.fixedWidth ? column.maxChars : 0x3fff_ffff)}\n`;
    } else if (column.hasWrite) {
      body += `  out.length = p;
  if (write(${i}, out, row)) p = out.length;
  else { out.truncate(start); p = -1; }
  bytes = out.bytes;
  blankEnd = out.blankEnd;
`;
    } else {
      body += '  p = -1;\n';
    }
    let fitted = '';
    if (column.fixedWidth) {
      if (column.maxChars < 0x3fff_ffff) {
        fitted += `if (p - start > ${column.maxChars}) { out.length = p; out.truncate(start + ${column.maxChars}); p = out.length; blankEnd = out.blankEnd; }\n`;
      }
      if (column.width > 0) {
        const padded = `start + ${column.width}`;
        fitted += `if (p < ${padded}) {
    ${column.align === 'left' ? `if (${padded} <= blankEnd) p = ${padded}; else ` : ''}{ out.length = p; out.pad(start, ${column.width}, '${column.align}'); bytes = out.bytes; p = out.length; blankEnd = out.blankEnd; }
  }\n`;
      }
    }
    body += `  if (p < 0) { p = fallback(${i}, out, row, start); bytes = out.bytes; blankEnd = out.blankEnd; }
  else {\n  ${fitted}}\n`;
  });
  body += `  out.length = p;
  out.byte(${NEWLINE});
`;
  const names = Object.keys(constants);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the point: code specialised to one layout
  const factory = new Function(...names, `return function writeRow(out, row) {\n${body}};`) as (...values: unknown[]) => RowWriterFn<Raw>;
  return factory(...names.map((name) => constants[name]));
}
