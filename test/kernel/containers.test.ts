// SPDX-License-Identifier: MIT
// Containers on the real kernel: rows carry their socket's network
// namespace and cgroup, -N/--netns and --cgroup keep exactly their rows,
// --container adds the columns to text rows, and refused, timed-out and
// reset connections carry their error. The load runs in namespaces and
// cgroups this test creates (and removes, pass or fail).

import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { containerIdOfPath } from '../../src/sys/container-id.js';
import { cgroup2Mount, createCgroups, createNetns, dropSyns } from '../../harness/namespaces.js';
import { runLoad, type LoadRecord } from '../../harness/peers.js';
import { jsonRows } from '../../harness/rows.js';
import { StateWitness, blindThreads } from '../../harness/state-witness.js';
import { requireRoot, sleep } from '../../harness/system.js';
import { runTracerToExit, TracerProcess } from '../../harness/tracer-process.js';

requireRoot();

interface Row {
  readonly netns: number;
  readonly cgroup: string | null;
  readonly container_id: string | null;
  readonly error: string | null;
  readonly lport: number;
  readonly rport: number;
  readonly oldstate?: string;
  readonly newstate?: string;
}

/** After the load: let a read pass, then stop (the tool reads what is left at exit). */
async function stopAll(tools: readonly TracerProcess[]): Promise<void> {
  await sleep(100);
  for (const exit of await Promise.all(tools.map((tool) => tool.stop()))) assert.equal(exit.code, 0);
}

function sessionsOf(records: readonly LoadRecord[]): LoadRecord {
  const record = records.find((r) => r.step === 'sessions');
  assert.ok(record !== undefined);
  return record;
}

/** The test process's own cgroup v2 path (its children inherit it). */
function ownCgroup(): string {
  const line = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
  return line === undefined ? '-' : line.slice(3);
}

test('two namespaces with the same addresses: JSON netns, -N keeps exactly its rows, --container columns', async (t) => {
  const a = createNetns('a');
  t.after(a.remove);
  const b = createNetns('b');
  t.after(b.remove);
  assert.notEqual(a.ino, b.ino);

  const lifeA = await TracerProcess.attach('tcplife', ['--json', '-N', a.path]);
  const lifeB = await TracerProcess.attach('tcplife', ['--json', '-N', String(b.ino)]);
  const statesB = await TracerProcess.attach('tcpstates', ['--json', '--netns', b.path]);
  const textA = await TracerProcess.attach('tcpstates', ['--container', '-N', a.path]);
  const [loadA, loadB] = await Promise.all([
    runLoad(['sessions', '5', '0', '300', '127.0.0.1'], { netns: a }),
    runLoad(['sessions', '3', '0', '300', '127.0.0.1'], { netns: b }),
  ]);
  await stopAll([lifeA, lifeB, statesB, textA]);

  const checkSessions = (rows: Row[], ino: number, load: LoadRecord, connections: number): void => {
    assert.equal(rows.length, 2 * connections, `${rows.length} rows`);
    for (const row of rows) assert.equal(row.netns, ino);
    const { port, client_ports: clientPorts } = load;
    const clients = rows.filter((row) => row.rport === port).map((row) => row.lport).sort();
    const servers = rows.filter((row) => row.lport === port).map((row) => row.rport).sort();
    assert.deepEqual(clients, [...clientPorts!].sort());
    assert.deepEqual(servers, [...clientPorts!].sort());
    for (const row of rows) assert.equal(row.error, null);
  };
  checkSessions(jsonRows<Row>(lifeA.stdoutLines), a.ino, sessionsOf(loadA), 5);
  checkSessions(jsonRows<Row>(lifeB.stdoutLines), b.ino, sessionsOf(loadB), 3);

  // tcpstates: 10 transitions per connection, 2 for the listener, all in b.
  const states = jsonRows<Row>(statesB.stdoutLines);
  assert.equal(states.length, 3 * 10 + 2);
  for (const row of states) assert.equal(row.netns, b.ino);

  // Text: bcc's row, then NETNS, CONTAINER (none: the test's own cgroup) and CGROUP.
  const [header, ...rows] = textA.stdoutLines.filter((line) => line !== '');
  assert.match(header!, /MS +NETNS +CONTAINER +CGROUP$/);
  assert.equal(rows.length, 5 * 10 + 2);
  assert.equal(containerIdOfPath(ownCgroup()), null, 'the test runs outside any container');
  const suffix = ` ${a.ino} -            ${ownCgroup()}`;
  for (const row of rows) assert.ok(row.endsWith(suffix), `${JSON.stringify(row)} ends with ${JSON.stringify(suffix)}`);
});

test('a test cgroup: JSON cgroup path, and --cgroup keeps the cgroup and its subtree only', async (t) => {
  const base = `/tcpstates-test-${process.pid}`;
  // The child is named as containerd names a Kubernetes container's cgroup.
  const containerId = randomBytes(32).toString('hex');
  const [parent, child, sibling] = createCgroups([base, `${base}/cri-containerd-${containerId}.scope`, `${base}/other`]);
  t.after(() => {
    child!.remove();
    sibling!.remove();
    parent!.remove();
  });

  const inParent = await TracerProcess.attach('tcplife', ['--json', '--cgroup', parent!.dir]);
  const inSibling = await TracerProcess.attach('tcplife', ['--json', '--cgroup', sibling!.path]);
  const states = await TracerProcess.attach('tcpstates', ['--json', '--cgroup', child!.path]);
  // Inside the cgroup, and at the same time the same load outside it.
  const [inside, outside] = await Promise.all([
    runLoad(['sessions', '4', '0', '100', '127.0.0.1'], { cgroupDir: child!.dir }),
    runLoad(['sessions', '3', '0', '100', '127.0.0.1']),
  ]);
  await stopAll([inParent, inSibling, states]);

  const rows = jsonRows<Row>(inParent.stdoutLines);
  const { port, client_ports: clientPorts } = sessionsOf(inside);
  assert.equal(rows.length, 8);
  for (const row of rows) {
    assert.equal(row.cgroup, child!.path);
    assert.equal(row.container_id, containerId);
    assert.ok(row.lport === port || row.rport === port, JSON.stringify(row));
  }
  assert.deepEqual(rows.filter((row) => row.rport === port).map((row) => row.lport).sort(), [...clientPorts!].sort());
  const outsidePort = sessionsOf(outside).port;
  assert.ok(!rows.some((row) => row.lport === outsidePort || row.rport === outsidePort));
  assert.deepEqual(jsonRows(inSibling.stdoutLines), []);

  const transitions = jsonRows<Row>(states.stdoutLines);
  assert.equal(transitions.length, 4 * 10 + 2);
  for (const row of transitions) {
    assert.equal(row.cgroup, child!.path);
    assert.equal(row.container_id, containerId);
  }
});

test('--cgroup named through ".", "..", a symlink or the working directory keeps the same rows as its plain path', async (t) => {
  const base = `/tcpstates-test-dots-${process.pid}`;
  const [parent, child] = createCgroups([base, `${base}/sub`]);
  const links = mkdtempSync(`${tmpdir()}/tcpstates-cgroup-link-`);
  symlinkSync(child!.dir, `${links}/sub`);
  t.after(() => {
    rmSync(links, { recursive: true, force: true });
    child!.remove();
    parent!.remove();
  });
  const spellings: [string, string | undefined][] = [
    [child!.dir, undefined],
    [`${child!.dir}/.`, undefined],
    [`${parent!.dir}/./sub/../sub/`, undefined],
    [`${child!.path}/.`, undefined],
    [`${links}/sub`, undefined],
    ['.', child!.dir],
  ];
  const tools = await Promise.all(spellings.map(([spelling, cwd]) => TracerProcess.attach('tcplife', ['--json', '--cgroup', spelling], cwd === undefined ? {} : { cwd })));
  await runLoad(['sessions', '4', '0', '100', '127.0.0.1'], { cgroupDir: child!.dir });
  await stopAll(tools);
  for (const [index, tool] of tools.entries()) {
    const rows = jsonRows<Row>(tool.stdoutLines);
    assert.equal(rows.length, 8, `--cgroup ${spellings[index]![0]}`);
    for (const row of rows) assert.equal(row.cgroup, child!.path);
  }
  // Out of the cgroup2 mount: one line, exit 2.
  const outside = await runTracerToExit(['--cgroup', `${cgroup2Mount()}/..`], process.env, 15_000, { tool: 'tcplife' });
  assert.equal(outside.code, 2);
  assert.match(outside.stderrText, /^tcplife: --cgroup: ".*\/\.\." is not a cgroup directory under .* \(the cgroup2 mount\): it resolves to a path outside it\n$/);
});

test('refused, timed-out and reset connections carry their error (tcplife rows, tcpstates CLOSE rows)', async (t) => {
  const netns = createNetns('err');
  t.after(netns.remove);
  const DROPPED_PORT = 9;
  dropSyns(netns, DROPPED_PORT);

  /** One run of the load under both tracers, and the kernel's own record of
   * the transitions it made (the witness). */
  const attempt = async () => {
    const witness = StateWitness.start();
    try {
      const life = await TracerProcess.attach('tcplife', ['--json', '-N', netns.path]);
      const states = await TracerProcess.attach('tcpstates', ['--json', '-N', netns.path]);
      const records = await runLoad(['refused', 'reset', 'timeout', String(DROPPED_PORT)], { netns });
      await stopAll([life, states]);
      return { life, states, records, witnessed: witness.stop() };
    } catch (error) {
      try {
        witness.stop();
      } catch {
        // the run's own failure is the one to report
      }
      throw error;
    }
  };
  const complete = (candidate: Awaited<ReturnType<typeof attempt>>): boolean =>
    jsonRows(candidate.life.stdoutLines).length >= 4 &&
    jsonRows<Row>(candidate.states.stdoutLines).filter((row) => row.newstate === 'CLOSE').length >= 4 &&
    jsonRows<Row>(candidate.states.stdoutLines).some((row) => row.newstate === 'CLOSE' && row.rport === DROPPED_PORT);
  // A transition of the load that the kernel ran where no BPF program runs
  // (on this machine: a softirq or timer on top of one of PID 1's threads;
  // harness/state-witness.ts) cannot be in any row. Only such a run is
  // made again (at most twice, named); any other missing row fails.
  const ranUnseeable = (candidate: Awaited<ReturnType<typeof attempt>>): string[] => {
    const blind = blindThreads();
    const ports = new Set(candidate.records.flatMap((record) => [record.port, record.client_port]).filter((port): port is number => port !== undefined));
    ports.add(DROPPED_PORT);
    return candidate.witnessed
      .filter((transition) => blind.has(transition.tid) && (ports.has(transition.sport) || ports.has(transition.dport)))
      .map((transition) => `${transition.sport}>${transition.dport} ${transition.oldstate}->${transition.newstate} (${transition.comm}-${transition.tid})`);
  };
  let run = await attempt();
  for (let retry = 1; retry <= 2 && !complete(run); retry++) {
    const unseeable = ranUnseeable(run);
    assert.notDeepEqual(unseeable, [], `a row is missing, and the kernel ran every transition of the load where BPF runs: ${run.life.stdoutLines.join(' ')} / ${run.states.stdoutLines.join(' ')}`);
    t.diagnostic(`run again: the kernel ran ${unseeable.join(', ')} where no BPF program runs`);
    run = await attempt();
  }
  const { life, states, records } = run;

  const refused = records.find((r) => r.step === 'refused')!;
  const reset = records.find((r) => r.step === 'reset')!;
  const timedOut = records.find((r) => r.step === 'timeout')!;
  assert.equal(refused.error, 111); // what connect() said: ECONNREFUSED
  assert.equal(timedOut.error, 110); // ETIMEDOUT

  const sessions = jsonRows<Row>(life.stdoutLines);
  const session = (predicate: (row: Row) => boolean, what: string): Row => {
    const matching = sessions.filter(predicate);
    assert.equal(matching.length, 1, `one ${what} row in ${JSON.stringify(sessions)}`);
    return matching[0]!;
  };
  assert.equal(session((row) => row.rport === refused.port, 'refused').error, 'ECONNREFUSED');
  assert.equal(session((row) => row.rport === DROPPED_PORT, 'timed-out').error, 'ETIMEDOUT');
  assert.equal(session((row) => row.lport === reset.client_port, 'reset client').error, 'ECONNRESET');
  // The end that sent the RST has no error of its own.
  assert.equal(session((row) => row.lport === reset.port, 'reset server').error, null);
  assert.equal(sessions.length, 4);

  const transitions = jsonRows<Row>(states.stdoutLines);
  const closing = (predicate: (row: Row) => boolean, what: string): Row => {
    const matching = transitions.filter((row) => row.newstate === 'CLOSE' && predicate(row));
    assert.equal(matching.length, 1, `one ${what} CLOSE row`);
    return matching[0]!;
  };
  assert.deepEqual(
    [closing((row) => row.rport === refused.port, 'refused')].map((row) => [row.oldstate, row.error]),
    [['SYN_SENT', 'ECONNREFUSED']],
  );
  assert.deepEqual(
    [closing((row) => row.rport === DROPPED_PORT, 'timed-out')].map((row) => [row.oldstate, row.error]),
    [['SYN_SENT', 'ETIMEDOUT']],
  );
  assert.deepEqual(
    [closing((row) => row.lport === reset.client_port, 'reset client')].map((row) => [row.oldstate, row.error]),
    [['ESTABLISHED', 'ECONNRESET']],
  );
  for (const row of transitions) if (row.newstate !== 'CLOSE') assert.equal(row.error, null, JSON.stringify(row));
});
