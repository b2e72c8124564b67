// SPDX-License-Identifier: MIT
// Command-line parsing shared by tcpstates and tcplife. commander reads the
// argv into strings; `validate*` turn them into a typed config once, throwing
// UsageError (exit 2) with the offending text. Nothing here touches the kernel.

import { Command, CommanderError, Option } from 'commander';
import { UsageError } from '../errors.js';
import type { TraceConfig, TraceMode } from '../bpf/config.js';
import { parseBufferPages, parsePidList, parsePortList } from './options.js';

/** Default pages per CPU ring: 4 MiB holds about 0.3 s of a loopback flood,
 * far more than the 10 ms between reads. */
export const DEFAULT_BUFFER_PAGES = 1024;

export interface CommonOptions {
  readonly time: boolean;
  readonly timestamp: boolean;
  readonly wide: boolean;
  readonly csv: boolean;
  /** --json: one JSON object per line (src/format/json.ts), JSON diagnostics. */
  readonly json: boolean;
  readonly verbose: boolean;
  readonly durationMs: number | null;
  readonly maxRows: number | null;
  readonly trace: TraceConfig;
}

export interface RawOptions {
  time?: boolean;
  timestamp?: boolean;
  wide?: boolean;
  csv?: boolean;
  json?: boolean;
  localport?: string;
  remoteport?: string;
  ipv4?: boolean;
  ipv6?: boolean;
  pid?: string;
  bufferPages?: string;
  duration?: string;
  count?: string;
  verbose?: boolean;
}

export interface CommandSpec {
  readonly name: string;
  readonly description: string;
  readonly examples: string;
  /** Adds -p/--pid. */
  readonly pidOption: boolean;
  readonly pidHelp?: string;
}

/** The commander program for a tool, set to throw instead of exiting. */
export function buildCommand(spec: CommandSpec, write: { out: (s: string) => void; err: (s: string) => void }): Command {
  const command = new Command(spec.name)
    .description(spec.description)
    .helpOption('-h, --help', 'show this help message and exit')
    .option('-T, --time', 'include time column on output (HH:MM:SS)')
    .option('-t, --timestamp', 'include timestamp on output (seconds)')
    .option('-w, --wide', 'wide column output (fits IPv6 addresses)')
    .option('-s, --csv', 'comma separated values output')
    .addOption(
      new Option('--json', 'one JSON object per line (NDJSON); notices on stderr as JSON too').conflicts([
        'csv',
        'wide',
        'time',
        'timestamp',
      ]),
    );
  if (spec.pidOption) command.option('-p, --pid <pids>', spec.pidHelp ?? 'comma-separated list of PIDs to trace');
  command
    .option('-L, --localport <ports>', 'comma-separated list of local ports to trace.')
    .option('-D, --remoteport <ports>', 'comma-separated list of remote ports to trace.')
    .addOption(new Option('-4, --ipv4', 'trace IPv4 family only').conflicts('ipv6'))
    .addOption(new Option('-6, --ipv6', 'trace IPv6 family only').conflicts('ipv4'))
    .option('--duration <seconds>', 'stop after this many seconds')
    .option('--count <rows>', 'stop after printing this many rows')
    .option('--buffer-pages <pages>', `perf ring size per CPU, in pages (power of two, default ${DEFAULT_BUFFER_PAGES})`)
    .option('-v, --verbose', "print libbpf's messages (and the verifier log) to stderr")
    .addHelpText('after', `\n${spec.examples}`)
    .showHelpAfterError(`(run ${spec.name} -h for usage)`)
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: write.out, writeErr: write.err });
  return command;
}

function positiveNumber(text: string, option: string, what: string, integer: boolean): number {
  const trimmed = text.trim();
  const pattern = integer ? /^\d+$/ : /^(\d+(\.\d*)?|\.\d+)$/;
  const value = Number(trimmed);
  if (!pattern.test(trimmed) || !(value > 0) || !Number.isFinite(value)) {
    throw new UsageError(`${option}: invalid ${what} "${text}": not a positive ${integer ? 'integer' : 'number'}`);
  }
  return value;
}

/** Turns commander's strings into the typed options. @throws UsageError */
export function validateCommon(raw: RawOptions, mode: TraceMode): CommonOptions {
  const trace: TraceConfig = {
    mode,
    localPorts: raw.localport === undefined ? null : parsePortList(raw.localport, '-L/--localport'),
    remotePorts: raw.remoteport === undefined ? null : parsePortList(raw.remoteport, '-D/--remoteport'),
    family: raw.ipv4 ? 2 : raw.ipv6 ? 10 : 0,
    pids: raw.pid === undefined ? null : parsePidList(raw.pid, '-p/--pid'),
    bufferPages: raw.bufferPages === undefined ? DEFAULT_BUFFER_PAGES : parseBufferPages(raw.bufferPages, '--buffer-pages'),
  };
  return {
    time: raw.time === true,
    timestamp: raw.timestamp === true,
    wide: raw.wide === true,
    csv: raw.csv === true,
    json: raw.json === true,
    verbose: raw.verbose === true,
    durationMs: raw.duration === undefined ? null : positiveNumber(raw.duration, '--duration', 'duration', false) * 1000,
    maxRows: raw.count === undefined ? null : positiveNumber(raw.count, '--count', 'count', true),
    trace,
  };
}

export type ParseResult<T> = { kind: 'run'; options: T } | { kind: 'exit'; code: number };

/**
 * Parses argv (without node and script). Help exits 0; commander's own
 * errors (unknown option, -4 with -6, stray arguments) exit 2 after commander
 * printed its one line; our validation errors are thrown as UsageError.
 */
export function parseArgs<T>(command: Command, argv: readonly string[], validate: (raw: RawOptions) => T): ParseResult<T> {
  try {
    command.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      return { kind: 'exit', code: error.code === 'commander.helpDisplayed' || error.code === 'commander.help' ? 0 : 2 };
    }
    throw error;
  }
  return { kind: 'run', options: validate(command.opts<RawOptions>()) };
}
