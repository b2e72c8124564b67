// SPDX-License-Identifier: MIT
// The --metrics HTTP endpoint (node:http): GET /metrics renders the
// aggregates at scrape time, in the format the Accept header asks for;
// anything else is 404 (405 for another method on /metrics). It runs in the
// tracer's event loop, between ring reads: a scrape costs one render.

import { createServer, type Server } from 'node:http';
import { TcpToolError, usageProblem, type Checked } from '../errors.js';
import { CONTENT_TYPES, negotiateFormat, type ExpositionFormat } from './exposition.js';

export interface MetricsAddress {
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
}

export const DEFAULT_METRICS_HOST = '127.0.0.1';

/** --metrics [HOST:]PORT, with an IPv6 HOST in brackets ([::1]:9100); a
 * bad one is a usage problem. */
export function parseMetricsAddress(text: string, optionName: string): Checked<MetricsAddress> {
  const trimmed = text.trim();
  const match = /^(?:(\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+):)?(\d+)$/.exec(trimmed);
  if (match === null) return usageProblem(`${optionName}: invalid address "${text}": expected [HOST:]PORT`);
  const port = Number(match[2]);
  if (port > 65535) return usageProblem(`${optionName}: port ${match[2]} is out of range 0-65535`);
  const host = match[1] === undefined ? DEFAULT_METRICS_HOST : match[1].replace(/^\[|\]$/g, '');
  return { ok: true, value: { host, port } };
}

export interface MetricsServer {
  /** The port listened on (the one picked, for port 0). */
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/** Listens; rejects with a TcpToolError (exit 1) when it cannot. */
export function startMetricsServer(
  address: MetricsAddress,
  render: (format: ExpositionFormat) => string,
  optionName = '--metrics',
): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found: try /metrics\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    const format = negotiateFormat(request.headers.accept);
    let body: string;
    try {
      body = render(format);
    } catch (error) {
      response.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${(error as Error).message}\n`);
      return;
    }
    response.writeHead(200, { 'Content-Type': CONTENT_TYPES[format], 'Content-Length': Buffer.byteLength(body) });
    response.end(request.method === 'HEAD' ? undefined : body);
  });
  // A scraper that keeps its connection open must not hold up the exit.
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const hostPort = address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
      reject(new TcpToolError(`${optionName}: cannot listen on ${hostPort}: ${error.code ?? error.message}`));
    });
    server.listen(address.port, address.host, () => {
      const bound = server.address();
      const port = typeof bound === 'object' && bound !== null ? bound.port : address.port;
      const host = address.host.includes(':') ? `[${address.host}]` : address.host;
      server.unref();
      resolve({
        port,
        url: `http://${host}:${port}/metrics`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
