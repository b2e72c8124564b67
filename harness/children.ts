// SPDX-License-Identifier: MIT
// Every process a test starts (tracers, peers, loads, fixtures, servers),
// killed when the test file's process ends. Why: Node's test runner waits
// for a test file's process to exit, and a child left running by a failed
// assertion keeps it alive, so the whole run would hang instead of going
// red. The test scripts (package.json) pass --test-force-exit: the file's
// process exits once its tests are done, pass or fail, and this kills what
// is left; and --test-timeout, after which the runner stops the file with
// SIGTERM, which ends here too.
//
// Under the test runner only: the bench stops its own children its own way
// (SIGTERM first, so that a wrapper can forward it and report).

import type { ChildProcess } from 'node:child_process';

const running = new Set<ChildProcess>();

function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

if (process.env.NODE_TEST_CONTEXT !== undefined) {
  process.once('exit', killAll);
  // The default action would end the process without 'exit'.
  process.once('SIGTERM', () => process.exit(128 + 15));
}

/** Registers `child` to be killed if it is still running when the test
 * process ends; returns it. Every process a test starts goes through here. */
export function adopt<C extends ChildProcess>(child: C): C {
  if (child.exitCode !== null || child.signalCode !== null) return child;
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}
