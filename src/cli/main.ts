// SPDX-License-Identifier: MIT
// The top of each tool: runs it and turns any error into one or two lines on
// stderr and an exit code. A stack trace is only shown with --verbose, and
// only for errors that are not ours (a bug).

import { writeSync } from 'node:fs';
import { TcpToolError } from '../errors.js';

export function printError(tool: string, error: unknown, verbose: boolean): number {
  const lines: string[] = [];
  if (error instanceof TcpToolError) {
    lines.push(`${tool}: ${error.message}`);
    if (error.hint !== undefined) lines.push(`${tool}: ${error.hint}`);
    if (verbose && 'verifierLog' in error && Array.isArray(error.verifierLog)) {
      lines.push(...(error.verifierLog as string[]).map((line) => `verifier: ${line}`));
    }
  } else {
    const message = error instanceof Error ? error.message : String(error);
    lines.push(`${tool}: unexpected error: ${message}`);
    if (verbose && error instanceof Error && error.stack) lines.push(error.stack);
  }
  try {
    writeSync(2, `${lines.join('\n')}\n`);
  } catch {
    // Nowhere left to report to.
  }
  return error instanceof TcpToolError ? error.exitCode : 1;
}

/** Runs a tool's main and exits with its code. */
export function runMain(tool: string, argv: readonly string[], main: (argv: readonly string[]) => Promise<number>): void {
  const verbose = argv.includes('-v') || argv.includes('--verbose');
  main(argv).then(
    (code) => process.exit(code),
    (error: unknown) => process.exit(printError(tool, error, verbose)),
  );
}
