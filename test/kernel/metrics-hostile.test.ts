// SPDX-License-Identifier: MIT
// The --metrics endpoint under hostile local clients (harness/attacker.ts):
// 80 clients writing pipelined bursts and never reading, 20,000 idle
// connections (in 4 processes: RLIMIT_NOFILE), 2,000 slowloris connections.
// Beside each, a normal scrape every second must answer within 1 s; the
// tracer must stay under the shipped unit's MemoryMax, hold no more
// descriptors than its connection cap allows, and read every event of the
// attack's own connections (the final line says 0 lost); the exposition
// counts what the limits closed.

import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectionCap, ENDPOINT_LIMITS } from '../../src/metrics/server.js';
import { scrapeEverySecond, startAttackers, type AttackKind } from '../../harness/attacker.js';
import { REPO_ROOT, requireRoot, rssKiB } from '../../harness/system.js';
import { TracerProcess } from '../../harness/tracer-process.js';

requireRoot();

/** Long enough for 20,000 connects whose SYNs the full listen backlog dropped once (1 s to resend). */
const ATTACK_SECONDS = 6;
/** Descriptors of the tracer beyond its connections: stdio, rings, maps, node's own. */
const TRACER_FILES_MAX = 128;

/** The shipped unit's MemoryMax in KiB. */
function unitMemoryMaxKiB(): number {
  const unit = readFileSync(join(REPO_ROOT, 'deploy', 'systemd', 'tcpstates-metrics@.service'), 'utf8');
  const match = /^MemoryMax=(\d+)M$/m.exec(unit);
  assert.ok(match, 'no MemoryMax=<n>M in the unit');
  return Number(match[1]) * 1024;
}

function fetchBody(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

async function underAttack(kind: AttackKind, connections: number, openFiles: number) {
  const tracer = await TracerProcess.attach('tcpstates', ['--metrics', '0'], { wrapper: ['prlimit', `--nofile=${openFiles}`] });
  try {
    const url = `http://127.0.0.1:${tracer.metricsPort}/metrics`;
    let rssMaxKiB = rssKiB(tracer.pid);
    let filesMax = 0;
    const sampler = setInterval(() => {
      try {
        rssMaxKiB = Math.max(rssMaxKiB, rssKiB(tracer.pid));
        filesMax = Math.max(filesMax, readdirSync(`/proc/${tracer.pid}/fd`).length);
      } catch {
        // exited: the assertions below say so
      }
    }, 50);
    const attackers = startAttackers(kind, tracer.metricsPort, connections, ATTACK_SECONDS);
    const scrapes = await scrapeEverySecond(url, Promise.all(attackers));
    const stats = await Promise.all(attackers);
    clearInterval(sampler);
    const exposition = await fetchBody(url);
    const exit = await tracer.finish();
    return { scrapes, stats, rssMaxKiB, filesMax, exposition, exit };
  } finally {
    await tracer.stop();
  }
}

for (const [kind, connections, reason, openFiles] of [
  ['pipeline', 80, 'pipelined', 20_000],
  // Under a common default soft limit: the cap follows it.
  ['idle', 20_000, 'connection_limit', 1024],
  ['slowloris', 2000, 'connection_limit', 20_000],
] as const) {
  test(`--metrics under ${connections} ${kind} clients: scrapes answer within 1 s, memory and descriptors bounded, no event lost`, { timeout: 60_000 }, async () => {
    const result = await underAttack(kind, connections, openFiles);
    const connected = result.stats.reduce((sum, stats) => sum + stats.connected, 0);
    assert.ok(connected >= connections, `only ${connected} attack connections`);
    assert.ok(result.scrapes.length >= ATTACK_SECONDS - 1, `${result.scrapes.length} scrapes`);
    const late = result.scrapes.filter((scrape) => !scrape.ok).map((scrape) => Math.round(scrape.latencyMs));
    assert.deepEqual(late, [], 'scrapes that failed or took over 1 s (ms)');
    assert.ok(result.rssMaxKiB < unitMemoryMaxKiB(), `peak RSS ${result.rssMaxKiB} KiB`);
    const cap = connectionCap(ENDPOINT_LIMITS, openFiles);
    assert.ok(result.filesMax <= cap + TRACER_FILES_MAX, `${result.filesMax} descriptors open (cap ${cap})`);
    const closed = new RegExp(`^tcpstates_metrics_connections_closed_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(result.exposition);
    assert.ok(closed && Number(closed[1]) > 0, `nothing closed for ${reason}:\n${result.exposition.slice(-600)}`);
    assert.equal(result.exit.code, 0);
    assert.match(result.exit.stderr.at(-1) ?? '', /^tcpstates: \d+ events read, 0 lost$/);
  });
}
