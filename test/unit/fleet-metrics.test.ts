// SPDX-License-Identifier: MIT
// The metrics a fleet watches the tracer by (src/metrics/tool-health.ts,
// process-metrics.ts, landing.ts): exact exposition text from known
// counters, the /proc parsers on real lines, and the landing page on `/`.

import { strict as assert } from 'node:assert';
import { request } from 'node:http';
import { describe, test } from 'node:test';
import { ZERO_COUNTERS } from '../../src/decode/counters.js';
import { Exposition } from '../../src/metrics/exposition.js';
import { landingPage } from '../../src/metrics/landing.js';
import { parseBootTimeSeconds, parseMaxFds, parseProcessStat, readProcessStats, type ProcessStats } from '../../src/metrics/process-metrics.js';
import { startMetricsServer } from '../../src/metrics/server.js';
import { TcplifeMetrics } from '../../src/metrics/tcp-metrics.js';
import { ToolHealth } from '../../src/metrics/tool-health.js';

const STATS: ProcessStats = {
  cpuSeconds: 1.25,
  residentBytes: 61_000_000,
  virtualBytes: 1_100_000_000,
  startTimeSeconds: 1_796_000_000.42,
  openFds: 23,
  maxFds: 1_048_576,
};

describe('the tracer\'s own metrics', () => {
  test('build info, every miss reported on stderr, and process_*: exact text', () => {
    const health = new ToolHealth('tcplife', '0.1.0', () => STATS);
    health.update({ ...ZERO_COUNTERS, recursionMisses: 7, transitionMisses: 2, trackingFailed: 3, listenerFailed: 4 }, 5);
    const exposition = new Exposition('prometheus');
    health.describe(exposition);
    assert.equal(
      exposition.end(),
      `# HELP tcplife_build_info A metric with a constant '1' value labeled by the version of tcplife.
# TYPE tcplife_build_info gauge
tcplife_build_info{version="0.1.0"} 1
# HELP tcplife_misses_total What the tool reports missing on stderr, by kind (see tool-health.ts).
# TYPE tcplife_misses_total counter
tcplife_misses_total{kind="state_change_run_skipped"} 2
tcplife_misses_total{kind="socket_io_run_skipped"} 5
tcplife_misses_total{kind="socket_untracked"} 3
tcplife_misses_total{kind="listening_port_untracked"} 4
tcplife_misses_total{kind="sample_undecodable"} 5
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.25
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 61000000
# HELP process_virtual_memory_bytes Virtual memory size in bytes.
# TYPE process_virtual_memory_bytes gauge
process_virtual_memory_bytes 1100000000
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1796000000.42
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 23
# HELP process_max_fds Maximum number of open file descriptors.
# TYPE process_max_fds gauge
process_max_fds 1048576
`,
    );
  });

  test('tcplife counts its events, and the health families come before the OpenMetrics end', () => {
    const metrics = new TcplifeMetrics();
    metrics.counts.events = 52;
    const health = new ToolHealth('tcplife', '0.1.0', () => ({ ...STATS, maxFds: null }));
    const text = metrics.render('openmetrics', (exposition) => health.describe(exposition));
    assert.match(text, /^tcplife_events_total 52$/m);
    assert.match(text, /^# TYPE tcplife_build_info gauge\ntcplife_build_info\{version="0\.1\.0"\} 1$/m);
    assert.match(text, /^# TYPE process_cpu_seconds counter\nprocess_cpu_seconds_total 1\.25$/m);
    assert.doesNotMatch(text, /process_max_fds/);
    assert.ok(text.endsWith('process_open_fds 23\n# EOF\n'));
  });

  test('/proc parsers on real lines (a comm with spaces and parentheses)', () => {
    assert.equal(parseBootTimeSeconds('cpu  1 2 3\nintr 5\nctxt 9\nbtime 1796000000\nprocesses 12\n'), 1_796_000_000);
    assert.equal(parseBootTimeSeconds('cpu 1\n'), null);
    const stat =
      '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 5000 0 0 0 120 30 0 0 20 0 11 0 123456 1100000000 15000 18446744073709551615 1 1 0 0 0 0 0 16781312 134234626 0 0 0 17 1 0 0 0 0 0';
    assert.deepEqual(parseProcessStat(stat, 1_796_000_000), { startTimeSeconds: 1_796_000_000 + 1234.56, virtualBytes: 1_100_000_000 });
    const limits =
      'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 524288               files     \n';
    assert.equal(parseMaxFds(limits), 1024);
    assert.equal(parseMaxFds(limits.replace('1024 ', 'unlimited ')), null);
  });

  test('this process, read: start time at most btime\'s truncated second (and node\'s startup) before node\'s own clock', () => {
    const stats = readProcessStats();
    const started = Date.now() / 1000 - process.uptime();
    // btime is whole seconds (the boot's fraction dropped: up to 1 s early),
    // starttime whole ticks, and the kernel stamps the fork, before node
    // starts its clock (a few ms; up to a second allowed on a busy machine).
    // Never later, but for Date.now()'s whole milliseconds.
    const early = started - stats.startTimeSeconds;
    assert.ok(early > -0.01 && early < 2, `read ${stats.startTimeSeconds}, node's clock started at ${started}: ${early} s before`);
    assert.ok(stats.residentBytes > 10e6 && stats.openFds >= 3 && stats.cpuSeconds > 0);
  });
});

function get(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), body }));
    })
      .on('error', reject)
      .end();
  });
}

test('`/` is a landing page that links /metrics; other paths stay 404', async () => {
  const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, () => '', { landing: landingPage('tcpstates', '0.1.0') });
  try {
    const home = await get(`http://127.0.0.1:${server.port}/`);
    assert.equal(home.status, 200);
    assert.equal(home.type, 'text/html; charset=utf-8');
    assert.match(home.body, /<h1>tcpstates 0\.1\.0<\/h1>/);
    assert.match(home.body, /<a href="\/metrics">Metrics<\/a>/);
    assert.equal((await get(`http://127.0.0.1:${server.port}/?x=1`)).status, 200);
    assert.equal((await get(`http://127.0.0.1:${server.port}/index.html`)).status, 404);
  } finally {
    await server.close();
  }
});
