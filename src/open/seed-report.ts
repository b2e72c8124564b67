// SPDX-License-Identifier: MIT
// --existing at start: the seed (open/iterators.ts), then what it could not
// reach, said on stderr: nothing silent. The counts are the kernel's
// (bpf/counters.ts); --verbose also says what was seeded and how long it took.

import type { TraceSession } from '../bpf/loader.js';
import type { Libbpf } from '../ffi/libbpf.js';
import type { Diagnostics } from '../io/diagnostics.js';
import { PASS_BUDGET_MS, SEED_BUDGET_MS, seedOpenSockets, type UnreachableNamespace } from './iterators.js';

/** Says each network namespace that could not be entered, once, and in
 * each pass that left some for a later one (the budget for namespaces any
 * user can make: namespace-turns.ts), how many: `what` names what a
 * namespace's sessions miss, `when` when they were left. */
export function unreachableReporter(
  diagnostics: Diagnostics,
  what: string,
  when = `in this pass (over its ${PASS_BUDGET_MS} ms for them; later passes take them in turn)`,
): (unreachable: readonly UnreachableNamespace[]) => void {
  const said = new Set<number>();
  return (unreachable) => {
    let deferred = 0;
    for (const { ino, reason, deferred: later } of unreachable) {
      if (later) deferred++;
      if (later || said.has(ino)) continue;
      said.add(ino);
      diagnostics.notice(`cannot enter network namespace ${ino} (${reason}): ${what}`, { netns: ino });
    }
    if (deferred > 0) {
      diagnostics.notice(
        `${deferred} network namespaces made in other user namespaces were not entered ${when}: in each, ${what}`,
        { namespaces: deferred },
      );
    }
  };
}

export function seedAndReport(libbpf: Libbpf, session: TraceSession, netnsIno: number | null, diagnostics: Diagnostics): void {
  const links = session.iterators;
  if (links === null || links === undefined) throw new Error('--existing: the seed iterators are not loaded');
  const seed = seedOpenSockets(libbpf, links, netnsIno);
  const counters = session.readCounters();
  unreachableReporter(diagnostics, 'its open sessions were not seeded (--existing)', `at start (over the seed's ${SEED_BUDGET_MS} ms for them)`)(seed.unreachable);
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
      `--existing: seeded ${counters.seeded} open sockets in ${seed.namespaces} network namespaces (${seed.empty} more with no TCP socket not entered) in ${seed.elapsedMs.toFixed(1)} ms`,
      { seeded: counters.seeded, namespaces: seed.namespaces, empty: seed.empty },
    );
  }
}
