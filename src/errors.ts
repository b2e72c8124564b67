// SPDX-License-Identifier: MIT
// Typed errors. Every failure a user can meet is one of these: the CLI maps
// the class to an exit code and prints `message` (and `hint`) on one or two
// lines, never a stack trace.

import { constants as osConstants } from 'node:os';

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name]),
);

/** The symbolic name of an errno value, e.g. 1 -> "EPERM". */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(Math.abs(errno)) ?? `errno ${Math.abs(errno)}`;
}

/** Base class of every error this tool raises on purpose. */
export class TcpToolError extends Error {
  override name: string = 'TcpToolError';
  /** What the user can do about it, printed after the message. */
  readonly hint: string | undefined;
  /** Process exit code when this error ends the program. */
  readonly exitCode: number = 1;

  constructor(message: string, options: { hint?: string | undefined; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint;
  }
}

/** Thrown for an invalid option or argument: exit code 2, as argparse does. */
export class UsageError extends TcpToolError {
  override name = 'UsageError' as const;
  override readonly exitCode = 2;
}

/** Thrown before loading anything when the machine cannot run the tracer
 * (no privileges, no BTF, no libbpf, no tracepoint). */
export class PreflightError extends TcpToolError {
  override name = 'PreflightError' as const;
}

/** Thrown when a libbpf step fails. `step` names it ("open", "load"...),
 * `errno` is the positive errno value libbpf reported. */
export class BpfError extends TcpToolError {
  override name: string = 'BpfError';
  readonly step: string;
  readonly object: string;
  readonly errno: number;

  constructor(step: string, object: string, errno: number, options: { hint?: string | undefined; cause?: unknown } = {}) {
    super(`failed to ${step} ${object}: ${errnoName(errno)}`, options);
    this.step = step;
    this.object = object;
    this.errno = Math.abs(errno);
  }
}

/** Thrown when the kernel's verifier rejects a program. `message` carries the
 * last lines of the verifier log; `verifierLog` the whole of it. */
export class VerifierError extends BpfError {
  override name = 'VerifierError' as const;
  readonly verifierLog: string[];

  constructor(object: string, errno: number, verifierLog: string[], options: { hint?: string | undefined } = {}) {
    super('load', object, errno, options);
    this.verifierLog = verifierLog;
    const tail = verifierLog.filter((line) => !/^processed \d+ insns/.test(line)).slice(-3);
    if (tail.length > 0) this.message += `\n  verifier: ${tail.join('\n  verifier: ')}`;
  }
}

/** An environment problem found after the options parsed (a missing cgroup2
 * mount, a path the tool may not read): exit code 1, with a hint. */
export class EnvironmentError extends TcpToolError {
  override name = 'EnvironmentError' as const;
}

/** What a check of the user's input or of the machine found wrong, as data:
 * `sys/` and `metrics/` return it; `cli/` turns `usage` into a UsageError
 * (exit 2) and `environment` into an EnvironmentError (exit 1). */
export interface Problem {
  kind: 'usage' | 'environment';
  message: string;
  hint?: string;
}

/** A checked value, or the problem that stopped it. */
export type Checked<T> = { ok: true; value: T } | { ok: false; problem: Problem };

/** A check's usage problem (exit 2 once the CLI maps it). */
export function usageProblem(message: string, hint?: string): Checked<never> {
  return { ok: false, problem: hint === undefined ? { kind: 'usage', message } : { kind: 'usage', message, hint } };
}

/** A check's environment problem: what the machine refused (exit 1 once the CLI maps it). */
export function environmentProblem(message: string, hint?: string): Checked<never> {
  return { ok: false, problem: hint === undefined ? { kind: 'environment', message } : { kind: 'environment', message, hint } };
}
