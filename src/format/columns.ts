// SPDX-License-Identifier: MIT
// Column specs: one definition per column drives both the header and the
// rows, in the fixed-width and the CSV layouts. The widths, alignments and
// truncations are those of the printf formats of bcc's Python tools
// (`%-15s` is width 15 left-aligned, `%-10.10s` also truncates to 10).

export interface Column<Row> {
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
  /** Decorates the padded text (colour); never changes its visible width. */
  readonly decorate?: (padded: string, row: Row) => string;
}

function fit(text: string, column: Column<unknown>): string {
  let fitted = column.maxChars !== undefined && text.length > column.maxChars ? text.slice(0, column.maxChars) : text;
  if (fitted.length < column.width) {
    fitted = column.align === 'left' ? fitted.padEnd(column.width) : fitted.padStart(column.width);
  }
  return fitted;
}

export type Layout = 'text' | 'csv';

/** Renders rows of one kind in one layout; header and rows share `columns`. */
export class RowRenderer<Row> {
  private readonly columns: readonly Column<Row>[];

  constructor(
    columns: readonly Column<Row>[],
    private readonly layout: Layout,
    private readonly decorate: boolean,
  ) {
    this.columns = columns.filter((column) => (layout === 'csv' ? !column.literal : !column.omitInText));
  }

  header(): string {
    const separator = this.layout === 'csv' ? ',' : ' ';
    return this.columns
      .map((column) => (this.layout === 'csv' ? column.header : fit(column.header, column as Column<unknown>)))
      .join(separator);
  }

  row(row: Row): string {
    const csv = this.layout === 'csv';
    let line = '';
    for (let i = 0; i < this.columns.length; i++) {
      const column = this.columns[i] as Column<Row>;
      if (i > 0) line += csv ? ',' : ' ';
      if (csv) {
        line += column.value(row);
        continue;
      }
      const text = fit(column.value(row), column as Column<unknown>);
      line += this.decorate && column.decorate ? column.decorate(text, row) : text;
    }
    return line;
  }
}
