// SPDX-License-Identifier: MIT
// The page an exporter serves on `/`: its name and version and a link to
// /metrics, so that a person who opens the port in a browser (or a probe
// that checks `/`) finds where the metrics are.

/** The landing page's HTML for `tool` at `version` (both our own text). */
export function landingPage(tool: string, version: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${tool} exporter</title></head>
<body>
<h1>${tool} ${version}</h1>
<p>TCP ${tool === 'tcplife' ? 'session lifespans' : 'state transitions'} traced with eBPF, for Prometheus.</p>
<p><a href="/metrics">Metrics</a></p>
</body>
</html>
`;
}
