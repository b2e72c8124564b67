// SPDX-License-Identifier: MIT
// --metrics in the CLI: check the privileges, then start the endpoint before
// anything is loaded (a port in use fails early, exit 1) and say where it
// listens on stderr (with port 0, the port picked); `/` is a landing page.
// What the endpoint's limits closed is counted in its exposition.

import { checkPrivileges } from '../bpf/preflight.js';
import type { ExpositionFormat } from '../metrics/exposition.js';
import { landingPage } from '../metrics/landing.js';
import { startMetricsServer, type MetricsAddress, type MetricsServer } from '../metrics/server.js';
import type { Diagnostics } from '../io/diagnostics.js';
import { packageVersion } from './version.js';

export async function openMetricsEndpoint(
  address: MetricsAddress | null,
  render: (format: ExpositionFormat) => string,
  diagnostics: Diagnostics,
): Promise<MetricsServer | null> {
  if (address === null) return null;
  // Not "serving metrics" from a tool that cannot trace.
  checkPrivileges(diagnostics.tool);
  const server = await startMetricsServer(address, render, { prefix: diagnostics.tool, landing: landingPage(diagnostics.tool, packageVersion()) });
  diagnostics.notice(`serving metrics on ${server.url}`, { metrics_port: server.port });
  return server;
}
