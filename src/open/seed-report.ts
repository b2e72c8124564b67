// SPDX-License-Identifier: MIT
// --existing at start: the seed (open/iterators.ts), then what it could not
// reach, said on stderr: nothing silent. The counts are the kernel's
// (bpf/counters.ts); --verbose also says what was seeded and how long it took.

import type { TraceSession } from '../bpf/loader.js';
import type { Libbpf } from '../ffi/libbpf.js';
import type { Diagnostics } from '../io/diagnostics.js';
import { seedOpenSockets, type UnreachableNamespace } from './iterators.js';

/** Says each network namespace that could not be entered, once: `what`
 * names what its sessions miss. */
export function unreachableReporter(diagnostics: Diagnostics, what: string): (unreachable: readonly UnreachableNamespace[]) => void {
  const said = new Set<number>();
  return (unreachable) => {
    for (const { ino, reason } of unreachable) {
      if (said.has(ino)) continue;
      said.add(ino);
      diagnostics.notice(`cannot enter network namespace ${ino} (${reason}): ${what}`, { netns: ino });
    }
  };
}

export function seedAndReport(libbpf: Libbpf, session: TraceSession, netnsIno: number | null, diagnostics: Diagnostics): void {
  const links = session.iterators;
  if (links === null || links === undefined) throw new Error('--existing: the seed iterators are not loaded');
  const seed = seedOpenSockets(libbpf, links, netnsIno);
  const counters = session.readCounters();
  unreachableReporter(diagnostics, 'its open sessions were not seeded (--existing)')(seed.unreachable);
  const unreached = counters.seedFiles - counters.seedFilesReached;
  if (unreached > 0) {
    diagnostics.notice(
      `--existing: ${unreached} sockets found in processes' files were not found in any network namespace's TCP tables (closed meanwhile, or in a namespace not entered): not seeded`,
      { unreached },
    );
  }
  if (counters.seedFailed > 0) {
    diagnostics.notice(`--existing: ${counters.seedFailed} open sockets could not be tracked or given their owner (no memory)`, {
      seed_failed: counters.seedFailed,
    });
  }
  if (diagnostics.verbose) {
    diagnostics.notice(
      `--existing: seeded ${counters.seeded} open sockets in ${seed.namespaces} network namespaces in ${seed.elapsedMs.toFixed(1)} ms`,
      { seeded: counters.seeded, namespaces: seed.namespaces },
    );
  }
}
