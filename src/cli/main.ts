// SPDX-License-Identifier: MIT
// The top of each tool: runs it and turns any error into one or two lines on
// stderr and an exit code. A stack trace is only shown with --verbose, and
// only for errors that are not ours (a bug).

import { writeSync } from 'node:fs';
import { TcpToolError, VerifierError } from '../errors.js';

/** The stderr lines for an error. With `verbose`, a verifier rejection
 * comes with the whole verifier log first, so the message stays last. */
export function formatError(tool: string, error: unknown, verbose: boolean): string[] {
  const lines: string[] = [];
  if (error instanceof TcpToolError) {
    if (verbose && error instanceof VerifierError) lines.push(...error.verifierLog.map((line) => `verifier: ${line}`));
    lines.push(`${tool}: ${error.message}`);
    if (error.hint !== undefined) lines.push(`${tool}: ${error.hint}`);
  } else {
    const message = error instanceof Error ? error.message : String(error);
    lines.push(`${tool}: unexpected error: ${message}`);
    if (verbose && error instanceof Error && error.stack) lines.push(error.stack);
  }
  return lines;
}

export function printError(tool: string, error: unknown, verbose: boolean): number {
  const lines = formatError(tool, error, verbose);
  try {
    writeSync(2, `${lines.join('\n')}\n`);
  } catch {
    // Nowhere left to report to.
  }
  return error instanceof TcpToolError ? error.exitCode : 1;
}

/** Runs a tool's main and exits with its code. */
export function runMain(tool: string, argv: readonly string[], main: (argv: readonly string[]) => Promise<number>): void {
  // Also -Tv and the like: short flags can be bundled.
  const verbose = argv.some((arg) => arg === '--verbose' || /^-[A-Za-z]*v[A-Za-z]*$/.test(arg));
  main(argv).then(
    (code) => process.exit(code),
    (error: unknown) => process.exit(printError(tool, error, verbose)),
  );
}
