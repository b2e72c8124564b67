// SPDX-License-Identifier: MIT
// The top of each tool: runs it and turns any error into its lines on
// stderr (io/diagnostics.ts, text or --json) and an exit code. A stack
// trace is only shown with --verbose, and only for errors that are not ours
// (a bug).

import { Diagnostics } from '../io/diagnostics.js';

export { formatError } from '../io/diagnostics.js';

/** A tool's main: parses `argv`, sets `diagnostics`'s mode from the options
 * (--json, --verbose) as soon as they are known, and runs. */
export type ToolMain = (argv: readonly string[], diagnostics: Diagnostics) => Promise<number>;

/** Runs a tool's main and exits with its code. */
export function runMain(tool: string, argv: readonly string[], main: ToolMain): void {
  const diagnostics = new Diagnostics(tool);
  main(argv, diagnostics).then(
    (code) => process.exit(code),
    (error: unknown) => process.exit(diagnostics.error(error)),
  );
}
