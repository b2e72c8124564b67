// SPDX-License-Identifier: MIT
// The --metrics HTTP endpoint (node:http): GET /metrics renders the
// aggregates, in the format the Accept header asks for; anything else is 404
// (405 for another method on /metrics). It runs in the tracer's event loop,
// between ring reads, so nothing a client does may cost it much time or
// memory: a render is shared by the scrapes of a short interval (one Buffer,
// written to each), a connection has at most a few requests in flight (more,
// pipelined, and it is closed), there are at most so many connections (a new
// one closes the oldest idle one), and slow or idle clients time out. What
// these limits closed is counted in the exposition itself.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { TcpToolError, usageProblem, type Checked } from '../errors.js';
import { quoted } from '../quote.js';
import { CONTENT_TYPES, Exposition, negotiateFormat, type ExpositionFormat } from './exposition.js';

export interface MetricsAddress {
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
}

export const DEFAULT_METRICS_HOST = '127.0.0.1';

/** --metrics [HOST:]PORT, with an IPv6 HOST in brackets ([::1]:9100). */
export function parseMetricsAddress(text: string, optionName: string): Checked<MetricsAddress> {
  const trimmed = text.trim();
  // A host name is at most 253 characters of no space or control character.
  const match = /^(?:(\[[0-9A-Fa-f:.]{1,64}\]|[^:[\]\s\x00-\x1f\x7f-\x9f]{1,253}):)?(\d{1,10})$/.exec(trimmed);
  if (match === null) return usageProblem(`${optionName}: invalid address ${quoted(text)}: expected [HOST:]PORT`);
  const port = Number(match[2]);
  if (port > 65535) return usageProblem(`${optionName}: port ${match[2]} is out of range 0-65535`);
  const host = match[1] === undefined ? DEFAULT_METRICS_HOST : match[1].replace(/^\[|\]$/g, '');
  return { ok: true, value: { host, port } };
}

/** What one endpoint allows. A scraper (Prometheus, a curl) opens one
 * connection and sends one request at a time; these leave room for several
 * scrapers and nothing for a flood. */
export interface EndpointLimits {
  /** Connections held at once; a new one past it closes the oldest idle one. */
  readonly maxConnections: number;
  /** Requests of one connection received but not answered; one more closes it. */
  readonly maxRequestsInFlight: number;
  /** A render serves every scrape of this long after it. */
  readonly renderCacheMs: number;
  /** From a request's first byte to the end of its headers. */
  readonly headersTimeoutMs: number;
  /** From a request's first byte to its end. */
  readonly requestTimeoutMs: number;
  /** A connection with nothing sent or received for this long is closed
   * (and a kept-alive one this long after its last answer). */
  readonly idleTimeoutMs: number;
  /** Request line and headers together. */
  readonly maxHeaderBytes: number;
}

export const ENDPOINT_LIMITS: EndpointLimits = {
  maxConnections: 64,
  maxRequestsInFlight: 4,
  renderCacheMs: 100,
  headersTimeoutMs: 3000,
  requestTimeoutMs: 5000,
  idleTimeoutMs: 5000,
  maxHeaderBytes: 8192,
};

/** Why the endpoint closed a connection itself (the exposition's `reason`). */
export type ClosedReason = 'connection_limit' | 'pipelined' | 'timeout' | 'bad_request';
const CLOSED_REASONS: readonly ClosedReason[] = ['connection_limit', 'pipelined', 'timeout', 'bad_request'];

/** Counts of the endpoint's own work, in the exposition and the final report. */
export interface EndpointCounts {
  readonly closed: Record<ClosedReason, number>;
  renders: number;
}

/** The tool's exposition with the endpoint's counters appended (before
 * OpenMetrics' `# EOF`). Pure. */
export function withEndpointFamilies(body: string, format: ExpositionFormat, prefix: string, counts: EndpointCounts): string {
  const head = format === 'openmetrics' && body.endsWith('# EOF\n') ? body.slice(0, -'# EOF\n'.length) : body;
  const tail = new Exposition(format)
    .counter(
      `${prefix}_metrics_connections_closed_total`,
      'Connections to this endpoint it closed itself: past the connection limit, too many requests in flight, too slow, malformed.',
      CLOSED_REASONS.map((reason) => [[['reason', reason]], counts.closed[reason]] as const),
    )
    .counter(`${prefix}_metrics_renders_total`, 'Renders of this exposition (scrapes close together share one).', [[[], counts.renders]])
    .end();
  return head + tail;
}

export interface MetricsServer {
  /** The port listened on (the one picked, for port 0). */
  readonly port: number;
  readonly url: string;
  readonly counts: EndpointCounts;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  readonly optionName?: string;
  /** Names the endpoint's own counters: `<prefix>_metrics_...`. */
  readonly prefix?: string;
  readonly limits?: EndpointLimits;
}

const TEXT = 'text/plain; charset=utf-8';

/** Requests received on a socket and not answered yet. */
const inFlight = new WeakMap<Socket, number>();

/** Listens; rejects with a TcpToolError (exit 1) when it cannot. */
export function startMetricsServer(
  address: MetricsAddress,
  render: (format: ExpositionFormat) => string,
  options: MetricsServerOptions = {},
): Promise<MetricsServer> {
  const { optionName = '--metrics', prefix = 'tcpstates', limits = ENDPOINT_LIMITS } = options;
  const counts: EndpointCounts = { closed: { connection_limit: 0, pipelined: 0, timeout: 0, bad_request: 0 }, renders: 0 };
  const cache = new Map<ExpositionFormat, { body: Buffer; atMs: number }>();
  const bodyFor = (format: ExpositionFormat): Buffer => {
    const now = performance.now();
    const cached = cache.get(format);
    if (cached !== undefined && now - cached.atMs < limits.renderCacheMs) return cached.body;
    counts.renders++;
    const body = Buffer.from(withEndpointFamilies(render(format), format, prefix, counts));
    cache.set(format, { body, atMs: now });
    return body;
  };

  const server: Server = createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.idleTimeoutMs,
      // How often node checks the two timeouts above (30 s by default).
      connectionsCheckingInterval: Math.min(limits.headersTimeoutMs, 1000),
    },
    (request, response) => answer(request, response),
  );
  server.timeout = limits.idleTimeoutMs;
  server.maxHeadersCount = 64;

  // Insertion order is age: the first idle one is the oldest.
  const open = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    inFlight.set(socket, 0);
    if (open.size >= limits.maxConnections) {
      let idle: Socket | undefined;
      for (const held of open) {
        if (inFlight.get(held) === 0) {
          idle = held;
          break;
        }
      }
      counts.closed.connection_limit++;
      if (idle === undefined) {
        socket.destroy();
        return;
      }
      open.delete(idle);
      idle.destroy();
    }
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    counts.closed[timedOut ? 'timeout' : 'bad_request']++;
    const status = timedOut ? '408 Request Timeout' : error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroy();
  });

  function answer(request: IncomingMessage, response: ServerResponse): void {
    const socket = request.socket;
    if (socket.destroyed) return; // the rest of a pipelined burst, already refused
    const pending = (inFlight.get(socket) ?? 0) + 1;
    if (pending > limits.maxRequestsInFlight) {
      counts.closed.pipelined++;
      socket.destroy();
      return;
    }
    inFlight.set(socket, pending);
    response.once('close', () => inFlight.set(socket, (inFlight.get(socket) ?? 1) - 1));
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      response.writeHead(404, { 'Content-Type': TEXT }).end('not found: try /metrics\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': TEXT }).end('method not allowed\n');
      return;
    }
    const format = negotiateFormat(request.headers.accept);
    let body: Buffer;
    try {
      body = bodyFor(format);
    } catch (error) {
      response.writeHead(500, { 'Content-Type': TEXT }).end(`${(error as Error).message}\n`);
      return;
    }
    response.writeHead(200, { 'Content-Type': CONTENT_TYPES[format], 'Content-Length': body.length });
    response.end(request.method === 'HEAD' ? undefined : body);
  }

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
        counts,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
