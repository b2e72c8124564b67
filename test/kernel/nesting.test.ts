// SPDX-License-Identifier: MIT
// The nesting cover (bpf/nesting.h) at work. Receive steering (RPS) on a
// namespace's loopback sends every packet's processing to one CPU, so a
// generator on a second CPU makes transitions in softirqs that interrupt the
// first CPU's generator, some of them inside handle_set_state: the kernel skips
// handle_set_state for those, and handle_set_state_nested must do each one.
// tcpstates' rows, tcpstates --metrics (in-kernel aggregation, no records)
// and tcplife's sessions are compared with the kernel's own record (the
// witness): every transition and every session is there, none twice, and
// the skipped runs were not zero (the cover was exercised).

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { adopt } from '../../harness/children.js';
import { make } from '../../harness/build.js';
import { testPort } from '../../harness/loopback.js';
import { createNetns, inNetns, sh, type TestNetns } from '../../harness/namespaces.js';
import { parseLifeCsvRow, parseTextRow } from '../../harness/rows.js';
import { StateWitness, blindThreads, type WitnessedTransition } from '../../harness/state-witness.js';
import { allowedCpus, ephemeralPorts, recursionMissesOf, requireRoot, sleep } from '../../harness/system.js';
import { TracerProcess } from '../../harness/tracer-process.js';

requireRoot();

/** Per generator and round: 2 x 10,000 connections make 200,000
 * transitions; a round makes hundreds of skipped runs here. */
const CONNECTIONS = 10_000;
const ROUNDS_MAX = 3;
/** The witness's buffer per CPU: RPS puts most transitions on one CPU, and
 * ROUNDS_MAX rounds must fit there (some 100 bytes a transition). */
const WITNESS_KIB_PER_CPU = 128 * 1024;
/** The generators listen on PORT and PORT + 1, below the ephemeral range: the
 * witness sees every namespace and is filtered by these ports, so no
 * connection elsewhere on the machine may have one as its own. */
const PORT = testPort(500);

/** Every packet on the namespace's loopback is processed on `cpu` (the
 * mask: hexadecimal words of 32 CPUs, the highest first, comma-separated). */
function steerTo(netns: TestNetns, cpu: number): void {
  const words = Array.from({ length: Math.floor(cpu / 32) + 1 }, (_, word) => (word === Math.floor(cpu / 32) ? 2 ** (cpu % 32) : 0).toString(16).padStart(8, '0'));
  sh('ip', ['netns', 'exec', netns.name, 'sh', '-c', `echo ${words.reverse().join(',')} > /sys/class/net/lo/queues/rx-0/rps_cpus`]);
}

/** Sockets in `netns` that are not in TIME-WAIT: each makes a transition yet. */
function stillOpen(netns: TestNetns): number {
  return sh('ip', ['netns', 'exec', netns.name, 'ss', '-tanH', 'exclude', 'time-wait']).split('\n').filter((line) => line.trim() !== '').length;
}

/** Two loopback generators in `netns`, pinned to `cpus` (two), on ports PORT and PORT + 1. */
async function churn(netns: TestNetns, loadgen: string, cpus: readonly number[]): Promise<void> {
  const runs = cpus.map(
    (cpu, index) =>
      new Promise<void>((resolve, reject) => {
        const argv = [...inNetns(netns), 'taskset', '-c', String(cpu), loadgen, '--count', String(CONNECTIONS), '--seconds', '60', '--port', String(PORT + index), '--addresses', '4'];
        const child = adopt(spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] }));
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.once('error', reject);
        child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`loadgen on CPU ${cpu} exited ${code}: ${stderr}`))));
      }),
  );
  await Promise.all(runs);
}

/** A socket, by its two ends. */
const socketKey = (laddr: string, lport: number, raddr: string, rport: number): string => `${laddr}:${lport}>${raddr}:${rport}`;
const witnessedSocket = (one: WitnessedTransition): string => socketKey(one.saddr, one.sport, one.daddr, one.dport);
const witnessedTransition = (one: WitnessedTransition): string => `${witnessedSocket(one)} ${one.oldstate}->${one.newstate}`;

function countBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) {
    const name = keyOf(item);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

/** Transitions of the generators' connections: one end on PORT or PORT + 1. */
const ours = (witnessed: readonly WitnessedTransition[]): WitnessedTransition[] =>
  witnessed.filter((one) => [one.sport, one.dport].some((port) => port === PORT || port === PORT + 1));

/** What the witness has that `seen` lacks must have run where BPF cannot
 * (a blind thread); `seen` may have nothing the witness lacks. */
function assertAllSeen(what: string, seen: Map<string, number>, witnessed: Map<string, number>, blindCounts: Map<string, number>): void {
  const extra = [...seen].filter(([name, count]) => count > (witnessed.get(name) ?? 0));
  assert.deepEqual(extra.slice(0, 5), [], `${what}: ${extra.length} transitions the kernel did not make (or made fewer times)`);
  const missing = [...witnessed].filter(([name, count]) => count - (seen.get(name) ?? 0) > (blindCounts.get(name) ?? 0));
  assert.deepEqual(missing.slice(0, 5), [], `${what}: ${missing.length} transitions missing`);
}

test('transitions in softirqs that interrupt handle_set_state (RPS onto one CPU): the kernel skips those runs, the cover does each one, rows, in-kernel metrics and sessions equal the witness', async (t) => {
  const cpus = allowedCpus();
  assert.ok(cpus.length >= 2, `this test needs 2 online CPUs it may run on (a generator on each of two); it has: ${cpus.join(',') || 'none'}`);
  const { low, high } = ephemeralPorts();
  assert.ok(PORT + 1 < low || PORT > high, `ports ${PORT} and ${PORT + 1} are outside the ephemeral range ${low}-${high} (ip_local_port_range)`);
  const [loadgen] = make('dist/bench/loadgen');
  const netns = createNetns('rps');
  t.after(() => netns.remove());
  steerTo(netns, cpus[0]!);

  const witness = StateWitness.start(WITNESS_KIB_PER_CPU);
  let witnessed: WitnessedTransition[] = [];
  const tracers: TracerProcess[] = [];
  try {
    const rows = await TracerProcess.attach('tcpstates', ['-N', String(netns.ino)]);
    tracers.push(rows);
    const metrics = await TracerProcess.attach('tcpstates', ['--metrics', '127.0.0.1:0', '-N', String(netns.ino)]);
    tracers.push(metrics);
    const sessions = await TracerProcess.attach('tcplife', ['-s', '-N', String(netns.ino)]);
    tracers.push(sessions);
    const skippedRuns = (): number[] => tracers.map((tracer) => recursionMissesOf(tracer.pid, 'handle_set_state'));
    let rounds = 0;
    while (rounds < ROUNDS_MAX && skippedRuns().some((runs) => runs === 0)) {
      await churn(netns, loadgen!, cpus.slice(0, 2));
      rounds++;
    }
    const skipped = skippedRuns();
    t.diagnostic(`${rounds} round(s); handle_set_state runs skipped (rows, metrics, sessions): ${skipped.join(', ')}`);
    assert.ok(skipped.every((runs) => runs > 0), `the kernel skipped handle_set_state (rows, metrics, sessions: ${skipped.join(', ')} runs): the cover was exercised`);
    // Every socket closed (a FIN dropped from a full backlog is resent later), so
    // that the tracers and the witness, stopped in turn, see the same transitions.
    const closeDeadline = Date.now() + 60_000;
    while (stillOpen(netns) > 0 && Date.now() < closeDeadline) await sleep(200);
    assert.equal(stillOpen(netns), 0, 'every socket of the load closed');
    const scrape = await (await fetch(`http://127.0.0.1:${metrics.metricsPort}/metrics`)).text();
    const rowsExit = await rows.finish();
    const metricsExit = await metrics.finish();
    const sessionsExit = await sessions.finish();
    witnessed = ours(witness.stop());

    for (const [name, exit] of [['rows', rowsExit], ['metrics', metricsExit], ['sessions', sessionsExit]] as const) {
      assert.equal(exit.code, 0, `${name}: ${exit.stderr.join('\n')}`);
      // tcplife's owner-by-use programs nest too: their skipped runs are
      // reported and touch only who owns a session, which this test leaves aside.
      const reported = exit.stderr.filter((line) => /lost [1-9]|skipped|could not/.test(line) && !/skipped \d+ socket I\/O runs/.test(line));
      assert.deepEqual(reported, [], `${name}: nothing reported lost or skipped`);
    }
    assert.match(scrape, /^tcpstates_misses_total\{kind="state_change_run_skipped"\} 0$/m);

    const blind = blindThreads();
    const blindOnes = witnessed.filter((one) => blind.has(one.tid));
    const printed = rowsExit.stdout.slice(1).map((line) => parseTextRow(line));
    assert.ok(witnessed.length >= 2 * CONNECTIONS * 10, `the witness saw the load (${witnessed.length} transitions)`);
    assertAllSeen(
      'rows',
      countBy(printed, (row) => `${socketKey(row.laddr, row.lport, row.raddr, row.rport)} ${row.oldstate}->${row.newstate}`),
      countBy(witnessed, witnessedTransition),
      countBy(blindOnes, witnessedTransition),
    );

    // The metrics have no ports: the same comparison by transition.
    const transitionOnly = (one: WitnessedTransition): string => `${one.oldstate}->${one.newstate}`.toLowerCase();
    const counted = new Map<string, number>();
    for (const match of scrape.matchAll(/^tcpstates_transitions_total\{old_state="(\w+)",new_state="(\w+)",family="ipv4"\} (\d+)$/gm)) {
      counted.set(`${match[1]}->${match[2]}`, Number(match[3]));
    }
    assertAllSeen('metrics', counted, countBy(witnessed, transitionOnly), countBy(blindOnes, transitionOnly));

    // tcplife: a session row for each socket's CLOSE but a listener's.
    const sessionEnds = witnessed.filter((one) => one.newstate === 'CLOSE' && one.oldstate !== 'LISTEN');
    const lifeRows = sessionsExit.stdout.map(parseLifeCsvRow).filter((row) => row !== null);
    assertAllSeen(
      'sessions',
      countBy(lifeRows, (row) => socketKey(row.localAddress, row.localPort, row.remoteAddress, row.remotePort)),
      countBy(sessionEnds, witnessedSocket),
      countBy(blindOnes, witnessedSocket),
    );
  } finally {
    for (const tracer of tracers) tracer.child.kill('SIGKILL');
    if (witnessed.length === 0) {
      try {
        witness.stop();
      } catch {
        // stopped already
      }
    }
  }
});
