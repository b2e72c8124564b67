// SPDX-License-Identifier: MIT
// Parses the rows the tools print back into fields, for asserting on what a
// real run printed: tcpstates text (default, -w) and CSV (-s) rows, tcplife
// CSV rows, --json rows, and any CSV output as header -> value records; and what the
// robustness tests know about each tool's rows.

export interface StateRow {
  skaddr: string;
  pid: number;
  comm: string;
  ip?: string;
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
  oldstate: string;
  newstate: string;
  ms: number;
  msText: string;
}

/** A tcpstates row from its fields in print order (IP only with -w or -s). */
function stateRow(fields: readonly string[], withIp: boolean): StateRow {
  const [skaddr, pid, comm] = fields as [string, string, string];
  const rest = fields.slice(withIp ? 4 : 3);
  const [laddr, lport, raddr, rport, oldstate, newstate, ms] = rest as string[];
  if (ms === undefined) throw new Error(`not a tcpstates row: ${fields.join(' ')}`);
  return {
    skaddr,
    pid: Number(pid),
    comm,
    ...(withIp ? { ip: fields[3] as string } : {}),
    laddr: laddr as string,
    lport: Number(lport),
    raddr: raddr as string,
    rport: Number(rport),
    oldstate: oldstate as string,
    newstate: newstate as string,
    ms: Number(ms),
    msText: ms,
  };
}

/**
 * Default or -w rows. The fields after COMM are taken from the end of the
 * line: other processes' rows reach every unfiltered tracer, and their
 * COMM may hold spaces ("npm ci").
 */
export function parseTextRow(line: string, wide = false): StateRow {
  const fields = line.trim().split(/\s+/);
  // LADDR LPORT RADDR RPORT OLDSTATE -> NEWSTATE MS, after IP with -w.
  const tail = fields.slice(wide ? -9 : -8);
  const arrowAt = tail.length - 3;
  if (fields.length < tail.length + 3 || tail[arrowAt] !== '->') throw new Error(`not a tcpstates row: ${line}`);
  const comm = fields.slice(2, fields.length - tail.length).join(' ');
  return stateRow([fields[0]!, fields[1]!, comm, ...tail.slice(0, arrowAt), ...tail.slice(arrowAt + 1)], wide);
}

/** A tcpstates -s row, with -t and/or -T columns in front when present. */
export function parseCsvRow(line: string): StateRow & { time?: string; seconds?: string } {
  const fields = line.split(',');
  const extra = fields.length - 11;
  return {
    ...(extra >= 1 ? { time: fields[0] as string } : {}),
    ...(extra === 2 ? { seconds: fields[1] as string } : {}),
    ...stateRow(fields.slice(extra), true),
  };
}

export const transition = (row: { oldstate: string; newstate: string }) => `${row.oldstate}->${row.newstate}`;

/** Rows grouped by socket (SKADDR), each in order. */
export function bySocket<T extends { skaddr: string }>(rows: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) groups.set(row.skaddr, [...(groups.get(row.skaddr) ?? []), row]);
  return groups;
}

/** A tcplife -s row, parsed. */
export interface LifeRow {
  readonly pid: number;
  readonly comm: string;
  readonly ip: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly txKib: number;
  readonly rxKib: number;
  readonly ms: number;
}

/** A tcplife row from its fields in -s order: PID COMM IP LADDR LPORT RADDR RPORT TX_KB RX_KB MS. */
function lifeRow(fields: readonly string[]): LifeRow {
  const [pid, comm, ip, laddr, lport, raddr, rport, tx, rx, ms] = fields as [string, ...string[]];
  return {
    pid: Number(pid),
    comm: comm!,
    ip: Number(ip),
    localAddress: laddr!,
    localPort: Number(lport),
    remoteAddress: raddr!,
    remotePort: Number(rport),
    txKib: Number(tx),
    rxKib: Number(rx),
    ms: Number(ms),
  };
}

/** Parses a `tcplife -s` data row (10 fields, no -T/-t); null for anything else. */
export function parseLifeCsvRow(line: string): LifeRow | null {
  const fields = line.split(',');
  if (fields.length !== 10 || fields[0] === 'PID') return null;
  return lifeRow(fields);
}

/** Parses a default-layout tcplife row (bcc's and libbpf-tools': PID COMM
 * LADDR LPORT RADDR RPORT TX_KB RX_KB MS; libbpf-tools prints them with
 * "%-7d %-16s %-15s %-5d %-15s %-5d %-6.2f %-6.2f %-.2f"); null for anything else. */
export function parseLifeTextRow(line: string): LifeRow | null {
  const fields = line.trim().split(/\s+/);
  if (fields.length !== 9 || !/^\d+$/.test(fields[0]!)) return null;
  const ip = fields[2]!.includes(':') ? '6' : '4';
  return lifeRow([fields[0]!, fields[1]!, ip, ...fields.slice(2)]);
}

/** Parses --json output, one object a line; ignores empty lines. */
export function jsonRows<T = Record<string, unknown>>(lines: readonly string[]): T[] {
  return lines.filter((line) => line !== '').map((line) => JSON.parse(line) as T);
}

/** Parses CSV output (-s) into header -> value rows; ignores empty lines. */
export function csvRows(text: string): Record<string, string>[] {
  const lines = text.split('\n').filter((line) => line.length > 0);
  const header = lines[0]?.split(',') ?? [];
  return lines.slice(1).map((line) => {
    const fields = line.split(',');
    return Object.fromEntries(header.map((name, index) => [name, fields[index] ?? '']));
  });
}

/** A CLI tool built on src/cli/command.ts + src/trace/run.ts. */
export interface ToolUnderTest {
  readonly name: string;
  /** Has -p/--pid (tcplife does, tcpstates does not). */
  readonly hasPidOption: boolean;
  /** The header line of -s (CSV) output. */
  readonly csvHeader: string;
  /**
   * Given a CSV row (-s) as header -> value, true when it is the last row of
   * one server-side connection on the traced port: the row that proves the
   * whole connection was reported.
   */
  readonly endsConnection: (row: Readonly<Record<string, string>>) => boolean;
  /** Rows printed for one connection under -L <server port>. */
  readonly rowsPerConnection: number;
  /** For a tool with a row per transition: true for the first row of a new
   * socket, whose duration must be 0 (it has no earlier transition). */
  readonly opensSocket?: (row: Readonly<Record<string, string>>) => boolean;
}

/**
 * Every tool the robustness tests run against. To cover another tool that
 * uses the same machinery, add an entry here.
 */
export const TOOLS: readonly ToolUnderTest[] = [
  {
    name: 'tcpstates',
    hasPidOption: true,
    csvHeader: 'SKADDR,C-PID,C-COMM,IP,LADDR,LPORT,RADDR,RPORT,OLDSTATE,NEWSTATE,MS',
    rowsPerConnection: 5, // LISTEN->SYN_RECV ... LAST_ACK->CLOSE
    // The server side of a connection the client closes first ends LAST_ACK -> CLOSE.
    endsConnection: (row) => row.NEWSTATE === 'CLOSE' && row.OLDSTATE === 'LAST_ACK',
    opensSocket: (row) => row.OLDSTATE === 'CLOSE' || (row.OLDSTATE === 'LISTEN' && row.NEWSTATE === 'SYN_RECV'),
  },
  {
    name: 'tcplife',
    hasPidOption: true,
    csvHeader: 'PID,COMM,IP,LADDR,LPORT,RADDR,RPORT,TX_KB,RX_KB,MS',
    rowsPerConnection: 1,
    // One row per session, printed when it ends.
    endsConnection: () => true,
  },
];
