// SPDX-License-Identifier: MIT
// The tools' default metrics ports: `--metrics` without a value listens on
// 127.0.0.1 at these. Outside every range on Prometheus' "default port
// allocations" list (9100-9999 is full, new exporters are given 10000 and
// up in order), below Linux's ephemeral range (32768-60999) and
// Kubernetes' NodePort range (30000-32767): docs/deploy.md says why.
// The deployment files (deploy/, the Dockerfile) use the same numbers;
// test/unit/deploy-files.test.ts holds them to it.

export const DEFAULT_METRICS_PORTS = { tcpstates: 19440, tcplife: 19441 } as const;

export type MetricsTool = keyof typeof DEFAULT_METRICS_PORTS;

/** The default port of `tool` (tcpstates' for an unknown name). */
export function defaultMetricsPort(tool: string): number {
  return tool === 'tcplife' ? DEFAULT_METRICS_PORTS.tcplife : DEFAULT_METRICS_PORTS.tcpstates;
}
