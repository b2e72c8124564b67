// SPDX-License-Identifier: MIT
// deploy/kubernetes/, offline: every object validated against the
// Kubernetes API's schemas (the kubernetes-models package, generated from
// the OpenAPI specification; the Prometheus Operator's CRD schemas for the
// PodMonitor), then what the tracers need checked field by field: the
// host's PIDs, exactly the capabilities, read-only cgroup2 and BTF mounts,
// the metrics ports and their probes, resources, scrape annotations, and a
// PodMonitor that names the containers' ports.

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_METRICS_PORTS } from '../../src/metrics/ports.js';
import { REPO_ROOT } from '../../harness/system.js';

type Json = Record<string, unknown>;

/** The YAML documents of a file, as plain objects. */
function documents(name: string): Json[] {
  return parseAllDocuments(readFileSync(`${REPO_ROOT}deploy/kubernetes/${name}`, 'utf8')).map((document) => {
    assert.deepEqual(document.errors, [], `${name}: YAML errors`);
    return document.toJS() as Json;
  });
}

/** Validates `object` against its kind's schema; throws what the schema says. */
function validate(object: Json): void {
  const kinds: Record<string, (json: Json) => { validate(): void }> = {
    Namespace: (json) => new Namespace(json as ConstructorParameters<typeof Namespace>[0]),
    DaemonSet: (json) => new DaemonSet(json as ConstructorParameters<typeof DaemonSet>[0]),
    PodMonitor: (json) => new PodMonitor(json as ConstructorParameters<typeof PodMonitor>[0]),
  };
  const make = kinds[object['kind'] as string];
  assert.ok(make !== undefined, `a known kind: ${String(object['kind'])}`);
  make(object).validate();
}

const objects = [...documents('daemonset.yaml'), ...documents('podmonitor.yaml')];
const daemonSet = new DaemonSet(objects.find((object) => object['kind'] === 'DaemonSet') as ConstructorParameters<typeof DaemonSet>[0]);
const podMonitor = objects.find((object) => object['kind'] === 'PodMonitor') as Json & { spec: { podMetricsEndpoints: { port: string; path: string }[]; selector: unknown } };

test('every object is valid against its schema', () => {
  assert.deepEqual(objects.map((object) => object['kind']), ['Namespace', 'DaemonSet', 'PodMonitor']);
  for (const object of objects) validate(object);
});

test('the validator rejects what the API would (so that the test can fail)', () => {
  const broken = structuredClone(objects[1]!) as Json & { spec: { template: { spec: { containers: Json[] } } } };
  broken.spec.template.spec.containers[0]!['securityContext'] = { capabilities: { add: 'BPF' } };
  assert.throws(() => validate(broken), /capabilities\/add must be array/);
  const nameless = structuredClone(objects[1]!) as Json & { spec: { template: { spec: { containers: Json[] } } } };
  delete nameless.spec.template.spec.containers[1]!['name'];
  assert.throws(() => validate(nameless), /containers\/1 must have required property name/);
});

test('a tracer per tool on every node: host PIDs, exactly its capabilities, read-only cgroup2 and BTF, its own port', () => {
  const pod = daemonSet.spec!.template.spec!;
  assert.equal(pod.hostPID, true);
  assert.notEqual(pod.hostNetwork, true);
  assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
  const volumes = new Map(pod.volumes!.map((volume) => [volume.name, volume.hostPath?.path]));
  assert.deepEqual(Object.fromEntries(volumes), { cgroup: '/sys/fs/cgroup', btf: '/sys/kernel/btf' });
  assert.deepEqual(
    pod.containers.map((container) => container.name),
    Object.keys(DEFAULT_METRICS_PORTS),
  );
  for (const container of pod.containers) {
    const tool = container.name as keyof typeof DEFAULT_METRICS_PORTS;
    const port = DEFAULT_METRICS_PORTS[tool];
    assert.deepEqual(container.command ?? ['/opt/tcpstates/bin/tcpstates'], [`/opt/tcpstates/bin/${tool}`]);
    assert.deepEqual(container.args, ['--metrics', `0.0.0.0:${port}`]);
    assert.deepEqual(container.ports, [{ name: tool, containerPort: port, protocol: 'TCP' }]);
    const security = container.securityContext!;
    assert.deepEqual(security.capabilities, { drop: ['ALL'], add: ['BPF', 'PERFMON', 'IPC_LOCK', 'SYS_NICE'] });
    assert.equal(security.privileged, false);
    assert.equal(security.allowPrivilegeEscalation, false);
    assert.equal(security.readOnlyRootFilesystem, true);
    assert.deepEqual(
      container.volumeMounts,
      [
        { name: 'cgroup', mountPath: '/sys/fs/cgroup', readOnly: true },
        { name: 'btf', mountPath: '/sys/kernel/btf', readOnly: true },
      ],
    );
    for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
      assert.deepEqual(probe?.httpGet, { path: '/metrics', port: tool });
    }
    // Sized from the measurements in docs/deploy.md: a peak RSS of 67 MB.
    const { requests, limits } = container.resources!;
    assert.deepEqual({ requests, limits }, { requests: { cpu: '50m', memory: '96Mi' }, limits: { cpu: '1', memory: '192Mi' } });
  }
  const annotations = daemonSet.spec!.template.metadata!.annotations!;
  assert.deepEqual(annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(DEFAULT_METRICS_PORTS.tcpstates), 'prometheus.io/path': '/metrics' });
});

test('the PodMonitor selects the DaemonSet\'s pods and scrapes both tools\' ports', () => {
  assert.deepEqual(podMonitor.spec.selector, { matchLabels: daemonSet.spec!.selector.matchLabels });
  assert.deepEqual(
    podMonitor.spec.podMetricsEndpoints.map((endpoint) => [endpoint.port, endpoint.path]),
    Object.keys(DEFAULT_METRICS_PORTS).map((tool) => [tool, '/metrics']),
  );
});
