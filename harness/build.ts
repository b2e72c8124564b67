// SPDX-License-Identifier: MIT
// The C artefacts the tests and the bench need, built by the repository's
// Makefile: the one build graph for every C file (a target is the artefact's
// path under dist/, or a group: bpf, probes, fixtures, bench, floor). Nothing
// in test/ or bench/ runs a compiler itself.

import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from './system.js';

/** Runs make for `targets` in the repository; the first error line of its
 * output on failure (or why make could not run), else null. */
export function tryMake(targets: readonly string[]): string | null {
  const result = spawnSync('make', ['-s', '-C', REPO_ROOT, ...targets], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.error) return `make: ${result.error.message}`;
  if (result.status === 0) return null;
  const lines = `${result.stderr}${result.stdout}`.split('\n').filter((line) => line.trim() !== '');
  return lines.find((line) => /error/i.test(line)) ?? lines[0] ?? `make exited with ${result.status}`;
}

/** Runs make for `targets`; throws with the error if it fails. Returns the
 * artefacts' absolute paths (targets named by path, e.g. dist/bench/loadgen). */
export function make(...targets: readonly string[]): string[] {
  const failed = tryMake(targets);
  if (failed !== null) throw new Error(`make ${targets.join(' ')} failed: ${failed}`);
  return targets.map((target) => `${REPO_ROOT}${target}`);
}
