// SPDX-License-Identifier: MIT
// The --metrics HTTP endpoint: GET /metrics renders the aggregates, in the
// format the Accept header asks for; GET / a landing page (landing.ts);
// anything else is 404 (405 for another method on /metrics). It runs in the
// tracer's event loop, between ring reads, so nothing a client does may cost
// it much time or memory. It is its own small HTTP/1.1 server on node:net
// rather than node:http, whose parser reads a whole pipelined burst (1,800
// requests in 61 KB: 45 ms of CPU, or 260 ms once the connection is closed)
// before anyone can refuse it. Here a render is shared by the scrapes of a
// short interval (one Buffer, written to each), a connection may have a few
// answers not yet handed to the kernel (a request past that closes it: a
// pipelined flood costs one search of the bytes), there are at most so many
// connections (a new one closes the oldest that has no answer pending), and
// slow or idle clients time out. What the limits closed is counted in the
// exposition.

import { createServer, type Server, type Socket } from 'node:net';
import { TcpToolError, usageProblem, type Checked } from '../errors.js';
import { quoted } from '../quote.js';
import { openFilesLimit } from '../sys/limits.js';
import { CONTENT_TYPES, Exposition, negotiateFormat, type ExpositionFormat } from './exposition.js';
import { parseRequestHead, responseHead, type RequestHead } from './http-request.js';

export interface MetricsAddress {
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
}

export const DEFAULT_METRICS_HOST = '127.0.0.1';

/** --metrics [HOST:]PORT, with an IPv6 HOST in brackets ([::1]:19440). */
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
  /** Connections held at once; a new one past it closes the oldest one that
   * has no answer pending. libuv (1.45 on) accepts one connection per loop
   * turn, and a scraper's request is read in the next, so a flood cannot make
   * it the oldest before it is answered. */
  readonly maxConnections: number;
  /** Connections the kernel completes and queues for accept (it caps this at
   * net.core.somaxconn). Past it the kernel drops a new SYN, and the client,
   * a scraper too, resends it only after 1 s: a flood that reconnects
   * whatever the cap closes must find room here. */
  readonly listenBacklog: number;
  /** Answers of one connection not yet handed to the kernel (its reader is
   * slow or gone); a request past it closes the connection. */
  readonly maxRequestsInFlight: number;
  /** A render serves every scrape of this long after it. */
  readonly renderCacheMs: number;
  /** From a request's first byte to the end of its head (a request has no body). */
  readonly headersTimeoutMs: number;
  /** A connection with nothing sent or received for this long is closed. */
  readonly idleTimeoutMs: number;
  /** Request line and headers together. */
  readonly maxHeaderBytes: number;
}

export const ENDPOINT_LIMITS: EndpointLimits = {
  maxConnections: 1024,
  listenBacklog: 4096,
  maxRequestsInFlight: 4,
  renderCacheMs: 100,
  headersTimeoutMs: 3000,
  idleTimeoutMs: 5000,
  maxHeaderBytes: 8192,
};

/** Descriptors kept for the tracer itself (perf rings, maps, stdio, the
 * journal) out of RLIMIT_NOFILE when it caps the connections. */
const RESERVED_FILES = 128;
/** The fewest connections the endpoint allows, whatever RLIMIT_NOFILE. */
const MIN_CONNECTIONS = 16;

/** The connection cap under RLIMIT_NOFILE's soft limit `openFiles`. */
export function connectionCap(limits: EndpointLimits, openFiles: number | null): number {
  if (openFiles === null) return limits.maxConnections;
  return Math.min(limits.maxConnections, Math.max(MIN_CONNECTIONS, openFiles - RESERVED_FILES));
}

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
  /** Connections held now. */
  readonly connections: number;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  readonly optionName?: string;
  /** Names the endpoint's own counters: `<prefix>_metrics_...`. */
  readonly prefix?: string;
  readonly limits?: EndpointLimits;
  /** The HTML page served on `/` (metrics/landing.ts); without it, 404. */
  readonly landing?: string;
}

const TEXT = 'text/plain; charset=utf-8';
const HTML = 'text/html; charset=utf-8';
const HEAD_END = Buffer.from('\r\n\r\n');

/** One client connection: the bytes of a request head not complete yet,
 * and the answers not yet handed to the kernel. */
interface Client {
  readonly socket: Socket;
  pending: Buffer | null;
  unflushed: number;
  headTimer: NodeJS.Timeout | null;
  /** Answered for the last time: what it sends is not read. */
  closing: boolean;
}

/** The endpoint's state and its answers: the shared render, the clients
 * held (insertion order is age), what the limits closed. */
class Endpoint {
  readonly counts: EndpointCounts = { closed: { connection_limit: 0, pipelined: 0, timeout: 0, bad_request: 0 }, renders: 0 };
  /** Insertion order is age: the first one without a pending answer is the oldest. */
  readonly clients = new Set<Client>();
  private readonly cache = new Map<ExpositionFormat, { body: Buffer; atMs: number }>();
  private readonly maxConnections: number;

  constructor(
    private readonly render: (format: ExpositionFormat) => string,
    private readonly prefix: string,
    private readonly limits: EndpointLimits,
    private readonly landing: Buffer | null,
  ) {
    this.maxConnections = connectionCap(limits, openFilesLimit());
  }

  /** The exposition in `format`, rendered at most once per renderCacheMs. */
  private bodyFor(format: ExpositionFormat): Buffer {
    const now = performance.now();
    const cached = this.cache.get(format);
    if (cached !== undefined && now - cached.atMs < this.limits.renderCacheMs) return cached.body;
    this.counts.renders++;
    const body = Buffer.from(withEndpointFamilies(this.render(format), format, this.prefix, this.counts));
    this.cache.set(format, { body, atMs: now });
    return body;
  }

  private stopReading(client: Client): void {
    client.closing = true;
    client.pending = null;
    if (client.headTimer !== null) clearTimeout(client.headTimer);
    client.headTimer = null;
  }

  drop(client: Client): void {
    this.stopReading(client);
    this.clients.delete(client);
    client.socket.destroy();
  }

  private send(client: Client, status: number, headers: Record<string, string | number>, body: Buffer | string | null, keepAlive: boolean): void {
    const { socket } = client;
    client.unflushed++;
    socket.cork();
    socket.write(responseHead(status, headers, keepAlive));
    socket.write(body ?? '', () => client.unflushed--);
    socket.uncork();
    // Closed once the answer is out, whether or not the client closes its side.
    if (!keepAlive) socket.end(() => socket.destroy());
  }

  private refuse(client: Client, status: number, reason: 'timeout' | 'bad_request'): void {
    this.counts.closed[reason]++;
    this.stopReading(client);
    this.send(client, status, { 'Content-Length': 0 }, null, false);
  }

  private answer(client: Client, request: RequestHead): void {
    const keepAlive = request.keepAlive && !request.hasBody;
    const plain = (status: number, text: string, extra: Record<string, string> = {}): void =>
      this.send(client, status, { ...extra, 'Content-Type': TEXT, 'Content-Length': Buffer.byteLength(text) }, text, keepAlive);
    const isRead = request.method === 'GET' || request.method === 'HEAD';
    if (request.path === '/' && this.landing !== null && isRead) {
      const headers = { 'Content-Type': HTML, 'Content-Length': this.landing.length };
      return this.send(client, 200, headers, request.method === 'HEAD' ? null : this.landing, keepAlive);
    }
    if (request.path !== '/metrics') return plain(404, 'not found: try /metrics\n');
    if (!isRead) return plain(405, 'method not allowed\n', { Allow: 'GET, HEAD' });
    if (request.hasBody) return plain(400, 'a scrape has no body\n');
    const format = negotiateFormat(request.accept);
    let body: Buffer;
    try {
      body = this.bodyFor(format);
    } catch (error) {
      return plain(500, `${(error as Error).message}\n`);
    }
    const headers = { 'Content-Type': CONTENT_TYPES[format], 'Content-Length': body.length };
    this.send(client, 200, headers, request.method === 'HEAD' ? null : body, request.keepAlive);
  }

  /** Answers every complete request head in what `client` sent. */
  private onData(client: Client, chunk: Buffer): void {
    if (client.closing) return;
    const data = client.pending === null ? chunk : Buffer.concat([client.pending, chunk]);
    let start = 0;
    for (;;) {
      const end = data.indexOf(HEAD_END, start);
      if (end < 0 || end - start > this.limits.maxHeaderBytes) break;
      if (client.unflushed >= this.limits.maxRequestsInFlight) {
        this.counts.closed.pipelined++;
        return this.drop(client);
      }
      const request = parseRequestHead(data.toString('latin1', start, end));
      start = end + HEAD_END.length;
      if (request === null) return this.refuse(client, 400, 'bad_request');
      this.answer(client, request);
      if (!request.keepAlive || request.hasBody) return this.stopReading(client);
    }
    this.keepRest(client, data, start);
  }

  /** Holds an incomplete request head (timed), or refuses one too large. */
  private keepRest(client: Client, data: Buffer, start: number): void {
    const rest = data.length - start;
    if (rest > this.limits.maxHeaderBytes) return this.refuse(client, 431, 'bad_request');
    // A copy: the rest must not hold on to a whole chunk.
    client.pending = rest === 0 ? null : Buffer.from(data.subarray(start));
    if (client.pending === null && client.headTimer !== null) {
      clearTimeout(client.headTimer);
      client.headTimer = null;
    } else if (client.pending !== null && client.headTimer === null) {
      client.headTimer = setTimeout(() => this.refuse(client, 408, 'timeout'), this.limits.headersTimeoutMs);
    }
  }

  /** A new connection: past the cap, the oldest one with no answer pending
   * makes room (or, if every one has, the new one is closed). */
  accept(socket: Socket): void {
    if (this.clients.size >= this.maxConnections) {
      this.counts.closed.connection_limit++;
      const oldest = [...this.clients].find((held) => held.unflushed === 0);
      if (oldest === undefined) {
        socket.destroy();
        return;
      }
      this.drop(oldest);
    }
    const client: Client = { socket, pending: null, unflushed: 0, headTimer: null, closing: false };
    this.clients.add(client);
    socket.setNoDelay(true);
    socket.setTimeout(this.limits.idleTimeoutMs, () => this.drop(client));
    socket.on('data', (chunk: Buffer) => this.onData(client, chunk));
    socket.on('error', () => this.drop(client));
    socket.on('close', () => this.drop(client));
    // The client is done sending: node ends our side once the answers are out.
    socket.on('end', () => this.stopReading(client));
  }
}

/** Listens; rejects with a TcpToolError (exit 1) when it cannot. */
export function startMetricsServer(
  address: MetricsAddress,
  render: (format: ExpositionFormat) => string,
  options: MetricsServerOptions = {},
): Promise<MetricsServer> {
  const { optionName = '--metrics', prefix = 'tcpstates', limits = ENDPOINT_LIMITS } = options;
  const endpoint = new Endpoint(render, prefix, limits, options.landing === undefined ? null : Buffer.from(options.landing));
  const server: Server = createServer((socket) => endpoint.accept(socket));
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const hostPort = address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
      reject(new TcpToolError(`${optionName}: cannot listen on ${hostPort}: ${error.code ?? error.message}`));
    });
    server.listen({ port: address.port, host: address.host, backlog: limits.listenBacklog }, () => {
      // From now on errors are a client's (EMFILE on accept: libuv closes it).
      server.on('error', () => {});
      const bound = server.address();
      const port = typeof bound === 'object' && bound !== null ? bound.port : address.port;
      const host = address.host.includes(':') ? `[${address.host}]` : address.host;
      server.unref();
      resolve({
        port,
        url: `http://${host}:${port}/metrics`,
        counts: endpoint.counts,
        get connections() {
          return endpoint.clients.size;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const client of [...endpoint.clients]) endpoint.drop(client);
            server.close(() => done());
          }),
      });
    });
  });
}
