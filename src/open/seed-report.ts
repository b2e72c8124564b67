// SPDX-License-Identifier: MIT
// --existing at start: the seed (open/iterators.ts), then what it could not
// reach, said on stderr: nothing silent. The counts are the kernel's
// (bpf/counters.ts); --verbose also says what was seeded and how long it took.

import type { TraceSession } from '../bpf/loader.js';
import type { Libbpf } from '../ffi/libbpf.js';
import type { Diagnostics } from '../io/diagnostics.js';
import { PASS_BUDGET_MS, SEED_BUDGET_MS, seedOpenSockets, type UnreachableNamespace } from './iterators.js';

/** While passes keep leaving namespaces for later, their count is said again
 * at most this often: an attack that lasts must not fill the log. */
export const DEFERRED_REPEAT_MS = 60_000;

/** Says each network namespace that could not be entered, once; and the
 * namespaces any user can make that a pass left for a later one (over its
 * budget: namespace-turns.ts): at the first such pass, then at most every
 * DEFERRED_REPEAT_MS with the passes since, and once when a pass leaves none
 * again. `what` names what a namespace's sessions miss, `when` when they
 * were left. */
export function unreachableReporter(
  diagnostics: Diagnostics,
  what: string,
  when = `in this pass (over its ${PASS_BUDGET_MS} ms for them; later passes take them in turn)`,
  nowMs: () => number = () => performance.now(),
): (unreachable: readonly UnreachableNamespace[]) => void {
  const said = new Set<number>();
  /** Since the first pass of a run of passes that left some for later. */
  let leaving: { saidAtMs: number; passesUnsaid: number; passes: number } | null = null;
  return (unreachable) => {
    let deferred = 0;
    for (const { ino, reason, deferred: later } of unreachable) {
      if (later) deferred++;
      if (later || said.has(ino)) continue;
      said.add(ino);
      diagnostics.notice(`cannot enter network namespace ${ino} (${reason}): ${what}`, { netns: ino });
    }
    if (deferred === 0) {
      if (leaving !== null) {
        diagnostics.notice(`no network namespace was left for a later pass this time, after ${leaving.passes} passes that left some`, { passes: leaving.passes });
      }
      leaving = null;
      return;
    }
    const now = nowMs();
    if (leaving !== null && now - leaving.saidAtMs < DEFERRED_REPEAT_MS) {
      leaving.passes++;
      leaving.passesUnsaid++;
      return;
    }
    const since = leaving === null ? '' : ` (${leaving.passesUnsaid} passes since the last line left some too)`;
    diagnostics.notice(`${notEntered(deferred)} ${when}${since}: in ${deferred === 1 ? 'it' : 'each'}, ${what}`, {
      namespaces: deferred,
      ...(leaving === null ? {} : { passes: leaving.passesUnsaid }),
    });
    leaving = { saidAtMs: now, passesUnsaid: 0, passes: (leaving?.passes ?? 0) + 1 };
  };
}

function notEntered(count: number): string {
  if (count === 1) return '1 network namespace made in another user namespace was not entered';
  return `${count} network namespaces made in other user namespaces were not entered`;
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
