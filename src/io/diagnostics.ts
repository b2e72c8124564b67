// SPDX-License-Identifier: MIT
// The one path to stderr. Every line a tool writes there (notices, losses,
// the final count, libbpf's messages, errors) goes through one Diagnostics,
// which knows the mode from the parsed options: plain "tool: message" lines,
// or with --json one JSON object per line; --verbose adds libbpf's messages,
// the verifier log and the stack of an unexpected error.

import { writeSync } from 'node:fs';
import { TcpToolError, VerifierError } from '../errors.js';
import { jsonDiagnostic } from '../format/json.js';
import { jsonText } from '../quote.js';

/** Numbers a diagnostic carries in JSON mode next to its message. */
export type DiagnosticFields = Record<string, number>;

/** Writes one line (with its newline) to fd 2; never throws (stderr may be gone too). */
export function writeStderr(text: string): void {
  try {
    writeSync(2, text.endsWith('\n') ? text : `${text}\n`);
  } catch {
    // stderr is gone too: nothing left to tell.
  }
}

/** The text-mode stderr lines for an error. With `verbose`, a verifier
 * rejection comes with the whole verifier log first, so the message stays last. */
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

/** The --json stderr line for an error: one object with the message, the
 * hint, the exit code and, with `verbose`, the verifier log or the stack. */
export function formatErrorJson(tool: string, error: unknown, verbose: boolean): string {
  const record: Record<string, unknown> = { tool };
  if (error instanceof TcpToolError) {
    record['message'] = error.message;
    if (error.hint !== undefined) record['hint'] = error.hint;
    if (verbose && error instanceof VerifierError) record['verifier_log'] = error.verifierLog;
  } else {
    record['message'] = `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
    if (verbose && error instanceof Error && error.stack) record['stack'] = error.stack;
  }
  record['exit_code'] = exitCodeOf(error);
  return jsonText(record);
}

/** The exit code an error ends the program with. */
export function exitCodeOf(error: unknown): number {
  return error instanceof TcpToolError ? error.exitCode : 1;
}

/** Most lines held back while a full-screen view owns the terminal; the
 * oldest beyond it are dropped and counted (the last are the most recent
 * state, e.g. the loss so far). */
export const HELD_LINES_MAX = 1000;

export class Diagnostics {
  private jsonFormat: ((message: string, fields: DiagnosticFields) => string) | null = null;
  private verboseMode = false;
  private held: string[] | null = null;
  private heldDropped = 0;

  /** @param write where lines go (fd 2 by default; tests collect them). */
  constructor(
    readonly tool: string,
    private readonly write: (line: string) => void = writeStderr,
  ) {}

  /** Sets the mode from the options (as soon as they are known; until then, text and not verbose). */
  configure(mode: { readonly json: boolean; readonly verbose: boolean }): void {
    this.jsonFormat = mode.json ? jsonDiagnostic(this.tool) : null;
    this.verboseMode = mode.verbose;
  }

  /** Holds lines back until release(): while tcplife --top draws on the
   * terminal, a line on stderr would be drawn over it and lost. */
  hold(): void {
    this.held ??= [];
  }

  /** Writes the lines held since hold() (saying first how many were
   * dropped, if any), and writes lines at once again. */
  release(): void {
    const held = this.held;
    if (held === null) return;
    this.held = null;
    if (this.heldDropped > 0) this.write(this.format(`${this.heldDropped} earlier lines were dropped while the screen was shown`, { dropped: this.heldDropped }));
    this.heldDropped = 0;
    for (const line of held) this.write(line);
  }

  private emit(line: string): void {
    if (this.held === null) return this.write(line);
    this.held.push(line);
    if (this.held.length > HELD_LINES_MAX) {
      this.held.shift();
      this.heldDropped++;
    }
  }

  get json(): boolean {
    return this.jsonFormat !== null;
  }

  get verbose(): boolean {
    return this.verboseMode;
  }

  /** One diagnostic as its line: "tool: message", or the JSON object
   * {"tool", "message", ...fields}. */
  format(message: string, fields: DiagnosticFields = {}): string {
    return this.jsonFormat === null ? `${this.tool}: ${message}` : this.jsonFormat(message, fields);
  }

  /** Writes one diagnostic. */
  notice(message: string, fields: DiagnosticFields = {}): void {
    this.emit(this.format(message, fields));
  }

  /** A line from libbpf ("libbpf: ..."), shown only with --verbose: as
   * libbpf wrote it, or in JSON mode as {"tool", "message": line}. */
  libbpf(line: string): void {
    if (!this.verboseMode) return;
    this.emit(this.jsonFormat === null ? line : this.jsonFormat(line, {}));
  }

  /** Writes an error that ends the program; returns its exit code. */
  error(error: unknown): number {
    // An error ends the program: whatever was held goes first.
    this.release();
    if (this.jsonFormat === null) this.write(formatError(this.tool, error, this.verboseMode).join('\n'));
    else this.write(formatErrorJson(this.tool, error, this.verboseMode));
    return exitCodeOf(error);
  }
}
