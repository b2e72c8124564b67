// SPDX-License-Identifier: MIT
// tcplife --top, the screen: pure. A snapshot of the open sessions, the
// terminal's size and the sort key become the lines to draw. Fitting is done
// here, so the driver only moves the cursor: a narrow terminal first loses
// the less telling columns, then addresses and COMM are cut, and only then
// are lines cut at the right edge; a short one shows the top rows and says
// how many there are. Widths count UTF-16 units (a COMM with wide characters
// may be misjudged by a column or two).

import { stateNumber } from '../decode/tcp-states.js';
import { colorState, type Colorizer } from '../format/color.js';
import type { OpenSession, OpenSessionsSnapshot } from '../decode/open-session.js';
import { printable } from '../quote.js';
import type { ScreenSize } from '../io/terminal.js';

export type { ScreenSize };

export type SortKey = 'total' | 'tx' | 'rx' | 'age';

/** The keys that choose the sort, and what each shows in the help line. */
export const SORT_KEYS: Readonly<Record<string, SortKey>> = { t: 'tx', r: 'rx', a: 'age', b: 'total' };

const SORT_LABELS: Readonly<Record<SortKey, string>> = {
  total: 'TX+RX/s',
  tx: 'TX/s',
  rx: 'RX/s',
  age: 'AGE',
};

export interface TopView {
  readonly sortKey: SortKey;
  /** The time the snapshot's deltas cover, for the per-second rates. */
  readonly intervalNs: bigint;
  /** Wall-clock time of the snapshot, as printed (HH:MM:SS). */
  readonly clock: string;
  /** The terminal's size; null for plain text (every session, no width limit, no key help). */
  readonly size: ScreenSize | null;
  readonly colorizer: Colorizer | null;
}

type Align = 'left' | 'right';
type Cut = 'end' | 'middle';

interface Column {
  readonly head: string;
  readonly align: Align;
  readonly cell: (session: OpenSession, rates: Rates) => string;
  /** Narrowest it may be cut to; absent for a column never cut. */
  readonly minWidth?: number;
  readonly cut?: Cut;
}

interface Rates {
  readonly txPerSecond: number;
  readonly rxPerSecond: number;
}

const NANOS_PER_SECOND = 1_000_000_000n;

/** Bytes in 1024 units, at most 5 characters: "1023", "9.9K", "512M" (truncated, never rounded up). */
export function humanBytes(bytes: number): string {
  const units = ['', 'K', 'M', 'G', 'T', 'P'];
  let value = Math.max(0, Math.floor(bytes));
  if (value < 1024) return String(value);
  let unit = 0;
  while (value >= 1024 * 1024 && unit < units.length - 2) {
    value /= 1024;
    unit++;
  }
  const scaled = value / 1024;
  const text = scaled < 10 ? (Math.floor(scaled * 10) / 10).toFixed(1) : String(Math.floor(scaled));
  return `${text}${units[unit + 1]}`;
}

/** Age as top shows time: "42s", "12m05s", "3h05m", "2d03h"; a leading ">"
 * when the start was not seen (the age is a lower bound). */
export function formatAge(ageMs: number, startSeen: boolean): string {
  const seconds = Math.max(0, Math.floor(ageMs / 1000));
  const two = (n: number) => String(n).padStart(2, '0');
  let text: string;
  if (seconds < 60) text = `${seconds}s`;
  else if (seconds < 3600) text = `${Math.floor(seconds / 60)}m${two(seconds % 60)}s`;
  else if (seconds < 86_400) text = `${Math.floor(seconds / 3600)}h${two(Math.floor(seconds / 60) % 60)}m`;
  else text = `${Math.floor(seconds / 86_400)}d${two(Math.floor(seconds / 3600) % 24)}h`;
  return startSeen ? text : `>${text}`;
}

function endpoint(family: 4 | 6, address: string, port: number): string {
  return family === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Bytes per second over `intervalNs`, in whole bytes. */
export function perSecond(deltaBytes: number, intervalNs: bigint): number {
  if (intervalNs <= 0n || deltaBytes <= 0) return 0;
  return Number((BigInt(Math.floor(deltaBytes)) * NANOS_PER_SECOND) / intervalNs);
}

const COLUMNS: readonly Column[] = [
  { head: 'PID', align: 'right', cell: (s) => (s.pid > 0 ? String(s.pid) : '-') },
  { head: 'COMM', align: 'left', cell: (s) => printable(s.comm) || '-', minWidth: 7, cut: 'end' },
  { head: 'LOCAL', align: 'left', cell: (s) => endpoint(s.family, s.saddr, s.sport), minWidth: 12, cut: 'middle' },
  { head: 'REMOTE', align: 'left', cell: (s) => endpoint(s.family, s.daddr, s.dport), minWidth: 12, cut: 'middle' },
  { head: 'STATE', align: 'left', cell: (s) => printable(s.state) },
  { head: 'AGE', align: 'right', cell: (s) => formatAge(s.ageMs, s.startSeen) },
  { head: 'TX/s', align: 'right', cell: (_s, r) => humanBytes(r.txPerSecond) },
  { head: 'RX/s', align: 'right', cell: (_s, r) => humanBytes(r.rxPerSecond) },
  { head: 'TX', align: 'right', cell: (s) => humanBytes(s.txBytes) },
  { head: 'RX', align: 'right', cell: (s) => humanBytes(s.rxBytes) },
];

/** What a narrow terminal gives up, in order (the totals go together). */
const DROP_ORDER: readonly (readonly string[])[] = [['LOCAL'], ['STATE'], ['AGE'], ['TX', 'RX']];

/** Cut, when even the fewest columns are too wide: the remote address, then COMM. */
const CUT_ORDER: readonly string[] = ['REMOTE', 'COMM'];

const SEPARATOR = ' ';

function compare(a: OpenSession, b: OpenSession, key: SortKey): number {
  const byKey = key === 'age' ? b.ageMs - a.ageMs : sortValue(b, key) - sortValue(a, key);
  if (byKey !== 0) return byKey;
  const byTotal = b.txBytes + b.rxBytes - (a.txBytes + a.rxBytes);
  if (byTotal !== 0) return byTotal;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function sortValue(session: OpenSession, key: Exclude<SortKey, 'age'>): number {
  if (key === 'tx') return session.txDeltaBytes;
  if (key === 'rx') return session.rxDeltaBytes;
  return session.txDeltaBytes + session.rxDeltaBytes;
}

/** The sessions in the order shown: by bytes in the interval (most first) or
 * by age (oldest first); ties by total bytes, then by key, so the order is
 * stable from frame to frame. */
export function sortSessions(sessions: readonly OpenSession[], key: SortKey): OpenSession[] {
  return [...sessions].sort((a, b) => compare(a, b, key));
}

/** sortSessions(sessions, key).slice(0, count), without sorting them all:
 * a screen shows a few dozen of what may be 100,000 open sessions (an
 * insertion into the `count` best so far, skipped for most sessions). */
export function topSessions(sessions: readonly OpenSession[], key: SortKey, count: number): OpenSession[] {
  if (count >= sessions.length) return sortSessions(sessions, key);
  const best: OpenSession[] = [];
  if (count <= 0) return best;
  for (const session of sessions) {
    const worst = best[best.length - 1];
    if (best.length === count && worst !== undefined && compare(session, worst, key) >= 0) continue;
    let low = 0;
    let high = best.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (compare(session, best[middle] as OpenSession, key) < 0) high = middle;
      else low = middle + 1;
    }
    best.splice(low, 0, session);
    if (best.length > count) best.pop();
  }
  return best;
}

function cutText(text: string, width: number, cut: Cut): string {
  if (text.length <= width) return text;
  if (width <= 1) return text.slice(0, width);
  if (cut === 'end') return `${text.slice(0, width - 1)}~`;
  const right = Math.floor((width - 1) / 2);
  return `${text.slice(0, width - 1 - right)}~${text.slice(text.length - right)}`;
}

function pad(text: string, width: number, align: Align): string {
  return align === 'left' ? text.padEnd(width) : text.padStart(width);
}

interface Layout {
  readonly columns: readonly Column[];
  readonly widths: readonly number[];
}

function lineWidth(widths: readonly number[]): number {
  return widths.reduce((sum, width) => sum + width, 0) + SEPARATOR.length * Math.max(0, widths.length - 1);
}

/** `layout` with the columns named in `order` cut (in that order, each down
 * to its minWidth) until it fits `maxWidth`, or as far as they go. */
function cutLayout(layout: Layout, order: readonly string[], maxWidth: number): Layout {
  const widths = [...layout.widths];
  let excess = lineWidth(widths) - maxWidth;
  for (const head of order) {
    const index = layout.columns.findIndex((column) => column.head === head);
    const column = layout.columns[index];
    if (excess <= 0 || column?.minWidth === undefined) continue;
    const width = widths[index] ?? 0;
    const cut = Math.min(excess, Math.max(0, width - column.minWidth));
    widths[index] = width - cut;
    excess -= cut;
  }
  return { columns: layout.columns, widths };
}

/** The columns left after dropping DROP_ORDER's first `dropped` groups, at their natural widths. */
function naturalLayout(cells: readonly (readonly string[])[], dropped: number): Layout {
  const gone = new Set(DROP_ORDER.slice(0, dropped).flat());
  const columns = COLUMNS.filter((column) => !gone.has(column.head));
  const widths = columns.map((column) => {
    const index = COLUMNS.indexOf(column);
    return cells.reduce((width, row) => Math.max(width, (row[index] ?? '').length), column.head.length);
  });
  return { columns, widths };
}

/** The richest layout that fits `maxWidth` (null: no limit): every column,
 * with LOCAL cut if need be; else DROP_ORDER's groups dropped one by one
 * (better a column gone than the addresses cut); else the fewest columns
 * with REMOTE and COMM cut, which may still not fit. */
function fitLayout(cells: readonly (readonly string[])[], maxWidth: number | null): Layout {
  const full = naturalLayout(cells, 0);
  if (maxWidth === null || lineWidth(full.widths) <= maxWidth) return full;
  const localCut = cutLayout(full, ['LOCAL'], maxWidth);
  if (lineWidth(localCut.widths) <= maxWidth) return localCut;
  let layout = full;
  for (let dropped = 1; dropped <= DROP_ORDER.length; dropped++) {
    layout = naturalLayout(cells, dropped);
    if (lineWidth(layout.widths) <= maxWidth) return layout;
  }
  return cutLayout(layout, CUT_ORDER, maxWidth);
}

function formatRow(layout: Layout, cells: readonly string[]): string[] {
  return layout.columns.map((column, index) => {
    const width = layout.widths[index] ?? 0;
    const text = cells[COLUMNS.indexOf(column)] ?? '';
    return pad(cutText(text, width, column.cut ?? 'end'), width, column.align);
  });
}

/** The first of `variants` that fits `width` (null: no limit), else the last one cut. */
function firstFitting(variants: readonly string[], width: number | null): string {
  const fitting = variants.find((text) => width === null || text.length <= width);
  return fitting ?? clip(variants[variants.length - 1] ?? '', width);
}

/** The totals: sessions open now, opened and closed in the interval, events
 * lost, and the bytes per second of all open sessions; compact when narrow. */
function summaryLine(snapshot: OpenSessionsSnapshot, view: TopView, width: number | null): string {
  let tx = 0;
  let rx = 0;
  for (const session of snapshot.sessions) {
    tx += session.txDeltaBytes;
    rx += session.rxDeltaBytes;
  }
  const { openedInInterval: opened, closedInInterval: closed, eventsLost: lost } = snapshot;
  const open = snapshot.sessions.length;
  const rates = `TX ${humanBytes(perSecond(tx, view.intervalNs))}/s RX ${humanBytes(perSecond(rx, view.intervalNs))}/s`;
  return firstFitting(
    [
      `${view.clock}  sessions: ${open} open, ${opened} opened, ${closed} closed; events lost: ${lost}; ${rates}`,
      `${view.clock} open ${open} +${opened} -${closed} lost ${lost} ${rates}`,
    ],
    width,
  );
}

/** Which rows are shown (when not all), the sort, and the keys; compact when narrow. */
function helpLine(sortKey: SortKey, shown: number, total: number, width: number | null): string {
  const range = shown < total ? `rows 1-${shown} of ${total}; ` : '';
  const sort = `${range}sort: ${SORT_LABELS[sortKey]}`;
  return firstFitting([`${sort}; keys: t TX/s, r RX/s, a AGE, b TX+RX/s, q quit`, `${sort}; keys t r a b q`], width);
}

function sortColumnHead(key: SortKey): readonly string[] {
  if (key === 'total') return ['TX/s', 'RX/s'];
  if (key === 'tx') return ['TX/s'];
  if (key === 'rx') return ['RX/s'];
  return ['AGE'];
}

/** Colour, applied to cells already padded and cut (escapes take no width). */
function decorateHead(layout: Layout, cells: readonly string[], view: TopView): string {
  const colorizer = view.colorizer;
  if (colorizer === null) return cells.join(SEPARATOR);
  const sorted = sortColumnHead(view.sortKey);
  const decorated = cells.map((cell, index) =>
    sorted.includes(layout.columns[index]?.head ?? '') ? colorizer.inverse(cell) : cell,
  );
  return colorizer.bold(decorated.join(SEPARATOR));
}

function decorateRow(layout: Layout, cells: readonly string[], session: OpenSession, colorizer: Colorizer | null): string {
  if (colorizer === null) return cells.join(SEPARATOR);
  const decorated = cells.map((cell, index) =>
    layout.columns[index]?.head === 'STATE' ? colorState(colorizer, stateNumber(session.state), cell) : cell,
  );
  const line = decorated.join(SEPARATOR);
  // Sessions that moved nothing in the interval recede.
  return session.txDeltaBytes + session.rxDeltaBytes === 0 ? colorizer.dim(line) : line;
}

/** Plain text cut to `width` columns (the header lines; rows are fitted). */
function clip(text: string, width: number | null): string {
  return width === null || text.length <= width ? text : text.slice(0, Math.max(0, width));
}

/**
 * The screen's lines, without line ends: a summary line, the sort and keys
 * (terminal only), the column heads, then one row per session, sorted. With
 * a size, no line is wider than its columns and there are at most its rows
 * of lines; without one (plain text), every session and no width limit.
 */
export function renderTop(snapshot: OpenSessionsSnapshot, view: TopView): string[] {
  const size = view.size;
  const total = snapshot.sessions.length;
  const headerLines = size === null ? 2 : 3;
  const shown = size === null ? total : Math.max(0, Math.min(total, size.rows - headerLines));
  const visible = topSessions(snapshot.sessions, view.sortKey, shown);
  const cells = visible.map((session) => {
    const rates = {
      txPerSecond: perSecond(session.txDeltaBytes, view.intervalNs),
      rxPerSecond: perSecond(session.rxDeltaBytes, view.intervalNs),
    };
    return COLUMNS.map((column) => column.cell(session, rates));
  });
  const width = size === null ? null : size.columns;
  const layout = fitLayout(cells, width);
  const lines = [summaryLine(snapshot, view, width)];
  if (size !== null) lines.push(helpLine(view.sortKey, shown, total, width));
  const heads = layout.columns.map((column, index) => pad(column.head, layout.widths[index] ?? 0, column.align));
  lines.push(clipStyled(decorateHead(layout, heads, view), heads.join(SEPARATOR), width));
  visible.forEach((session, index) => {
    const row = formatRow(layout, cells[index] ?? []);
    lines.push(clipStyled(decorateRow(layout, row, session, view.colorizer), row.join(SEPARATOR), width));
  });
  if (total === 0 && (size === null || size.rows > lines.length)) lines.push(clip('(no open sessions)', width));
  return size === null ? lines : lines.slice(0, Math.max(0, size.rows));
}

/** A styled line, unless its plain text is too wide even at the narrowest
 * layout: then the plain text cut (cutting through escapes would leave a
 * colour on). */
function clipStyled(styled: string, plain: string, width: number | null): string {
  return width === null || plain.length <= width ? styled : clip(plain, width);
}
