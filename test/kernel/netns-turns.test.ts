// SPDX-License-Identifier: MIT
// The open-session passes' namespace turns on the real kernel (root): a
// namespace root made (named, /run/netns) is entered on every pass; the
// ones made in other user namespaces (unshare -Urn, as any user can) one per
// pass at a budget of 0 ms, each in turn, the others counted as deferred; an
// empty one is not entered.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { openTrace } from '../../src/bpf/loader.js';
import type { SizedTraceConfig } from '../../src/bpf/config.js';
import { bindLibbpf } from '../../src/ffi/libbpf.js';
import { namespacePasses } from '../../src/open/iterators.js';
import { NamespaceTurns } from '../../src/open/namespace-turns.js';
import { decodeOpenSession, OPEN_SESSION_SIZE } from '../../src/decode/open-record.js';
import { createNetns } from '../../harness/namespaces.js';
import { adopt } from '../../harness/children.js';
import { requireRoot } from '../../harness/system.js';

requireRoot();

const SESSIONS: SizedTraceConfig = { mode: 'sessions', localPorts: null, remotePorts: null, family: 0, pids: null, netnsIno: null, cgroup: null, bufferPages: 8 };
/** Namespaces made in their own user namespaces, each with a session. */
const OTHER_MADE = 6;

/** A session on 127.0.0.1 inside the namespace the argv prefix enters (lo up
 * there), held until stdin closes; "ready" once connected. */
const HOLD_SESSION = [
  'sh',
  '-c',
  `ip link set lo up && exec python3 -c '
import socket, sys
listener = socket.socket(); listener.bind(("127.0.0.1", 5000)); listener.listen()
client = socket.create_connection(("127.0.0.1", 5000)); accepted, _ = listener.accept()
print("ready", flush=True); sys.stdin.read()'`,
];

/** Runs `argv` holding a session; resolves with the process and its namespace's inode. */
async function holdSession(argv: readonly string[]): Promise<{ child: ChildProcess; ino: number }> {
  const child = adopt(spawn(argv[0]!, [...argv.slice(1), ...HOLD_SESSION], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  assert.equal(chunk.toString().trim(), 'ready');
  return { child, ino: statSync(`/proc/${child.pid}/ns/net`).ino };
}

test('a root-made namespace is entered every pass; the others one a pass in turn (budget 0), the rest deferred', async () => {
  const libbpf = bindLibbpf();
  const named = createNetns('turns');
  const held: ChildProcess[] = [];
  const session = openTrace(libbpf, SESSIONS, { iterators: { seed: false, dump: true } });
  try {
    // After the load: the sessions start traced (their storage has a birth).
    const rootMade = await holdSession(['ip', 'netns', 'exec', named.name]);
    held.push(rootMade.child);
    const others: number[] = [];
    for (let i = 0; i < OTHER_MADE; i++) {
      const other = await holdSession(['unshare', '--user', '--map-root-user', '--net']);
      held.push(other.child);
      others.push(other.ino);
    }
    const empty = adopt(spawn('unshare', ['--user', '--map-root-user', '--net', 'sleep', '60'], { stdio: 'ignore' }));
    held.push(empty);

    const turns = new NamespaceTurns(0);
    const seen = new Set<number>();
    let passes = 0;
    let leftOver = Infinity;
    for (; seen.size < OTHER_MADE && passes <= leftOver + 1; passes++) {
      const inos = new Set<number>();
      const pass = namespacePasses(libbpf, session.iterators!.dump!, null, OPEN_SESSION_SIZE, (view, offset) => {
        inos.add(decodeOpenSession(view, offset, 0).netnsIno);
      }, new Uint8Array(1 << 16), turns);
      assert.ok(inos.has(rootMade.ino), `pass ${passes}: the root-made namespace`);
      const entered = others.filter((ino) => inos.has(ino));
      assert.ok(entered.length <= 1, `pass ${passes}: at most one made elsewhere: ${entered.join(', ')}`);
      for (const ino of entered) seen.add(ino);
      const deferred = pass.unreachable.filter((namespace) => namespace.deferred);
      assert.ok(deferred.length >= OTHER_MADE - 1, `pass ${passes}: ${deferred.length} deferred`);
      assert.deepEqual(pass.unreachable.filter((namespace) => !namespace.deferred), []);
      leftOver = Math.min(leftOver, deferred.length + 1);
    }
    assert.deepEqual([...seen].sort(), [...others].sort(), `every one in turn, within ${passes} passes`);

    // At any budget, the empty one is probed, not entered.
    const wide = namespacePasses(libbpf, session.iterators!.dump!, null, OPEN_SESSION_SIZE, () => {}, new Uint8Array(1 << 16), new NamespaceTurns(60_000));
    assert.ok(wide.empty >= 1, `${wide.empty} empty`);
    assert.deepEqual(wide.unreachable, []);
  } finally {
    for (const child of held) child.kill();
    session.close();
    named.remove();
  }
});
