// SPDX-License-Identifier: MIT
// Parses tcpstates rows back into fields (fixed-width or CSV), for asserting
// on what a real run printed.

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

/** Default or -w rows (whitespace separated; COMM has no spaces in tests). */
export function parseTextRow(line: string, wide = false): StateRow {
  const f = line.trim().split(/\s+/);
  const [skaddr, pid, comm] = f as [string, string, string];
  const rest = wide ? f.slice(4) : f.slice(3);
  const [laddr, lport, raddr, rport, oldstate, arrow, newstate, ms] = rest as string[];
  if (arrow !== '->' || ms === undefined) throw new Error(`not a tcpstates row: ${line}`);
  return {
    skaddr,
    pid: Number(pid),
    comm,
    ...(wide ? { ip: f[3] as string } : {}),
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

export function parseCsvRow(line: string): StateRow & { time?: string; seconds?: string } {
  const f = line.split(',');
  const extra = f.length - 11;
  const [skaddr, pid, comm, ip, laddr, lport, raddr, rport, oldstate, newstate, ms] = f.slice(extra) as string[];
  return {
    ...(extra >= 1 ? { time: f[0] as string } : {}),
    ...(extra === 2 ? { seconds: f[1] as string } : {}),
    skaddr: skaddr as string,
    pid: Number(pid),
    comm: comm as string,
    ip: ip as string,
    laddr: laddr as string,
    lport: Number(lport),
    raddr: raddr as string,
    rport: Number(rport),
    oldstate: oldstate as string,
    newstate: newstate as string,
    ms: Number(ms),
    msText: ms as string,
  };
}

export const transition = (row: { oldstate: string; newstate: string }) => `${row.oldstate}->${row.newstate}`;

/** Rows grouped by socket (SKADDR), each in order. */
export function bySocket<T extends { skaddr: string }>(rows: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) groups.set(row.skaddr, [...(groups.get(row.skaddr) ?? []), row]);
  return groups;
}
