// SPDX-License-Identifier: MIT
// The CLI tools the robust-* tests cover, and where they live. Shared by the
// unit tests (option parsing) and the kernel tests (signals, pipes, package).

import { fileURLToPath } from 'node:url';

/** The repository root: this file runs as dist/test/support/robust-tools.js. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A CLI tool built on src/cli/command.ts + src/cli/run.ts. */
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

export function binPath(tool: string, root = ROOT): string {
  return `${root}bin/${tool}`;
}

