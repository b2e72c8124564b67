// SPDX-License-Identifier: MIT
// Command-line parsing shared by tcpstates and tcplife. commander reads the
// argv into strings; `validate*` turn them into a typed config once, throwing
// UsageError (exit 2) with the offending text. Nothing here touches the kernel.

import { writeSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { UsageError } from '../errors.js';
import { MAX_SOCKETS_DEFAULT, MAX_SOCKETS_LIMIT, type TraceConfig, type TraceMode } from '../bpf/config.js';
import { parseBufferPages, parsePidLists, parsePortList, parseRepeatedList, quoted, shown, SHOWN_VALUE_MAX } from './options.js';
import { escapeControls } from '../quote.js';
import { colorizerFor, type Colorizer } from '../format/color.js';
import { StdoutWriteError } from '../io/output.js';
import type { Diagnostics } from '../io/diagnostics.js';
import { packageVersion } from './version.js';
import { addFleetOptions, ROW_LAYOUT_OPTIONS, validateFleet, type FleetOptions, type FleetRawOptions } from './fleet-options.js';

export interface CommonOptions {
  readonly time: boolean;
  readonly timestamp: boolean;
  readonly wide: boolean;
  readonly csv: boolean;
  /** --json: one JSON object per line (src/format/json.ts), JSON diagnostics. */
  readonly json: boolean;
  readonly verbose: boolean;
  /** false with --no-header: rows only, for appending to a file. */
  readonly header: boolean;
  readonly durationMs: number | null;
  readonly maxRows: number | null;
  readonly trace: TraceConfig;
  /** --metrics, -N/--netns, --cgroup, --container (cli/fleet-options.ts). */
  readonly fleet: FleetOptions;
  /** --existing: also the sessions open at start (src/open/). */
  readonly existing: boolean;
  /** tcplife --interval (and --all): open-session rows every interval; null without. */
  readonly openSessions: OpenSessionOptions | null;
}

export interface OpenSessionOptions {
  readonly intervalMs: number;
  /** --all: every open session each interval, not only those that moved. */
  readonly all: boolean;
  /** --top: the live view instead of rows (src/top/). */
  readonly top: boolean;
}

export interface RawOptions extends FleetRawOptions {
  time?: boolean;
  timestamp?: boolean;
  wide?: boolean;
  csv?: boolean;
  json?: boolean;
  /** The list options accumulate: one string per time given. */
  localport?: string | string[];
  remoteport?: string | string[];
  ipv4?: boolean;
  ipv6?: boolean;
  pid?: string | string[];
  /** false with --no-header. */
  header?: boolean;
  bufferPages?: string;
  maxSockets?: string;
  duration?: string;
  count?: string;
  verbose?: boolean;
  existing?: boolean;
  /** tcplife only. */
  interval?: string;
  all?: boolean;
  top?: boolean;
}

export interface CommandSpec {
  readonly name: string;
  readonly description: string;
  readonly examples: string;
  /** -p/--pid's help: what the PID is in this tool. */
  readonly pidHelp?: string;
}

/** Where commander writes help (stdout) and its errors (stderr). */
export interface CommandWriter {
  out(text: string): void;
  err(text: string): void;
}

const STDIO: CommandWriter = { out: (text) => void writeSync(1, text), err: (text) => void writeSync(2, text) };

/** Commander's argument parser for a list option given more than once:
 * keeps every value (-L 80 -L 443 traces both), checked in validateCommon. */
function collect(value: string, previous: string[] | undefined): string[] {
  return previous === undefined ? [value] : [...previous, value];
}

/** The commander program for a tool, set to throw instead of exiting. */
export function buildCommand(spec: CommandSpec, write: CommandWriter = STDIO): Command {
  const command = new Command(spec.name)
    .description(spec.description)
    .helpOption('-h, --help', 'show this help message and exit')
    .option('-V, --version', `print the version ("${spec.name} X.Y.Z") and exit`)
    .option('-T, --time', 'include time column on output (HH:MM:SS)')
    .option('-t, --timestamp', 'include timestamp on output (seconds)')
    .option('-w, --wide', 'wide column output (fits IPv6 addresses)')
    .option('-s, --csv', 'comma separated values output')
    .addOption(
      new Option('--json', 'one JSON object per line (NDJSON); notices on stderr as JSON too').conflicts(ROW_LAYOUT_OPTIONS),
    );
  command.option('-p, --pid <pids>', `${spec.pidHelp ?? 'comma-separated list of PIDs to trace'} (repeatable)`, collect);
  command
    .option('-L, --localport <ports>', 'comma-separated list of local ports to trace (repeatable).', collect)
    .option('-D, --remoteport <ports>', 'comma-separated list of remote ports to trace (repeatable).', collect)
    .addOption(new Option('-4, --ipv4', 'trace IPv4 family only').conflicts('ipv6'))
    .addOption(new Option('-6, --ipv6', 'trace IPv6 family only').conflicts('ipv4'))
    .option('--duration <seconds>', 'stop after this many seconds')
    .option('--count <rows>', 'stop after printing this many rows')
    .option(
      '--buffer-pages <pages>',
      'perf ring size per CPU, in pages, a power of two (default: 4 MiB; 16 MiB shared by the CPUs, 4 to 16 MiB each, as root or with RLIMIT_MEMLOCK unlimited)',
    )
    .option(
      '--max-sockets <sockets>',
      `sockets followed at once (default ${MAX_SOCKETS_DEFAULT}; beyond it, state changes are counted and reported as untracked; up to ${MAX_SOCKETS_LIMIT})`,
    )
    .option('--no-header', 'no header line (for appending to a file)')
    .option('--existing', 'also trace the sessions already open at start (their start unknown: MS marked ">", a lower bound)')
    .option('-v, --verbose', "print libbpf's messages (and the verifier log) to stderr");
  addFleetOptions(command)
    .addHelpText('after', `\n${spec.examples}`)
    .allowExcessArguments(false)
    .exitOverride()
    // Errors are not printed here: parseArgs turns them into a UsageError,
    // which io/diagnostics.ts prints like every other error.
    .configureOutput({ writeOut: write.out, writeErr: write.err, outputError: () => {} });
  command.on('option:version', () => {
    const version = `${spec.name} ${packageVersion()}`;
    write.out(`${version}\n`);
    throw new CommanderError(0, 'commander.version', version);
  });
  return command;
}

function positiveNumber(text: string, option: string, what: string, integer: boolean): number {
  const trimmed = text.trim();
  const pattern = integer ? /^\d+$/ : /^(\d+(\.\d*)?|\.\d+)$/;
  const value = Number(trimmed);
  if (!pattern.test(trimmed) || !(value > 0) || !Number.isFinite(value)) {
    throw new UsageError(`${option}: invalid ${what} ${quoted(text)}: not a positive ${integer ? 'integer' : 'number'}`);
  }
  return value;
}

function socketCount(text: string): number {
  const sockets = positiveNumber(text, '--max-sockets', 'socket count', true);
  if (sockets > MAX_SOCKETS_LIMIT) throw new UsageError(`--max-sockets: ${shown(text.trim())} is more than ${MAX_SOCKETS_LIMIT}`);
  return sockets;
}

/** Turns commander's strings into the typed options. @throws UsageError */
export function validateCommon(raw: RawOptions, mode: TraceMode): CommonOptions {
  const fleet = validateFleet(raw);
  const trace: TraceConfig = {
    mode,
    localPorts: raw.localport === undefined ? null : parseRepeatedList(raw.localport, '-L/--localport', parsePortList),
    remotePorts: raw.remoteport === undefined ? null : parseRepeatedList(raw.remoteport, '-D/--remoteport', parsePortList),
    family: raw.ipv4 ? 2 : raw.ipv6 ? 10 : 0,
    pids: raw.pid === undefined ? null : parsePidLists(raw.pid, '-p/--pid'),
    netnsIno: fleet.netnsIno,
    cgroup: fleet.cgroup === null ? null : { id: fleet.cgroup.id, level: fleet.cgroup.level },
    bufferPages: raw.bufferPages === undefined ? null : parseBufferPages(raw.bufferPages, '--buffer-pages'),
    ...(raw.maxSockets === undefined ? {} : { maxSockets: socketCount(raw.maxSockets) }),
  };
  return {
    time: raw.time === true,
    timestamp: raw.timestamp === true,
    wide: raw.wide === true,
    csv: raw.csv === true,
    json: raw.json === true,
    verbose: raw.verbose === true,
    header: raw.header !== false,
    durationMs: raw.duration === undefined ? null : positiveNumber(raw.duration, '--duration', 'duration', false) * 1000,
    maxRows: raw.count === undefined ? null : positiveNumber(raw.count, '--count', 'count', true),
    trace,
    fleet,
    // The live view shows every open session, those open at start too.
    existing: raw.existing === true || raw.top === true,
    openSessions: openSessionOptions(raw),
  };
}

/** --interval and --all (tcplife). @throws UsageError */
function openSessionOptions(raw: RawOptions): OpenSessionOptions | null {
  if (raw.top === true) return topOptions(raw);
  if (raw.interval === undefined) {
    if (raw.all === true) throw new UsageError('--all: only with --interval');
    return null;
  }
  return { intervalMs: positiveNumber(raw.interval, '--interval', 'interval', false) * 1000, all: raw.all === true, top: false };
}

/** What --top draws instead of rows, so options about rows have no place beside it. */
const NOT_WITH_TOP: readonly (readonly [keyof RawOptions, string])[] = [
  ['json', '--json'],
  ['csv', '-s/--csv'],
  ['time', '-T/--time'],
  ['timestamp', '-t/--timestamp'],
  ['wide', '-w/--wide'],
  ['count', '--count'],
  ['all', '--all'],
  ['metrics', '--metrics'],
  ['container', '--container'],
];

/** The live view's refresh interval, when --interval does not say. */
export const TOP_INTERVAL_MS = 1000;

/** --top, every interval (1 s unless --interval says). @throws UsageError */
function topOptions(raw: RawOptions): OpenSessionOptions {
  for (const [key, flag] of NOT_WITH_TOP) if (raw[key] !== undefined && raw[key] !== false) throw new UsageError(`--top: not with ${flag} (it draws its own screen)`);
  if (raw.header === false) throw new UsageError('--top: not with --no-header (it draws its own screen)');
  const intervalMs = raw.interval === undefined ? TOP_INTERVAL_MS : positiveNumber(raw.interval, '--interval', 'interval', false) * 1000;
  return { intervalMs, all: true, top: true };
}

/** Stray arguments named in the message; more are counted. */
const MAX_SHOWN_ARGUMENTS = 3;

export type ParseResult<T> = { kind: 'run'; options: T } | { kind: 'exit'; code: number };

/** The hint line after an error in the command line's shape. */
export function usageHint(tool: string): string {
  return `run '${tool} -h' for usage`;
}

/** commander's error text as one line of ours: no "error: " prefix, no
 * trailing period, the "Did you mean" suggestion kept on the same line. */
function commanderMessage(error: CommanderError, command: Command): string {
  if (error.code === 'commander.excessArguments') {
    const shownArgs = command.args.slice(0, MAX_SHOWN_ARGUMENTS).map(quoted);
    if (command.args.length > MAX_SHOWN_ARGUMENTS) shownArgs.push(`... (${command.args.length} arguments)`);
    return `unexpected argument${command.args.length === 1 ? '' : 's'} ${shownArgs.join(' ')}`;
  }
  // Quoted parts that the pattern below cannot pair (an apostrophe in the
  // user's text) keep their control characters until escapeControls.
  return escapeControls(
    error.message
      .replace(/^error: /, '')
      .replace(/\n\(Did you mean (.*)\?\)/, ' (did you mean $1?)')
      .replace(/\s*\n\s*/g, ' ')
      .replace(/\.$/, '')
      // The user's text that commander quotes ('--bogus'): cut and escaped.
      .replace(/'([^']*)'/g, (whole: string, text: string) => (text.length > SHOWN_VALUE_MAX || /[\x00-\x1f\x7f-\x9f]/.test(text) ? quoted(text) : whole))
  );
}

/**
 * Parses argv (without node and script). Help exits 0. Every invalid option,
 * value or argument throws UsageError (exit 2), printed by io/diagnostics.ts
 * as one "tool: message" line (a JSON object with --json). `diagnostics`, if
 * given, takes its mode (--json, --verbose) from what was parsed, even when
 * parsing fails. As GNU tools do, errors in the command line's shape
 * (unknown option, missing value, stray argument, -4 with -6) add the usage
 * hint; an invalid value is said exactly and needs none.
 */
export function parseArgs<T>(
  command: Command,
  argv: readonly string[],
  validate: (raw: RawOptions) => T,
  diagnostics?: Diagnostics,
): ParseResult<T> {
  try {
    command.parse([...argv], { from: 'user' });
  } catch (error) {
    // What was parsed before the error sets the mode: with --json even a
    // usage error is reported as JSON.
    diagnostics?.configure(diagnosticMode(command.opts<RawOptions>()));
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.help' || error.code === 'commander.version') {
        return { kind: 'exit', code: 0 };
      }
      throw new UsageError(commanderMessage(error, command), { hint: usageHint(command.name()) });
    }
    // -h into a closed pipe (tcpstates -h | head -1): the reader is done.
    if ((error as NodeJS.ErrnoException).code === 'EPIPE') return { kind: 'exit', code: 0 };
    // -h > /dev/full: a write error, said as the tracing loop says it.
    if (typeof (error as NodeJS.ErrnoException).code === 'string') throw new StdoutWriteError((error as NodeJS.ErrnoException).code!, error);
    throw error;
  }
  const raw = command.opts<RawOptions>();
  diagnostics?.configure(diagnosticMode(raw));
  return { kind: 'run', options: validate(raw) };
}

/** --json and --verbose, the options that set how stderr is written.
 * --json given with a text layout (-s, -w, -T, -t) is no JSON run: that
 * conflict is reported as text. */
function diagnosticMode(raw: RawOptions): { json: boolean; verbose: boolean } {
  const textLayout = raw.csv === true || raw.wide === true || raw.time === true || raw.timestamp === true;
  return { json: raw.json === true && !textLayout, verbose: raw.verbose === true };
}

/** What both tools' row renderers take from the options. */
export interface RowLayout {
  readonly wide: boolean;
  readonly csv: boolean;
  readonly time: boolean;
  readonly timestamp: boolean;
  readonly wallClockOffsetMs: number;
  readonly colorizer: Colorizer | null;
  /** tcplife --interval: the TYPE column (OPEN/CLOSE). */
  readonly rowTypes: boolean;
  /** --existing: MS of a session that predates the trace marked '>'. */
  readonly markSeeded: boolean;
}

/** The layout from the options, with colour only for text rows on a terminal. */
export async function rowLayout(options: CommonOptions, wallClockOffsetMs: number): Promise<RowLayout> {
  return {
    wide: options.wide,
    csv: options.csv,
    time: options.time,
    timestamp: options.timestamp,
    wallClockOffsetMs,
    colorizer: options.csv || options.json ? null : await colorizerFor(process.stdout.isTTY === true, process.env),
    rowTypes: options.openSessions !== null,
    markSeeded: options.existing,
  };
}
