// SPDX-License-Identifier: MIT
// --metrics against a real Prometheus (Debian's prometheus 2.42) on
// loopback: it scrapes tcpstates and tcplife every second while a known
// load runs in a network namespace of the test's own (so -N makes the counts
// exact whatever else the machine does), and PromQL over its HTTP API finds
// the load's transition and session counts exactly, plausible
// histogram_quantile durations, and promtool lints the scrapes.

import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { packageVersion } from '../../src/cli/version.js';
import { procStatFields } from '../../src/sys/proc-stat.js';
import { adopt } from '../../harness/children.js';
import { createNetns } from '../../harness/namespaces.js';
import { runLoad } from '../../harness/peers.js';
import { jsonRows } from '../../harness/rows.js';
import { REPO_ROOT, requireRoot, sleep } from '../../harness/system.js';
import { runTracerToExit, TracerProcess } from '../../harness/tracer-process.js';

requireRoot();

/** A process's start time, seconds since the epoch, as the kernel keeps it. */
function procStartSeconds(pid: number): number {
  const bootSeconds = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))![1]);
  return bootSeconds + Number(procStatFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[19]) / 100;
}

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function fetchText(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  const response = await fetch(url, { headers });
  return { status: response.status, type: response.headers.get('content-type') ?? '', body: await response.text() };
}

/** promtool check metrics on a scrape: its exit code and what it said. */
function promtoolCheck(body: string): { status: number | null; output: string } {
  const result = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

class Prometheus {
  private constructor(
    private readonly child: ChildProcess,
    readonly base: string,
    private readonly log: string[],
  ) {}

  static async start(dir: string, targets: Record<string, number>): Promise<Prometheus> {
    const jobs = Object.entries(targets)
      .map(([job, port]) => `  - job_name: ${job}\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`)
      .join('');
    writeFileSync(`${dir}/prometheus.yml`, `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n${jobs}`);
    const port = await freePort();
    const log: string[] = [];
    const child = adopt(
      spawn(
        'prometheus',
        [`--config.file=${dir}/prometheus.yml`, `--storage.tsdb.path=${dir}/data`, `--web.listen-address=127.0.0.1:${port}`],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      ),
    );
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => log.push(chunk));
    const prometheus = new Prometheus(child, `http://127.0.0.1:${port}`, log);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        if ((await fetch(`${prometheus.base}/-/ready`)).status === 200) return prometheus;
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`prometheus did not become ready: ${log.join('')}`);
      }
      await sleep(200);
    }
  }

  /** An instant query's series (its labels and value). */
  async series(promql: string): Promise<{ metric: Record<string, string>; value: number }[]> {
    const response = await fetch(`${this.base}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await response.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    assert.equal(body.status, 'success', `${promql}: ${body.error}`);
    return body.data.result.map((result) => ({ metric: result.metric, value: Number(result.value[1]) }));
  }

  /** An instant query's single value (NaN when the result is empty). */
  async query(promql: string): Promise<number> {
    const response = await fetch(`${this.base}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await response.json()) as { status: string; data: { result: { value: [number, string] }[] } };
    assert.equal(body.status, 'success', promql);
    const results = body.data.result;
    assert.ok(results.length <= 1, `${promql}: ${JSON.stringify(results)}`);
    return results.length === 0 ? Number.NaN : Number(results[0]!.value[1]);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('close', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

test('Prometheus scrapes tcpstates --metrics and tcplife --metrics and counts a known load exactly', { timeout: 120_000 }, async (t) => {
  const netns = createNetns('prom');
  t.after(netns.remove);
  const dir = mkdtempSync(`${tmpdir()}/tcpstates-prometheus-`);
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const tools: TracerProcess[] = [];
  t.after(async () => {
    for (const tool of tools) await tool.stop();
  });
  const states = await TracerProcess.attach('tcpstates', ['--metrics', '0', '-N', netns.path]);
  tools.push(states);
  const life = await TracerProcess.attach('tcplife', ['--metrics', '127.0.0.1:0', '-N', netns.path]);
  tools.push(life);
  // --json with --metrics: rows too.
  const lifeRows = await TracerProcess.attach('tcplife', ['--metrics', '0', '--json', '-N', netns.path]);
  tools.push(lifeRows);

  const prometheus = await Prometheus.start(dir, { tcpstates: states.metricsPort, tcplife: life.metricsPort });
  t.after(() => prometheus.stop());

  // The load: 20 IPv4 and 5 IPv6 sessions, each held open 20 ms, 1000 bytes
  // from the client; 2 refused connects.
  await runLoad(['sessions', '20', '20', '1000', '127.0.0.1', 'sessions', '5', '20', '1000', '::1', 'refused', 'refused'], { netns });
  await sleep(200); // the tools' next read
  const loadDoneSeconds = Date.now() / 1000;
  // A scrape of each tool after the load.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const scraped = await Promise.all(['tcpstates_events_total', 'tcplife_events_lost_total'].map((name) => prometheus.query(`timestamp(${name})`)));
    if (scraped.every((seconds) => seconds > loadDoneSeconds)) break;
    assert.ok(Date.now() < deadline, `no scrape after the load: ${scraped.join(', ')}`);
    await sleep(250);
  }

  assert.equal(await prometheus.query('up{job="tcpstates"}'), 1);
  assert.equal(await prometheus.query('up{job="tcplife"}'), 1);

  // tcpstates: 10 transitions per connection, 2 per listener, 2 per refused connect.
  const transitions = 25 * 10 + 2 * 2 + 2 * 2;
  assert.equal(await prometheus.query('sum(tcpstates_transitions_total)'), transitions);
  assert.equal(await prometheus.query('tcpstates_events_total'), transitions);
  assert.equal(await prometheus.query('tcpstates_events_lost_total'), 0);
  assert.equal(await prometheus.query('tcpstates_transitions_total{old_state="syn_sent",new_state="established",family="ipv4"}'), 20);
  assert.equal(await prometheus.query('tcpstates_transitions_total{old_state="syn_sent",new_state="established",family="ipv6"}'), 5);
  assert.equal(await prometheus.query('tcpstates_transitions_total{old_state="syn_sent",new_state="close",family="ipv4"}'), 2);
  assert.equal(await prometheus.query('sum(tcpstates_transitions_total{old_state="listen",new_state="syn_recv"})'), 25);
  // First-seen transitions (CLOSE -> SYN_SENT, LISTEN -> SYN_RECV...) have no duration.
  assert.equal(await prometheus.query('tcpstates_state_duration_seconds_count{old_state="established",new_state="fin_wait1"}'), 25);
  assert.ok(Number.isNaN(await prometheus.query('tcpstates_state_duration_seconds_count{old_state="close",new_state="syn_sent"}')));
  // The clients held ESTABLISHED for 20 ms: the median is in (0.01, 0.05] s or above.
  const established = await prometheus.query(
    'histogram_quantile(0.5, sum by (le) (tcpstates_state_duration_seconds_bucket{old_state="established",new_state="fin_wait1"}))',
  );
  assert.ok(established >= 0.01 && established <= 60, `median ESTABLISHED time ${established} s`);

  // tcplife: the refused connects are client sessions too.
  assert.equal(await prometheus.query('tcplife_sessions_total{family="ipv4",role="client"}'), 22);
  assert.equal(await prometheus.query('tcplife_sessions_total{family="ipv4",role="server"}'), 20);
  assert.equal(await prometheus.query('tcplife_sessions_total{family="ipv6",role="client"}'), 5);
  assert.equal(await prometheus.query('tcplife_sessions_total{family="ipv6",role="server"}'), 5);
  assert.equal(await prometheus.query('tcplife_connect_failures_total{reason="econnrefused"}'), 2);
  assert.equal(await prometheus.query('sum(tcplife_connect_failures_total)'), 2);
  assert.equal(await prometheus.query('tcplife_events_lost_total'), 0);
  assert.equal(await prometheus.query('sum(tcplife_session_duration_seconds_count)'), 52);
  // Payload 1000 bytes per session, plus at most the SYN and FIN counted by bytes_acked.
  const sent = await prometheus.query('tcplife_sent_bytes_total{family="ipv4",role="client"}');
  assert.ok(sent >= 20_000 && sent <= 20 * 1002, `sent ${sent}`);
  const received = await prometheus.query('tcplife_received_bytes_total{family="ipv4",role="server"}');
  assert.ok(received >= 20_000 && received <= 20 * 1002, `received ${received}`);
  const lifespan = await prometheus.query(
    'histogram_quantile(0.5, sum by (le) (tcplife_session_duration_seconds_bucket{family="ipv4",role="server"}))',
  );
  assert.ok(lifespan >= 0.01 && lifespan <= 60, `median server lifespan ${lifespan} s`);
  assert.equal(await prometheus.query('tcplife_events_total'), 52);

  // What a fleet watches the tracer by: its version, its misses (none
  // here), its own process.
  const version = packageVersion();
  for (const [tool, pid] of [['tcpstates', states.pid], ['tcplife', life.pid]] as const) {
    assert.equal(await prometheus.query(`${tool}_build_info{version="${version}"}`), 1);
    assert.deepEqual(
      (await prometheus.series(`${tool}_misses_total`)).map((series) => [series.metric['kind'], series.value]).sort(),
      [['listening_port_untracked', 0], ['sample_undecodable', 0], ['socket_io_run_skipped', 0], ['socket_untracked', 0], ['state_change_run_skipped', 0]],
    );
    const job = `{job="${tool}"}`;
    const started = procStartSeconds(pid);
    assert.ok(Math.abs((await prometheus.query(`process_start_time_seconds${job}`)) - started) < 0.02, `${tool} start time`);
    const rss = await prometheus.query(`process_resident_memory_bytes${job}`);
    assert.ok(rss > 20e6 && rss < 200e6, `${tool} RSS ${rss}`);
    const cpu = await prometheus.query(`process_cpu_seconds_total${job}`);
    assert.ok(cpu > 0 && cpu < 30, `${tool} CPU ${cpu}`);
    const fds = await prometheus.query(`process_open_fds${job}`);
    assert.ok(fds >= 3 && fds <= openFds(pid) + 16, `${tool} open fds ${fds}`);
  }

  // The Grafana dashboard's queries (its variables set to all) run, and each
  // finds its series: the load made every kind of event it shows (more
  // than 0 a second within the last minute), and lost or missed none. A
  // rate needs the series to exist before it grows: a second load, then
  // three scrapes.
  await runLoad(['sessions', '5', '20', '1000', '127.0.0.1', 'refused'], { netns });
  await sleep(3500);
  const dashboard = JSON.parse(readFileSync(`${REPO_ROOT}deploy/grafana/tcpstates.json`, 'utf8')) as {
    panels: { title: string; type: string; targets?: { expr: string }[] }[];
  };
  for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
    for (const { expr } of panel.targets!) {
      const promql = expr.replaceAll('$__rate_interval', '1m').replaceAll('$job', '.*').replaceAll('$instance', '.*');
      const found = await prometheus.series(promql);
      assert.ok(found.length > 0, `${panel.title}: ${promql} finds series`);
      const values = found.map((series) => series.value);
      if (/lost|misses/.test(promql)) assert.ok(values.every((value) => value === 0), `${panel.title}: ${values}`);
      else assert.ok(values.some((value) => value > 0), `${panel.title}: ${promql}: ${values}`);
    }
  }
  // The alert rules evaluate here too, and none fires on this healthy run.
  const rules = readFileSync(`${REPO_ROOT}deploy/prometheus/tcpstates.rules.yml`, 'utf8');
  const exprs = [...rules.matchAll(/expr: (?:\|\n((?: {10}.*\n)+)|(.*)\n)/g)].map((match) => (match[1] ?? match[2]!).trim());
  assert.equal(exprs.length, 4);
  for (const expr of exprs) assert.deepEqual(await prometheus.series(expr), [], expr);

  // promtool lints both tools' scrapes; OpenMetrics when asked for.
  for (const tool of [states, life]) {
    const scrape = await fetchText(`http://127.0.0.1:${tool.metricsPort}/metrics`);
    assert.equal(scrape.status, 200);
    assert.equal(scrape.type, 'text/plain; version=0.0.4; charset=utf-8');
    const lint = promtoolCheck(scrape.body);
    assert.equal(lint.status, 0, lint.output);
    const open = await fetchText(`http://127.0.0.1:${tool.metricsPort}/metrics`, { Accept: 'application/openmetrics-text; version=1.0.0' });
    assert.equal(open.type, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    assert.ok(open.body.endsWith('# EOF\n'));
    const landing = await fetchText(`http://127.0.0.1:${tool.metricsPort}/`);
    assert.equal(landing.status, 200);
    assert.match(landing.body, /<a href="\/metrics">/);
    assert.equal((await fetchText(`http://127.0.0.1:${tool.metricsPort}/index.html`)).status, 404);
  }

  // --metrics alone prints no rows; with --json it prints them too.
  for (const tool of tools.splice(0)) assert.equal((await tool.stop()).code, 0);
  assert.deepEqual(states.stdoutLines.filter((line) => line !== ''), []);
  assert.deepEqual(life.stdoutLines.filter((line) => line !== ''), []);
  // Both loads: 52 sessions, then 5 more (each end a row) and a refused connect.
  assert.equal(jsonRows(lifeRows.stdoutLines).length, 52 + 5 * 2 + 1);
  const secondTransitions = 5 * 10 + 2 + 2;
  assert.match(states.stderrLines.at(-1) ?? '', new RegExp(`^tcpstates: ${transitions + secondTransitions} events read, 0 lost$`));
});

test('--metrics: a port in use fails before tracing, one line, exit 1; a bad address exits 2', async () => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const { port } = holder.address() as { port: number };
  try {
    const busy = await runTracerToExit(['--metrics', String(port)], process.env, 15_000, { tool: 'tcplife' });
    assert.equal(busy.code, 1);
    assert.equal(busy.stderrText, `tcplife: --metrics: cannot listen on 127.0.0.1:${port}: EADDRINUSE\n`);
    assert.equal(busy.stdoutText, '');
  } finally {
    holder.close();
  }
  const bad = await runTracerToExit(['--metrics', 'nine']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderrText, 'tcpstates: --metrics: invalid address "nine": expected [HOST:]PORT\n');
});
