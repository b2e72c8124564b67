// SPDX-License-Identifier: MIT
// deploy/prometheus/: promtool checks the scrape configuration and the
// alert rules, and runs the rules' unit tests (tcpstates.rules.test.yml:
// each alert fires on the series that should make it, and only then).

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DEFAULT_METRICS_PORTS } from '../../src/metrics/ports.js';
import { REPO_ROOT } from '../../harness/system.js';

const DIR = `${REPO_ROOT}deploy/prometheus`;

function promtool(...args: string[]): string {
  const result = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8' });
  assert.equal(result.error, undefined, 'promtool is installed (scripts/setup-tests installs prometheus)');
  assert.equal(result.status, 0, `promtool ${args.join(' ')}:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

test('promtool check rules and check config pass', () => {
  assert.match(promtool('check', 'rules', 'tcpstates.rules.yml'), /SUCCESS: 4 rules found/);
  assert.match(promtool('check', 'config', 'prometheus.yml'), /SUCCESS: 1 rule files found/);
});

test('promtool test rules: events lost, kernel misses, tracer down, tracer CPU', () => {
  assert.match(promtool('test', 'rules', 'tcpstates.rules.test.yml'), /SUCCESS/);
  const tests = readFileSync(`${DIR}/tcpstates.rules.test.yml`, 'utf8');
  for (const alert of ['TcpTracerEventsLost', 'TcpTracerKernelMisses', 'TcpTracerDown', 'TcpTracerHighCpu']) {
    assert.match(tests, new RegExp(`alertname: ${alert}\\n\\s+eval_time: \\S+\\n\\s+exp_alerts:\\n\\s+- exp_labels`), `${alert} is tested firing`);
    assert.match(tests, new RegExp(`alertname: ${alert}\\n\\s+eval_time: \\S+\\n\\s+exp_alerts: \\[\\]`), `${alert} is tested not firing`);
  }
});

test('the scrape configuration targets each tool\'s own port', () => {
  const config = readFileSync(`${DIR}/prometheus.yml`, 'utf8');
  for (const [tool, port] of Object.entries(DEFAULT_METRICS_PORTS)) {
    assert.match(config, new RegExp(`- job_name: ${tool}\\n\\s+static_configs:\\n\\s+- targets: \\['127\\.0\\.0\\.1:${port}'\\]`));
  }
});
