// SPDX-License-Identifier: MIT
// --metrics in the CLI: start the endpoint before anything is loaded (a port
// in use fails early, exit 1) and say where it listens on stderr (with port
// 0, the port picked).

import type { ExpositionFormat } from '../metrics/exposition.js';
import { startMetricsServer, type MetricsAddress, type MetricsServer } from '../metrics/server.js';
import type { Diagnostics } from '../io/diagnostics.js';

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
