// SPDX-License-Identifier: MIT
// The deployment files and documents agree with the code: each tool's
// metrics port (src/metrics/ports.ts) wherever an address is given, no
// other exporter's port, install lines that name the tarball of this
// version and never an npm registry name (after removing scripts/setup's
// man pages, which npm would not replace), and a Grafana dashboard that
// only queries metrics the tools export.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { ZERO_COUNTERS } from '../../src/decode/counters.js';
import { packageVersion } from '../../src/cli/version.js';
import { DEFAULT_METRICS_PORTS } from '../../src/metrics/ports.js';
import { TcplifeMetrics, TcpstatesMetrics } from '../../src/metrics/tcp-metrics.js';
import { ToolHealth } from '../../src/metrics/tool-health.js';
import { REPO_ROOT } from '../../harness/system.js';

function read(name: string): string {
  return readFileSync(`${REPO_ROOT}${name}`, 'utf8');
}

function filesUnder(directory: string): string[] {
  return readdirSync(`${REPO_ROOT}${directory}`, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => `${entry.parentPath.slice(REPO_ROOT.length)}/${entry.name}`);
}

const DOCUMENTS = ['README.md', 'docs/deploy.md', 'man/tcpstates.8', 'man/tcplife.8', 'Dockerfile', ...filesUnder('deploy'), ...filesUnder('src')];

test('no address on node_exporter\'s 9100 or the old 9101, anywhere', () => {
  for (const name of DOCUMENTS) assert.doesNotMatch(read(name), /:910[01]\b|--metrics 910[01]\b|port: 910[01]\b/, name);
});

test('each tool\'s port where the deployment files give one', () => {
  const { tcpstates, tcplife } = DEFAULT_METRICS_PORTS;
  const expectations: [string, RegExp[]][] = [
    ['Dockerfile', [new RegExp(`EXPOSE ${tcpstates} ${tcplife}`), new RegExp(`CMD \\["--metrics", "0\\.0\\.0\\.0:${tcpstates}"\\]`), new RegExp(`0\\.0\\.0\\.0:${tcplife}`)]],
    ['deploy/prometheus/prometheus.yml', [new RegExp(`127\\.0\\.0\\.1:${tcpstates}'`), new RegExp(`127\\.0\\.0\\.1:${tcplife}'`)]],
    ['deploy/kubernetes/daemonset.yaml', [new RegExp(`containerPort: ${tcpstates}`), new RegExp(`containerPort: ${tcplife}`)]],
    ['deploy/systemd/tcpstates-metrics@.service', [new RegExp(`127\\.0\\.0\\.1:${tcpstates} by default`), new RegExp(`127\\.0\\.0\\.1:${tcplife} by default`)]],
    ['docs/deploy.md', [new RegExp(`\\*\\*${tcpstates} for tcpstates, ${tcplife} for\\s+tcplife\\*\\*`)]],
    ['README.md', [new RegExp(`${tcpstates} \\(tcpstates\\) and ${tcplife} \\(tcplife\\)`)]],
    ['man/tcpstates.8', [new RegExp(`127\\.0\\.0\\.1:${tcpstates}, the tool's own port`)]],
    ['man/tcplife.8', [new RegExp(`127\\.0\\.0\\.1:${tcplife}, the tool's own port`)]],
    ['src/cli/tcpstates.ts', [new RegExp(`127\\.0\\.0\\.1:${tcpstates}/metrics`)]],
    ['src/cli/tcplife.ts', [new RegExp(`127\\.0\\.0\\.1:${tcplife}/metrics`)]],
  ];
  for (const [name, patterns] of expectations) for (const pattern of patterns) assert.match(read(name), pattern, name);
});

test('install lines: the tarball of this version into /usr/local, never a registry name', () => {
  const tarball = `tcpstates-${packageVersion()}.tgz`;
  for (const name of ['README.md', 'docs/deploy.md', 'man/tcpstates.8', 'man/tcplife.8']) {
    const text = read(name).replace(/\\-/g, '-').replace(/\\f[BIRP]/g, '');
    assert.doesNotMatch(text, /npm install -g tcpstates\b|npx (-p )?tcpstates\b|npm i -g tcpstates\b/, name);
    for (const line of text.split('\n').filter((l) => /sudo npm install -g/.test(l))) {
      assert.ok(line.includes(`--prefix /usr/local ./${tarball}`), `${name}: ${line}`);
    }
    assert.ok(text.includes(tarball), `${name} names ${tarball}`);
  }
  const manifest = JSON.parse(read('package.json')) as { repository: { url: string }; bugs: { url: string }; homepage: string; files: string[] };
  assert.match(manifest.repository.url, /^git\+https:\/\/.+\.git$/);
  assert.match(manifest.bugs.url, /^https:\/\/.+\/issues$/);
  assert.match(manifest.homepage, /^https:\/\//);
  for (const file of ['dist/bpf/probe.bpf.o', 'docs/deploy.md']) assert.ok(manifest.files.includes(file), `the package ships ${file}`);
});

test('the documented package install works after scripts/setup: its man pages (plain files npm will not replace) are removed first', () => {
  for (const name of ['README.md', 'docs/deploy.md']) {
    const blocks = [...read(name).matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!.split('\n').map((line) => line.trim()));
    const installs = blocks.filter((lines) => lines.some((line) => line.startsWith('sudo npm install -g')));
    assert.ok(installs.length > 0, `${name} has an install block`);
    for (const lines of installs) {
      const install = lines.findIndex((line) => line.startsWith('sudo npm install -g'));
      const remove = lines.findIndex((line) => /^sudo scripts\/install-man --remove(\s|$)/.test(line));
      assert.ok(remove >= 0 && remove < install, `${name}: scripts/install-man --remove comes before npm install -g:\n${lines.join('\n')}`);
    }
  }
});

test('the package ships every deployment file its docs/deploy.md and unit tell the user to install', () => {
  const packed = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } });
  assert.equal(packed.status, 0, packed.stderr);
  const paths = new Set((JSON.parse(packed.stdout) as { files: { path: string }[] }[])[0]!.files.map((file) => file.path));
  const deployFiles = filesUnder('deploy');
  assert.ok(deployFiles.length >= 9, deployFiles.join(' '));
  for (const file of [...deployFiles, 'docs/deploy.md']) assert.ok(paths.has(file), `the tarball has ${file}`);
});

test('npm pack builds the shipped output from scratch: prepack removes dist/src before the build', () => {
  // A module whose source was deleted or renamed would otherwise stay in
  // dist/src and ship; tsc never removes what it no longer emits.
  const manifest = JSON.parse(read('package.json')) as { scripts: Record<string, string>; files: string[] };
  assert.equal(manifest.scripts['prepack'], 'rm -rf dist/src && npm run build');
  assert.ok(manifest.files.includes('dist/src/'));
});

/** The YAML documents of the file or of every .yaml file of the directory `path` (relative to the repository). */
function manifests(path: string): { apiVersion: string; kind: string }[] {
  const files = path.endsWith('.yaml') ? [path] : filesUnder(path.replace(/\/$/, '')).filter((name) => name.endsWith('.yaml'));
  return files.flatMap((name) => parseAllDocuments(read(name)).map((document) => document.toJS() as { apiVersion: string; kind: string }));
}

test('every documented kubectl apply works on a cluster without the Prometheus Operator, but the PodMonitor\'s own', () => {
  const commands = new Set<string>();
  for (const name of ['README.md', 'docs/deploy.md', ...filesUnder('deploy/kubernetes')]) {
    for (const match of read(name).matchAll(/kubectl apply -f\s+(\S+)/g)) commands.add(match[1]!.replace(/[`.,)]+$/, ''));
  }
  const applied: string[] = [];
  for (const path of commands) {
    const objects = manifests(path);
    assert.ok(objects.length > 0, path);
    const operators = objects.filter((object) => object.apiVersion.startsWith('monitoring.coreos.com/'));
    assert.ok(operators.length === 0 || operators.length === objects.length, `${path} mixes the operator's kinds with the API's: ${objects.map((object) => object.kind).join(', ')}`);
    applied.push(...objects.map((object) => object.kind));
  }
  assert.deepEqual(applied.sort(), ['DaemonSet', 'Namespace', 'PodMonitor']);
  // And the doc says the directory at once is what fails.
  assert.match(read('docs/deploy.md').replace(/\s+/g, ' '), /`kubectl apply` of both at once \(`-f deploy\/kubernetes\/`\) exits with an error/);
});

test('the DaemonSet runs where its single-architecture Linux image can: nodeSelector os and arch', () => {
  const daemonSet = manifests('deploy/kubernetes/daemonset.yaml').find((object) => object.kind === 'DaemonSet') as unknown as {
    spec: { template: { spec: { nodeSelector?: Record<string, string> } } };
  };
  assert.deepEqual(daemonSet.spec.template.spec.nodeSelector, { 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' });
});

/** Every metric family the tools serve, from their own renderers. */
function exportedFamilies(): Set<string> {
  const names = new Set<string>(['up']);
  const states = new TcpstatesMetrics();
  states.add({ oldState: 2, newState: 1, family: 2, deltaNs: 1000 });
  const health = (tool: string) => (exposition: Parameters<ToolHealth['describe']>[0]) => {
    const toolHealth = new ToolHealth(tool, '0', () => ({ cpuSeconds: 0, residentBytes: 0, virtualBytes: 0, startTimeSeconds: 0, openFds: 0, maxFds: 1 }));
    toolHealth.update(ZERO_COUNTERS, 0);
    toolHealth.describe(exposition);
  };
  const text = states.render('prometheus', health('tcpstates')) + new TcplifeMetrics().render('prometheus', health('tcplife'));
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(match[1]!);
    if (match[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${match[1]}${suffix}`);
  }
  return names;
}

test('the Grafana dashboard: valid JSON, unique panel ids, only metrics the tools export', () => {
  const dashboard = JSON.parse(read('deploy/grafana/tcpstates.json')) as {
    uid: string;
    panels: { id: number; type: string; targets?: { expr: string; refId: string }[] }[];
  };
  const ids = dashboard.panels.map((panel) => panel.id);
  assert.equal(new Set(ids).size, ids.length);
  const families = exportedFamilies();
  const functions = new Set(['sum', 'rate', 'histogram_quantile', 'count', 'or']);
  for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
    assert.ok(panel.targets!.length > 0);
    for (const { expr } of panel.targets!) {
      const selectors = expr.replace(/\{[^}]*\}|"[^"]*"|\[[^\]]*\]|\bby \([^)]*\)/g, ' ');
      const named = [...expr.matchAll(/__name__=~"([^"]+)"/g)].flatMap((match) => match[1]!.replace(/[()]/g, '').split('|'));
      const words = [...selectors.matchAll(/\b[a-z_][a-z0-9_]*\b/g)].map((match) => match[0]).filter((word) => !functions.has(word));
      for (const name of [...words, ...named.filter((name) => !name.includes('tcp(states|life)'))]) {
        if (name.includes('(')) continue;
        assert.ok(families.has(name), `${expr}: ${name} is a metric the tools export`);
      }
    }
  }
});
