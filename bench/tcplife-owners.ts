// SPDX-License-Identifier: MIT
// Measures owner attribution: for each case (IPv4/IPv6 x who closes x FIN/RST)
// runs N loopback connections between a server and a client process, with our
// tcplife and libbpf-tools' /usr/sbin/tcplife tracing at the same time, and
// counts the rows whose PID and COMM are the socket's real owner, per side.
// Usage (root): node dist/bench/tcplife-owners.js [connections per case, default 100] [--listener-first]
// /usr/sbin/tcplife needs tracefs: mounted here while it attaches if absent, unmounted after.

import { existsSync } from 'node:fs';
import { runPeers, type CloseHow, type Closer, type Family, type PeerRun } from '../harness/peers.js';
import { parseLifeCsvRow, parseLifeTextRow } from '../harness/rows.js';
import { withTracefs } from '../harness/system.js';
import { TracerProcess } from '../harness/tracer-process.js';

const LIBBPF_TOOLS_TCPLIFE = '/usr/sbin/tcplife';

interface Row {
  pid: number;
  comm: string;
  localPort: number;
  remotePort: number;
}

interface Count {
  clientRight: number;
  clientRows: number;
  serverRight: number;
  serverRows: number;
}

function score(rows: readonly Row[], run: PeerRun): Count {
  const count: Count = { clientRight: 0, clientRows: 0, serverRight: 0, serverRows: 0 };
  for (const { localPort } of run.connections) {
    for (const row of rows) {
      if (row.localPort === localPort && row.remotePort === run.serverPort) {
        count.clientRows++;
        if (row.pid === run.clientPid && row.comm === run.clientTitle) count.clientRight++;
      } else if (row.localPort === run.serverPort && row.remotePort === localPort) {
        count.serverRows++;
        if (row.pid === run.serverPid && row.comm === run.serverTitle) count.serverRight++;
      }
    }
  }
  return count;
}

interface Tracers {
  ours: TracerProcess;
  reference: TracerProcess | null;
}

/** Starts ours and, if installed, libbpf-tools' tcplife; tracefs is mounted
 * only while the reference attaches (unless it was mounted already). */
async function startTracers(withReference: boolean): Promise<Tracers> {
  const ours = await TracerProcess.attach('tcplife', ['-s']);
  if (!withReference) return { ours, reference: null };
  try {
    // withTracefs unmounts it again once the reference attached (or failed):
    // nothing we started needs it any more. The reference's stdout is
    // block-buffered when piped: stdbuf makes it line-buffered.
    const reference = await withTracefs(true, () => TracerProcess.attach('tcplife', [], { command: ['stdbuf', '-oL', LIBBPF_TOOLS_TCPLIFE] }));
    return { ours, reference };
  } catch (error) {
    await ours.stop();
    throw error;
  }
}

async function stopTracers(tracers: Tracers | null): Promise<void> {
  await tracers?.ours.stop();
  await tracers?.reference?.stop();
}

async function main(): Promise<void> {
  const connections = Number(process.argv[2] ?? 100);
  // --listener-first: the tracers start after the server listens (the usual
  // case in production), once per case; else once, before everything.
  const listenerFirst = process.argv.includes('--listener-first');
  const withReference = existsSync(LIBBPF_TOOLS_TCPLIFE);
  let shared: Tracers | null = null;
  const perCase: Tracers[] = [];
  try {
    if (!listenerFirst) shared = await startTracers(withReference);
    const results: string[] = [];
    for (const family of [4, 6] as Family[]) {
      for (const how of ['fin', 'rst'] as CloseHow[]) {
        for (const closer of ['client', 'server'] as Closer[]) {
          let tracers = shared;
          const run = await runPeers(
            { family, requestBytes: 3000, responseBytes: 100_000, closer, how, holdMs: 0, connections },
            {
              timeoutMs: 120_000,
              ...(listenerFirst
                ? {
                    afterListening: async () => {
                      tracers = await startTracers(withReference);
                      perCase.push(tracers);
                    },
                  }
                : {}),
            },
          );
          // Rows come within the tracers' read intervals (10 ms / 100 ms).
          await new Promise((resolve) => setTimeout(resolve, 500));
          const { ours, reference } = tracers!;
          const oursCount = score(ours.stdout.lines.map(parseLifeCsvRow).filter((row) => row !== null), run);
          const refCount = reference ? score(reference.stdout.lines.map(parseLifeTextRow).filter((row) => row !== null), run) : null;
          if (listenerFirst) await stopTracers(perCase.pop()!);
          const cell = (count: Count | null, side: 'client' | 'server') =>
            count === null
              ? 'n/a'
              : `${side === 'client' ? count.clientRight : count.serverRight}/${connections} (${side === 'client' ? count.clientRows : count.serverRows} rows)`;
          for (const side of ['client', 'server'] as const) {
            results.push(
              `IPv${family} ${how.toUpperCase()} closed by ${closer.padEnd(6)} ${side.padEnd(6)} rows: ours ${cell(oursCount, side).padEnd(20)} libbpf-tools ${cell(refCount, side)}`,
            );
          }
        }
      }
    }
    process.stdout.write(`tracers started ${listenerFirst ? 'after each server listened' : 'before the servers'}\n`);
    process.stdout.write(`${results.join('\n')}\n`);
    if (shared) process.stdout.write(`ours stderr: ${shared.ours.stderr.lines.join(' | ')}\n`);
  } finally {
    await stopTracers(shared);
    for (const tracers of perCase) await stopTracers(tracers);
  }
}

await main();
