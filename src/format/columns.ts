// SPDX-License-Identifier: MIT
// Column specs: one definition per column drives both the header and the
// rows, in the fixed-width and the CSV layouts. The widths, alignments and
// truncations are those of the printf formats of bcc's Python tools
// (`%-15s` is width 15 left-aligned, `%-10.10s` also truncates to 10).
//
// A row is rendered either to a string (`row`) or appended as bytes to a
// ByteOutput (`writeLine`, the hot path). Both use the same specs. `value`
// defines a column's text; for the hot path a column may also say where
// that text comes from in the raw record (`raw`, interpreted in place) or
// how to append it (`write`). Both must agree with `value` (the tests check
// that they do) and may decline, and then `value` is used.

import { asciiBytes, type ByteOutput } from './output.js';
import { compileRawField, rawFieldMaxBytes, type RawField, type RawPlan, type RawRecord } from './raw-fields.js';
import { compileRowWriter, type RowWriterFn } from './row-compiler.js';

/** "No maximum", as a small integer: with Infinity, positions computed from
 * it became doubles and cost the JIT a deoptimisation per warm-up. */
const NO_MAX_CHARS = 0x3fff_ffff;
/** Blanked ahead of each row: longer than any usual row, so that padding
 * costs nothing (a longer row is still right, only slower). */
const ROW_BYTES = 256;

/** `Raw` is what the hot path renders: a Row with cheaper access to the
 * underlying data (for events, a view over the perf ring). */
export interface Column<Row, Raw extends Row = Row> {
  readonly header: string;
  /** Minimum width in the fixed-width layout (0: none). */
  readonly width: number;
  readonly align: 'left' | 'right';
  /** Maximum characters in the fixed-width layout (printf's precision). */
  readonly maxChars?: number;
  /** A literal column such as bcc's "->" between the states: the same text
   * in header and rows, and absent from CSV. */
  readonly literal?: boolean;
  /** Columns that bcc prints with %s next to the previous one, with no
   * separator (its empty IP slot in the default layout). */
  readonly omitInText?: boolean;
  readonly value: (row: Row) => string;
  /** Where `value` comes from in the raw record, for the hot path. */
  readonly raw?: Raw extends RawRecord ? RawField : never;
  /**
   * Otherwise: appends exactly the UTF-8 of `value(row)`, which must then be
   * ASCII (a byte is a column), without building strings. Returns false
   * when it cannot: whatever it appended is dropped and `value` is used.
   */
  readonly write?: (out: ByteOutput, row: Raw) => boolean;
  /** Decorates the padded text (colour); never changes its visible width. */
  readonly decorate?: (padded: string, row: Row) => string;
  /** Forgets what the column remembers of the rows so far (-t: the first
   * row's time), as if no row had been rendered. */
  readonly reset?: () => void;
}

function fit(text: string, column: Column<never, never>): string {
  let fitted = column.maxChars !== undefined && text.length > column.maxChars ? text.slice(0, column.maxChars) : text;
  if (fitted.length < column.width) {
    fitted = column.align === 'left' ? fitted.padEnd(column.width) : fitted.padStart(column.width);
  }
  return fitted;
}

export type Layout = 'text' | 'csv';

/** How the hot path renders one column, worked out once from its spec. */
interface ColumnPlan<Row, Raw extends Row> {
  readonly column: Column<Row, Raw>;
  /** The literal's bytes, or null. */
  readonly literal: Uint8Array | null;
  /** `raw` and `write`, unless the column is decorated (colour needs the string). */
  readonly raw: RawPlan | null;
  /** Room to make before writing (the literal, or the raw field). */
  readonly room: number;
  readonly write: ((out: ByteOutput, row: Raw) => boolean) | null;
  readonly fixedWidth: boolean;
  /** The spec's width, alignment and maxChars (NO_MAX_CHARS: none), copied
   * into one monomorphic object for the hot loop. */
  readonly width: number;
  readonly align: 'left' | 'right';
  readonly maxChars: number;
}

/** Renders rows of one kind in one layout; header and rows share `columns`. */
export class RowRenderer<Row, Raw extends Row = Row> {
  private readonly columns: readonly Column<Row, Raw>[];
  private readonly plans: readonly ColumnPlan<Row, Raw>[];
  private readonly separator: number;
  /** writeLine compiled for this layout (row-compiler.ts). */
  private readonly compiled: RowWriterFn<Raw>;

  constructor(
    columns: readonly Column<Row, Raw>[],
    private readonly layout: Layout,
    private readonly decorate: boolean,
  ) {
    this.columns = columns.filter((column) => (layout === 'csv' ? !column.literal : !column.omitInText));
    const csv = layout === 'csv';
    this.separator = (csv ? ',' : ' ').charCodeAt(0);
    this.plans = this.columns.map((column) => {
      const decorated = decorate && column.decorate !== undefined;
      const literalText = column.literal && !decorated ? fit(column.header, column) : null;
      const literal = literalText === null || csv ? null : asciiBytes(literalText);
      const raw = decorated || column.raw === undefined ? null : compileRawField(column.raw);
      return {
        column,
        literal,
        raw,
        room: 1 + Math.max(literal?.length ?? 0, raw === null ? 0 : rawFieldMaxBytes(raw)),
        write: decorated ? null : (column.write ?? null),
        fixedWidth: !csv,
        width: column.width,
        align: column.align,
        maxChars: column.maxChars ?? NO_MAX_CHARS,
      };
    });
    const compiledColumns = this.plans.map((plan) => ({ ...plan, hasWrite: plan.write !== null }));
    this.compiled = compileRowWriter<Raw>(compiledColumns, this.separator, ROW_BYTES, {
      write: (index, out, row) => (this.plans[index]?.write as (out: ByteOutput, row: Raw) => boolean)(out, row),
      fallback: (index, out, row, start) => this.fallback(this.plans[index] as ColumnPlan<Row, Raw>, out, row, start),
    });
  }

  /** A column's text through `value` (the raw field or writer declined),
   * written at `start`; returns the new length. */
  private fallback(plan: ColumnPlan<Row, Raw>, out: ByteOutput, row: Raw, start: number): number {
    const column = plan.column;
    out.length = start;
    if (plan.fixedWidth) {
      const text = fit(column.value(row), column);
      out.text(this.decorate && column.decorate ? column.decorate(text, row) : text);
    } else {
      out.text(column.value(row));
    }
    return out.length;
  }

  /** Forgets the rows rendered so far (see Column.reset): the tracer's
   * warm-up renders synthetic events with the renderer the real ones use. */
  reset(): void {
    for (const column of this.columns) column.reset?.();
  }

  header(): string {
    const separator = this.layout === 'csv' ? ',' : ' ';
    return this.columns
      .map((column) => (this.layout === 'csv' ? column.header : fit(column.header, column)))
      .join(separator);
  }

  row(row: Row): string {
    const csv = this.layout === 'csv';
    let line = '';
    for (let i = 0; i < this.columns.length; i++) {
      const column = this.columns[i] as Column<Row, Raw>;
      if (i > 0) line += csv ? ',' : ' ';
      if (csv) {
        line += column.value(row);
        continue;
      }
      const text = fit(column.value(row), column);
      line += this.decorate && column.decorate ? column.decorate(text, row) : text;
    }
    return line;
  }

  /**
   * Appends `row(row)` and a newline to `out`, as UTF-8. The hot path: a
   * row writer compiled for this layout (format/row-compiler.ts) writes
   * raw fields and literals straight into the buffer, and padding falls in
   * space blanked ahead.
   */
  writeLine(out: ByteOutput, row: Raw): void {
    this.compiled(out, row);
  }
}
