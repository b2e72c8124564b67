// SPDX-License-Identifier: MIT
// --metrics in the CLI: start the endpoint before anything is loaded (a port
// in use fails early, exit 1) and say where it listens on stderr (with port
// 0, the port picked).

import type { Aggregates } from '../decode/aggregates.js';
import type { ExpositionFormat } from '../metrics/exposition.js';
import { startMetricsServer, type MetricsAddress, type MetricsServer } from '../metrics/server.js';
import type { Diagnostics } from './diagnostics.js';

export async function openMetricsEndpoint(
  address: MetricsAddress | null,
  render: (format: ExpositionFormat) => string,
  diagnostics: Diagnostics,
): Promise<MetricsServer | null> {
  if (address === null) return null;
  const server = await startMetricsServer(address, render);
  diagnostics.notice(`serving metrics on ${server.url}`, { metrics_port: server.port });
  return server;
}

/** A scrape. When the kernel keeps the counts (in-kernel aggregation), they
 * are read from its maps first: the metrics are as of the scrape. */
export function renderMetrics(
  metrics: { load(aggregates: Aggregates): void; render(format: ExpositionFormat): string },
  kernel: { read(): Aggregates | null } | null,
  format: ExpositionFormat,
): string {
  const aggregates = kernel?.read() ?? null;
  if (aggregates !== null) metrics.load(aggregates);
  return metrics.render(format);
}
