// SPDX-License-Identifier: MIT
// The --metrics endpoint under hostile clients (harness/attacker.ts),
// each beside a normal scrape a second and a steady event load, for
// docs/metrics-endpoint.md:
//   flock /tmp/tcpstates-kernel.lock node dist/bench/metrics-attack.js \
//     [none|pipeline|idle|slowloris ...] [--seconds S] [--rate CONN_PER_S]
//     [--buffer-pages N]
// (after npm run build; root). Per attack: the tracer's RSS before and at
// most, its final "N events read, M lost", the scrapes' latency (each must
// answer within 1 s) and what the endpoint closed.

import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { make } from '../harness/build.js';
import { scrapeEverySecond, scrapeOnce, startAttackers } from '../harness/attacker.js';
import { rssKiB, sleep } from '../harness/system.js';
import { TracerProcess } from '../harness/tracer-process.js';


/** What each attack is, as docs/metrics-endpoint.md reports it. */
const ATTACKS: Record<string, { kind: string; connections: number } | null> = {
  none: null,
  pipeline: { kind: 'pipeline', connections: 80 },
  idle: { kind: 'idle', connections: 20_000 },
  slowloris: { kind: 'slowloris', connections: 2000 },
};

function startLoad(rate: number, seconds: number): ChildProcess {
  const [loadgen] = make('dist/bench/loadgen');
  return spawn(loadgen!, ['--netns', '--rate', String(rate), '--count', String(rate * seconds), '--seconds', String(seconds + 5)], { stdio: 'ignore' });
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

async function runOne(name: string, seconds: number, rate: number, pages: number): Promise<void> {
  const tracer = await TracerProcess.attach('tcpstates', ['--metrics', '0', ...(pages > 0 ? ['--buffer-pages', String(pages)] : [])]);
  const url = `http://127.0.0.1:${tracer.metricsPort}/metrics`;
  await scrapeOnce(url);
  const rssBeforeKiB = rssKiB(tracer.pid);
  let rssMaxKiB = rssBeforeKiB;
  const sampler = setInterval(() => {
    try {
      rssMaxKiB = Math.max(rssMaxKiB, rssKiB(tracer.pid));
    } catch {
      // exited
    }
  }, 100);
  const load = startLoad(rate, seconds);
  const attack = ATTACKS[name];
  const attackers = attack ? startAttackers(attack.kind, tracer.metricsPort, attack.connections, seconds) : [sleep(seconds * 1000).then(() => null)];
  const scrapes = scrapeEverySecond(url, Promise.all(attackers));
  const stats = await Promise.all(attackers);
  const results = await scrapes;
  await new Promise((resolve) => (load.exitCode !== null ? resolve(null) : load.once('close', resolve)));
  const closed = (await scrapeOnce(url)).ok ? await fetchClosed(url) : 'unknown';
  clearInterval(sampler);
  const exit = await tracer.finish();
  const final = tracer.stderrLines.at(-1) ?? '';
  const latencies = results.map((result) => result.latencyMs);
  console.log(
    JSON.stringify({
      attack: name,
      seconds,
      load_conn_per_s: rate,
      buffer_pages: pages > 0 ? pages : 'default',
      rss_before_mb: +(rssBeforeKiB / 1024).toFixed(1),
      rss_max_mb: +(rssMaxKiB / 1024).toFixed(1),
      final,
      exit: exit.code,
      scrapes: results.length,
      scrapes_failed: results.filter((result) => !result.ok).length,
      scrape_ms_p50: +percentile(latencies, 0.5).toFixed(1),
      scrape_ms_max: +Math.max(...latencies).toFixed(1),
      closed,
      attackers: stats,
    }),
  );
}

async function fetchClosed(url: string): Promise<string> {
  return new Promise((resolve) => {
    get(url, { agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve([...body.matchAll(/connections_closed_total\{reason="(\w+)"\} (\d+)/g)].map((m) => `${m[1]}=${m[2]}`).join(' ')));
    }).on('error', () => resolve('unknown'));
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string, fallback: number): number => {
    const at = args.indexOf(name);
    return at < 0 ? fallback : Number(args.splice(at, 2)[1]);
  };
  const seconds = option('--seconds', 20);
  const rate = option('--rate', 5000);
  const pages = option('--buffer-pages', 0);
  for (const name of args.length > 0 ? args : Object.keys(ATTACKS)) await runOne(name, seconds, rate, pages);
}

if (process.argv[1]?.endsWith('metrics-attack.js')) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
