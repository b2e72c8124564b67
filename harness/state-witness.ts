// SPDX-License-Identifier: MIT
// A witness of every TCP state change the kernel makes, independent of BPF:
// the kernel's own trace buffer (ftrace) records sock:inet_sock_set_state in
// a private tracing instance, with the thread that was current. Tests use it
// as the ground truth a tracer's rows are compared with, and to recognise
// the transitions no BPF program can see on this machine (blindContext).
//
// Why: this CI machine's kernel (a Firecracker guest) runs no BPF program
// while a thread of its init process (PID 1, the guest agent) is current,
// including the softirqs that interrupt such a thread (test/README.md; the
// measurement is in docs/performance.md). No kernel counter reports them: a
// tracer cannot know. The witness can.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tracefsMountPoints } from './system.js';

/** One state change, as the kernel's tracepoint recorded it. */
export interface WitnessedTransition {
  /** The thread current when it ran (a softirq runs on top of any thread). */
  readonly tid: number;
  readonly comm: string;
  readonly cpu: number;
  readonly family: 4 | 6;
  readonly sport: number;
  readonly dport: number;
  readonly saddr: string;
  readonly daddr: string;
  /** bcc's names: ESTABLISHED, FIN_WAIT1, ... (the tracepoint's without TCP_). */
  readonly oldstate: string;
  readonly newstate: string;
}

/** Ring buffer per CPU: 400,000 transitions (the scale test) need ~16 MB in all. */
const BUFFER_KIB_PER_CPU = 64 * 1024;
const EVENT = 'events/sock/inet_sock_set_state';

const LINE = /^\s*(.*)-(\d+)\s+\[(\d+)\]\s+\S+\s+[\d.]+: inet_sock_set_state: (.*)$/;

/** Parses the text of a tracing instance's `trace` file (pure; exported for unit tests). */
export function parseWitnessTrace(text: string): WitnessedTransition[] {
  const transitions: WitnessedTransition[] = [];
  for (const line of text.split('\n')) {
    const match = LINE.exec(line);
    if (match === null) continue;
    const fields = new Map<string, string>();
    for (const pair of match[4]!.split(' ')) {
      const equals = pair.indexOf('=');
      if (equals > 0) fields.set(pair.slice(0, equals), pair.slice(equals + 1));
    }
    if (fields.get('protocol') !== 'IPPROTO_TCP') continue;
    const family = fields.get('family') === 'AF_INET6' ? 6 : 4;
    transitions.push({
      tid: Number(match[2]),
      comm: match[1]!,
      cpu: Number(match[3]),
      family,
      sport: Number(fields.get('sport')),
      dport: Number(fields.get('dport')),
      saddr: (family === 4 ? fields.get('saddr') : fields.get('saddrv6')) ?? '',
      daddr: (family === 4 ? fields.get('daddr') : fields.get('daddrv6')) ?? '',
      oldstate: (fields.get('oldstate') ?? '').replace(/^TCP_/, ''),
      newstate: (fields.get('newstate') ?? '').replace(/^TCP_/, ''),
    });
  }
  return transitions;
}

export class StateWitness {
  private constructor(
    private readonly instance: string,
    private readonly ownMount: string | null,
  ) {}

  /** Starts recording in a tracing instance of its own (mounting tracefs
   * privately if it is not mounted; nothing global is changed). */
  static start(bufferKibPerCpu = BUFFER_KIB_PER_CPU): StateWitness {
    let root = tracefsMountPoints()[0] ?? null;
    let ownMount: string | null = null;
    if (root === null) {
      ownMount = mkdtempSync(join(tmpdir(), 'tcpstates-witness-'));
      execFileSync('mount', ['-t', 'tracefs', 'nodev', ownMount]);
      root = ownMount;
    }
    const instance = join(root, 'instances', `tcpstates-witness-${process.pid}-${Date.now()}`);
    mkdirSync(instance);
    const witness = new StateWitness(instance, ownMount);
    try {
      writeFileSync(join(instance, 'buffer_size_kb'), String(bufferKibPerCpu));
      writeFileSync(join(instance, EVENT, 'enable'), '1');
      writeFileSync(join(instance, 'tracing_on'), '1');
    } catch (error) {
      witness.remove();
      throw error;
    }
    return witness;
  }

  /** Stops recording and returns every transition recorded; throws if the
   * buffer overflowed (the witness would not be the whole truth). */
  stop(): WitnessedTransition[] {
    try {
      writeFileSync(join(this.instance, 'tracing_on'), '0');
      writeFileSync(join(this.instance, EVENT, 'enable'), '0');
      for (const cpu of readdirSync(join(this.instance, 'per_cpu'))) {
        const stats = readFileSync(join(this.instance, 'per_cpu', cpu, 'stats'), 'utf8');
        const lost = /^overrun: (\d+)$/m.exec(stats)?.[1];
        if (lost !== undefined && lost !== '0') throw new Error(`state witness: ${lost} transitions overwritten on ${cpu}: buffer too small`);
      }
      return parseWitnessTrace(readFileSync(join(this.instance, 'trace'), 'utf8'));
    } finally {
      this.remove();
    }
  }

  private remove(): void {
    if (existsSync(this.instance)) rmdirSync(this.instance);
    if (this.ownMount !== null) {
      execFileSync('umount', [this.ownMount]);
      rmdirSync(this.ownMount);
    }
  }
}

/**
 * The threads in whose context BPF programs cannot see a transition on this
 * machine: PID 1's (see the head of this file), read now. On a machine whose
 * kernel runs BPF everywhere no transition is missed, so the set is never
 * consulted there.
 */
export function blindThreads(): ReadonlySet<number> {
  try {
    return new Set(readdirSync('/proc/1/task').map(Number));
  } catch {
    return new Set();
  }
}
